//! Brute-force protection (RFC 2577 §4): failed logins are delayed, more with
//! each failure from the same address, and too many failures in a window ban
//! the address, and separately the user name, for a while (as FileZilla
//! Server's autoban does).
//!
//! IPv6 addresses are counted by their /64 prefix: one host usually holds a
//! whole /64, so counting single addresses would let it try 2^64 times.

use ipnet::IpNet;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Records kept per kind (addresses, user names). Above this, records with no
/// recent failure and no ban are forgotten first, then the oldest.
const MAX_RECORDS: usize = 100_000;

/// How failed logins are answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPolicy {
    /// Delay before the reply to the first failed login from an address; it
    /// doubles with each further failure in the window.
    pub failure_delay: Duration,
    /// The delay grows up to this.
    pub max_failure_delay: Duration,
    /// Failures (from one address, or for one user name) within `ban_window`
    /// that ban it; 0 never bans.
    pub ban_after: u32,
    pub ban_window: Duration,
    pub ban_time: Duration,
    /// Addresses never delayed, counted or banned.
    pub exempt: Vec<IpNet>,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        LoginPolicy {
            failure_delay: Duration::from_secs(1),
            max_failure_delay: Duration::from_secs(8),
            ban_after: 10,
            ban_window: Duration::from_secs(600),
            ban_time: Duration::from_secs(3600),
            exempt: Vec::new(),
        }
    }
}

impl LoginPolicy {
    fn exempts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.exempt.iter().any(|n| n.contains(&ip))
    }
}

/// What is banned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BanTarget {
    /// An IPv4 address or an IPv6 /64.
    Address(IpNet),
    User(String),
}

impl BanTarget {
    /// The address's target: itself for IPv4, its /64 for IPv6.
    pub fn address(ip: IpAddr) -> Self {
        let net = match ip.to_canonical() {
            IpAddr::V4(v4) => IpNet::from(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpNet::new(IpAddr::V6(Ipv6Addr::from(prefix)), 64).unwrap_or_else(|_| IpNet::from(IpAddr::V6(v6)))
            }
        };
        BanTarget::Address(net)
    }

    /// Reads what `ferroftp bans --lift` is given: an address, a network as
    /// listed, `user:NAME`, or else a user name.
    pub fn parse(s: &str) -> Self {
        if let Some(name) = s.strip_prefix("user:") {
            return BanTarget::User(name.to_string());
        }
        if let Ok(ip) = s.parse::<IpAddr>() {
            return BanTarget::address(ip);
        }
        match s.parse::<IpNet>() {
            Ok(net) => BanTarget::Address(net),
            Err(_) => BanTarget::User(s.to_string()),
        }
    }
}

impl BanTarget {
    /// The form `ferroftp bans` lists and [`BanTarget::parse`] reads back:
    /// `192.0.2.1`, `2001:db8::/64`, `user:NAME`.
    pub fn as_arg(&self) -> String {
        match self {
            BanTarget::Address(net) if net.prefix_len() == net.max_prefix_len() => net.addr().to_string(),
            BanTarget::Address(net) => net.to_string(),
            BanTarget::User(u) => format!("user:{u}"),
        }
    }
}

impl fmt::Display for BanTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BanTarget::Address(net) if net.prefix_len() == net.max_prefix_len() => write!(f, "address {}", net.addr()),
            BanTarget::Address(net) => write!(f, "network {net}"),
            BanTarget::User(u) => write!(f, "user {u}"),
        }
    }
}

/// One ban in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    pub target: BanTarget,
    pub remaining: Duration,
    /// Failures that led to it.
    pub failures: usize,
}

/// What one failed login leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Wait this long before replying.
    pub delay: Duration,
    /// This failure banned the address.
    pub address_banned: bool,
    /// This failure banned the user name.
    pub user_banned: bool,
}

#[derive(Default)]
struct Record {
    failures: VecDeque<Instant>,
    banned_until: Option<Instant>,
}

impl Record {
    fn forget_before(&mut self, start: Instant) {
        while self.failures.front().is_some_and(|t| *t < start) {
            self.failures.pop_front();
        }
    }

    fn banned(&self, now: Instant) -> Option<Duration> {
        self.banned_until.filter(|u| *u > now).map(|u| u - now)
    }

