//! Limits a server enforces across sessions: connection counts, transfer
//! rates and storage quotas. Their state outlives configuration reloads.

mod connections;
mod quota;
mod rate;

pub use connections::{Connections, Refusal, Slot, UserSlot};
pub use quota::{QuotaCharge, QuotaLimits, QuotaUsage, Quotas};
pub use rate::{Direction, RateLimit, Throttle, UserRates};
