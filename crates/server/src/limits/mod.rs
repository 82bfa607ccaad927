//! Limits a server enforces across sessions: connection counts, transfer
//! rates, storage quotas and failed logins. Their state outlives configuration reloads.

mod autoban;
mod connections;
mod files;
mod quota;
mod rate;

pub use autoban::{Attempt, Ban, BanTarget, Failure, LoginGuard, LoginPolicy, Refused};
pub use connections::{Connections, Refusal, Slot, UserSlot};
pub use files::set_open_files;
pub(crate) use files::{Reserve, is_exhaustion};
pub use quota::{QuotaCharge, QuotaLimits, QuotaPlan, QuotaUsage, Quotas};
pub use rate::{Direction, RateLimit, Throttle, UserRates};

use std::net::{IpAddr, Ipv6Addr};

/// The host an address stands for in connection counts and bans: an IPv4
/// address itself, an IPv6 address by its /64 (one host usually holds a
/// whole /64, so counting single addresses would give it 2^64 tries).
pub(crate) fn host_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}