    fn idle(&self, now: Instant, window: Duration) -> bool {
        self.banned(now).is_none() && self.failures.back().is_none_or(|t| now.saturating_duration_since(*t) > window)
    }

    fn last_event(&self) -> Option<Instant> {
        self.failures.back().copied().max(self.banned_until)
    }
}

/// Failed logins and bans, shared by all sessions and kept across reloads.
#[derive(Default)]
pub struct LoginGuard {
    records: Mutex<HashMap<BanTarget, Record>>,
}

impl LoginGuard {
    /// Time left on a ban of `ip`, if it is banned.
    pub fn address_ban(&self, ip: IpAddr, policy: &LoginPolicy) -> Option<Duration> {
        if policy.exempts(ip) {
            return None;
        }
        self.ban_of(&BanTarget::address(ip))
    }

    /// Time left on a ban of the user name, if it is banned. Names from
    /// exempt addresses are never refused.
    pub fn user_ban(&self, ip: IpAddr, user: &str, policy: &LoginPolicy) -> Option<Duration> {
        if policy.exempts(ip) {
            return None;
        }
        self.ban_of(&BanTarget::User(user.to_string()))
    }

    fn ban_of(&self, target: &BanTarget) -> Option<Duration> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.get(target).and_then(|r| r.banned(Instant::now()))
    }

    /// Counts a failed login of `user` from `ip`.
    pub fn failure(&self, ip: IpAddr, user: &str, policy: &LoginPolicy) -> Failure {
        let mut outcome = Failure { delay: Duration::ZERO, address_banned: false, user_banned: false };
        if policy.exempts(ip) {
            return outcome;
        }
        let now = Instant::now();
        let window_start = now.checked_sub(policy.ban_window).unwrap_or(now);
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if records.len() + 2 > 2 * MAX_RECORDS {
            make_room(&mut records, now, policy.ban_window);
        }
        for target in [BanTarget::address(ip), BanTarget::User(user.to_string())] {
            let is_address = matches!(target, BanTarget::Address(_));
            let record = records.entry(target).or_default();
            record.forget_before(window_start);
            record.failures.push_back(now);
            let count = record.failures.len();
            if is_address {
                let doublings = u32::try_from(count.saturating_sub(1)).unwrap_or(u32::MAX).min(16);
                outcome.delay = policy.failure_delay.saturating_mul(1 << doublings).min(policy.max_failure_delay);
            }
            if policy.ban_after > 0 && count >= policy.ban_after as usize && record.banned(now).is_none() {
                record.banned_until = Some(now + policy.ban_time);
                if is_address {
                    outcome.address_banned = true;
                } else {
                    outcome.user_banned = true;
                }
            }
        }
        outcome
    }

    /// The bans in force, longest remaining first.
    pub fn bans(&self) -> Vec<Ban> {
        let now = Instant::now();
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        let mut bans: Vec<Ban> = records
            .iter()
            .filter_map(|(target, r)| {
                r.banned(now).map(|remaining| Ban { target: target.clone(), remaining, failures: r.failures.len() })
            })
            .collect();
        bans.sort_by(|a, b| b.remaining.cmp(&a.remaining).then_with(|| a.target.cmp(&b.target)));
        bans
    }

    /// Lifts a ban and forgets the failures behind it. False if there was none.
    pub fn lift(&self, target: &BanTarget) -> bool {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.remove(target).is_some_and(|r| r.banned(Instant::now()).is_some())
    }
}

