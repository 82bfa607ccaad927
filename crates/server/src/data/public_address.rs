//! The address announced in `227` replies behind NAT: an IPv4 address, or a
//! host name (dynamic DNS) looked up at most once per interval. Clients on
//! private networks can be given the server's local address instead
//! (FileZilla's "don't use the external IP for local connections").

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// A configured public address and what it last resolved to.
#[derive(Debug)]
pub(crate) struct PublicAddress {
    name: String,
    interval: Duration,
    cached: Mutex<Option<(Ipv4Addr, Instant)>>,
}

impl PublicAddress {
    pub(crate) fn new(name: String, interval: Duration) -> Self {
        PublicAddress { name, interval, cached: Mutex::new(None) }
    }

    /// The address to announce, resolving the name if the last lookup is older
    /// than the interval. A failed lookup falls back to the last good answer.
    pub(crate) async fn get(&self) -> Option<Ipv4Addr> {
        self.get_with(|name| async move {
            tokio::net::lookup_host((name.as_str(), 0)).await.ok().and_then(|mut addrs| {
                addrs.find_map(|a| match a.ip() {
                    IpAddr::V4(v4) => Some(v4),
                    IpAddr::V6(_) => None,
                })
            })
        })
        .await
    }

    async fn get_with<F, Fut>(&self, lookup: F) -> Option<Ipv4Addr>
    where
        F: FnOnce(String) -> Fut,
        Fut: Future<Output = Option<Ipv4Addr>>,
    {
        if let Ok(ip) = self.name.parse::<Ipv4Addr>() {
            return Some(ip);
        }
        let last = *self.cached.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((ip, at)) = last
            && at.elapsed() < self.interval
        {
            return Some(ip);
        }
        match lookup(self.name.clone()).await {
            Some(ip) => {
                if last.map(|(old, _)| old) != Some(ip) {
                    tracing::info!(name = %self.name, %ip, "public address resolved");
                }
                *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((ip, Instant::now()));
                Some(ip)
            }
            None => {
                tracing::warn!(name = %self.name, "public address does not resolve to an IPv4 address");
                last.map(|(ip, _)| ip)
            }
        }
    }
}

/// True for addresses that do not cross the Internet: private (RFC 1918),
/// shared (RFC 6598), loopback, link-local, and IPv6 unique-local.
pub(crate) fn is_local_network(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn names_are_looked_up_at_most_once_per_interval() {
        let p = PublicAddress::new("ftp.example.com".into(), Duration::from_secs(60));
        let lookups = AtomicU32::new(0);
        let answer = |ip: Option<[u8; 4]>| {
            let lookups = &lookups;
            move |_name: String| async move {
                lookups.fetch_add(1, Ordering::Relaxed);
                ip.map(Ipv4Addr::from)
            }
        };
        assert_eq!(p.get_with(answer(Some([203, 0, 113, 1]))).await, Some(Ipv4Addr::new(203, 0, 113, 1)));
        assert_eq!(p.get_with(answer(Some([203, 0, 113, 2]))).await, Some(Ipv4Addr::new(203, 0, 113, 1)));
        assert_eq!(lookups.load(Ordering::Relaxed), 1);
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(p.get_with(answer(Some([203, 0, 113, 2]))).await, Some(Ipv4Addr::new(203, 0, 113, 2)));
        tokio::time::advance(Duration::from_secs(61)).await;
        // The name stops resolving: the last answer stays in use.
        assert_eq!(p.get_with(answer(None)).await, Some(Ipv4Addr::new(203, 0, 113, 2)));
        assert_eq!(lookups.load(Ordering::Relaxed), 3);
        let fixed = PublicAddress::new("198.51.100.9".into(), Duration::from_secs(60));
        assert_eq!(fixed.get_with(answer(None)).await, Some(Ipv4Addr::new(198, 51, 100, 9)));
    }

    #[test]
    fn local_networks() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.0.1",
        ] {
            assert!(is_local_network(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(!is_local_network(ip.parse().unwrap()), "{ip}");
        }
    }
}
