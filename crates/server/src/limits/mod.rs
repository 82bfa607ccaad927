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