/// Forgets records that no longer matter, then, if the table is still full
/// (an attack from very many addresses), the quarter with the oldest events.
fn make_room(records: &mut HashMap<BanTarget, Record>, now: Instant, window: Duration) {
    records.retain(|_, r| !r.idle(now, window));
    if records.len() + 2 > 2 * MAX_RECORDS {
        let mut times: Vec<Instant> = records.values().filter_map(Record::last_event).collect();
        times.sort_unstable();
        let cut = times.get(times.len() / 4).copied();
        if let Some(cut) = cut {
            records.retain(|_, r| r.last_event().is_some_and(|t| t > cut));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LoginPolicy {
        LoginPolicy {
            failure_delay: Duration::from_millis(500),
            max_failure_delay: Duration::from_secs(3),
            ban_after: 4,
            ban_window: Duration::from_secs(60),
            ban_time: Duration::from_secs(600),
            exempt: vec!["10.0.0.0/8".parse().unwrap()],
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn delay_grows_then_address_and_user_are_banned_separately() {
        let guard = LoginGuard::default();
        let p = policy();
        let delays: Vec<u64> = (0..3)
            .map(|i| {
                let f = guard.failure(ip("192.0.2.1"), &format!("user{i}"), &p);
                assert!(!f.address_banned && !f.user_banned);
                f.delay.as_millis() as u64
            })
            .collect();
        assert_eq!(delays, [500, 1000, 2000]);
        let f = guard.failure(ip("192.0.2.1"), "user3", &p);
        assert_eq!(f.delay, Duration::from_secs(3), "capped");
        assert!(f.address_banned && !f.user_banned);
        assert!(guard.address_ban(ip("192.0.2.1"), &p).is_some());
        assert!(guard.address_ban(ip("192.0.2.2"), &p).is_none());
        assert!(guard.user_ban(ip("192.0.2.2"), "user3", &p).is_none());

        // One name tried from many addresses: the name is banned, the addresses are not.
        for i in 0..4 {
            let f = guard.failure(ip(&format!("198.51.100.{i}")), "root", &p);
            assert_eq!(f.delay, Duration::from_millis(500));
            assert_eq!(f.user_banned, i == 3);
        }
        assert!(guard.user_ban(ip("203.0.113.9"), "root", &p).is_some());
        assert!(guard.address_ban(ip("198.51.100.3"), &p).is_none());
        let listed: Vec<String> = guard.bans().iter().map(|b| b.target.to_string()).collect();
        assert_eq!(listed, ["address 192.0.2.1", "user root"]);

        // Bans end after ban_time; failures older than the window stop counting.
        tokio::time::advance(Duration::from_secs(601)).await;
        assert!(guard.address_ban(ip("192.0.2.1"), &p).is_none());
        assert!(guard.bans().is_empty());
        assert_eq!(guard.failure(ip("192.0.2.1"), "x", &p).delay, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn ipv6_counts_per_64_exempt_never_counts_and_bans_can_be_lifted() {
        let guard = LoginGuard::default();
        let p = policy();
        for i in 1..=4 {
            guard.failure(ip(&format!("2001:db8:1:2::{i}")), &format!("u{i}"), &p);
        }
        assert!(guard.address_ban(ip("2001:db8:1:2:ffff::1"), &p).is_some());
        assert!(guard.address_ban(ip("2001:db8:1:3::1"), &p).is_none());
        assert_eq!(guard.bans()[0].target.to_string(), "network 2001:db8:1:2::/64");
        assert!(guard.lift(&BanTarget::parse("2001:db8:1:2::77")));
        assert!(guard.address_ban(ip("2001:db8:1:2::1"), &p).is_none());
        assert!(!guard.lift(&BanTarget::parse("2001:db8:1:2::77")));

        for _ in 0..10 {
            let f = guard.failure(ip("10.1.2.3"), "admin", &p);
            assert_eq!(f, Failure { delay: Duration::ZERO, address_banned: false, user_banned: false });
        }
        assert!(guard.user_ban(ip("192.0.2.1"), "admin", &p).is_none());
        assert_eq!(BanTarget::parse("alice"), BanTarget::User("alice".into()));
        for t in [
            BanTarget::User("1.2.3.4".into()),
            BanTarget::address(ip("2001:db8::1")),
            BanTarget::address(ip("192.0.2.9")),
        ] {
            assert_eq!(BanTarget::parse(&t.as_arg()), t);
        }
        assert_eq!(BanTarget::parse("::ffff:192.0.2.1"), BanTarget::address(ip("192.0.2.1")));
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_stays_bounded_under_many_addresses() {
        let guard = LoginGuard::default();
        let p = LoginPolicy { ban_after: 0, ..policy() };
        for i in 0..(MAX_RECORDS as u32 + 10) {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0xC000_0000 + i));
            guard.failure(a, "x", &p);
            if i % 1000 == 0 {
                tokio::time::advance(Duration::from_secs(1)).await;
            }
        }
        let len = guard.records.lock().unwrap().len();
        assert!(len <= 2 * MAX_RECORDS, "{len}");
    }
}
