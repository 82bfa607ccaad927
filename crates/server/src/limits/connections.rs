//! Connection limits: sessions in all, per address and per user. A refused
//! client is told which limit it hit (421 before login, 530 at login); nobody
//! is dropped without a reply.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Session counts, shared by every session of a server.
#[derive(Debug, Default)]
pub struct Connections {
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: u32,
    per_ip: HashMap<IpAddr, u32>,
    per_user: HashMap<String, u32>,
}

/// Why a session was not admitted; the text names the limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Too many connections: the server allows {0} at a time; try again later.")]
    Total(u32),
    #[error("Too many connections from your address: {0} allowed at a time.")]
    PerIp(u32),
    #[error("Too many sessions for user {user}: {limit} allowed at a time.")]
    PerUser { user: String, limit: u32 },
    #[error("Your address is not allowed to connect.")]
    Address,
}

/// A place taken by an open session; given back when dropped.
#[derive(Debug)]
pub struct Slot {
    owner: Arc<Connections>,
    ip: IpAddr,
}

/// A place taken by a logged-in user; given back when dropped.
#[derive(Debug)]
pub struct UserSlot {
    owner: Arc<Connections>,
    user: String,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new session from `ip` unless a limit is reached. IPv6
    /// addresses count by their /64, as for bans: one host usually holds a
    /// whole /64.
    pub fn admit(self: &Arc<Self>, ip: IpAddr, total: Option<u32>, per_ip: Option<u32>) -> Result<Slot, Refusal> {
        let ip = super::host_of(ip);
        let mut c = self.lock();
        if let Some(max) = total
            && c.total >= max
        {
            return Err(Refusal::Total(max));
        }
        let from_ip = c.per_ip.get(&ip).copied().unwrap_or(0);
        if let Some(max) = per_ip
            && from_ip >= max
        {
            return Err(Refusal::PerIp(max));
        }
        c.total += 1;
        c.per_ip.insert(ip, from_ip + 1);
        Ok(Slot { owner: Arc::clone(self), ip })
    }

    /// Admits a login of `user` unless they have `limit` sessions already.
    pub fn login(self: &Arc<Self>, user: &str, limit: Option<u32>) -> Result<UserSlot, Refusal> {
        let mut c = self.lock();
        let now = c.per_user.get(user).copied().unwrap_or(0);
        if let Some(max) = limit
            && now >= max
        {
            return Err(Refusal::PerUser { user: user.to_string(), limit: max });
        }
        c.per_user.insert(user.to_string(), now + 1);
        Ok(UserSlot { owner: Arc::clone(self), user: user.to_string() })
    }

    /// Open sessions in all.
    pub fn total(&self) -> u32 {
        self.lock().total
    }
}

fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, u32>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.owner.lock();
        c.total = c.total.saturating_sub(1);
        release(&mut c.per_ip, &self.ip);
    }
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        let mut c = self.owner.lock();
        release(&mut c.per_user, &self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_and_release() {
        let c = Arc::new(Connections::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        let s1 = c.admit(a, Some(3), Some(2)).unwrap();
        let _s2 = c.admit(a, Some(3), Some(2)).unwrap();
        assert_eq!(c.admit(a, Some(3), Some(2)).unwrap_err(), Refusal::PerIp(2));
        let _s3 = c.admit(b, Some(3), Some(2)).unwrap();
        assert_eq!(c.admit(b, Some(3), Some(2)).unwrap_err(), Refusal::Total(3));
        // IPv6: one /64 is one address.
        let c6 = Arc::new(Connections::default());
        let _v1 = c6.admit("2001:db8:1:2::1".parse().unwrap(), None, Some(2)).unwrap();
        let _v2 = c6.admit("2001:db8:1:2::ffff".parse().unwrap(), None, Some(2)).unwrap();
        assert_eq!(c6.admit("2001:db8:1:2:3::9".parse().unwrap(), None, Some(2)).unwrap_err(), Refusal::PerIp(2));
        assert!(c6.admit("2001:db8:1:3::1".parse().unwrap(), None, Some(2)).is_ok());
        drop(s1);
        assert!(c.admit(a, Some(3), Some(2)).is_ok());
        let u1 = c.login("alice", Some(1)).unwrap();
        assert!(matches!(c.login("alice", Some(1)), Err(Refusal::PerUser { limit: 1, .. })));
        drop(u1);
        assert!(c.login("alice", Some(1)).is_ok());
    }
}
