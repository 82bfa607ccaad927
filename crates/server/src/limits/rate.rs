//! Transfer rate limits: token buckets (the governor crate's GCRA) counted in
//! 256-byte cells, one bucket per user and direction, shared by all of that
//! user's transfers, and one per direction for the whole server.
//!
//! Fairness: a transfer waits for its turn on a FIFO queue (tokio's mutex is
//! fair) before it waits for tokens, so concurrent transfers of one user take
//! turns chunk by chunk and share the rate evenly.

use governor::clock::{Clock, DefaultClock};
use governor::{Quota, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// Bytes per token.
const CELL: u64 = 256;

type Bucket = RateLimiter<governor::state::NotKeyed, governor::state::InMemoryState, DefaultClock>;

/// One rate limit, shared by the transfers it applies to.
pub struct RateLimit {
    bucket: Bucket,
    clock: DefaultClock,
    bytes_per_second: u64,
    /// The largest amount one request may take: a 20th of a second's worth,
    /// so a transfer never runs ahead of the rate by more than that.
    burst_bytes: usize,
    turn: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").field("bytes_per_second", &self.bytes_per_second).finish()
    }
}

impl RateLimit {
    pub fn new(bytes_per_second: u64) -> Arc<Self> {
        let cells_per_second = (bytes_per_second / CELL).clamp(1, u64::from(u32::MAX));
        let burst_cells = (cells_per_second / 20).clamp(16, u64::from(u32::MAX));
        let period = Duration::from_nanos((1_000_000_000 / cells_per_second).max(1));
        let burst = NonZeroU32::new(u32::try_from(burst_cells).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN)).allow_burst(burst);
        let clock = DefaultClock::default();
        Arc::new(RateLimit {
            bucket: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
            bytes_per_second,
            burst_bytes: usize::try_from(burst_cells * CELL).unwrap_or(usize::MAX),
            turn: tokio::sync::Mutex::new(()),
        })
    }

    pub fn bytes_per_second(&self) -> u64 {
        self.bytes_per_second
    }

    /// The most bytes to move between two calls of [`take`](Self::take).
    pub fn chunk(&self) -> usize {
        self.burst_bytes
    }

    /// Waits until `bytes` (at most [`chunk`](Self::chunk)) may be moved.
    pub async fn take(&self, bytes: usize) {
        let cells = (bytes as u64).div_ceil(CELL).clamp(1, self.burst_bytes as u64 / CELL);
        let Some(n) = NonZeroU32::new(u32::try_from(cells).unwrap_or(u32::MAX)) else { return };
        let _turn = self.turn.lock().await;
        loop {
            match self.bucket.check_n(n) {
                Ok(Ok(())) => return,
                Ok(Err(not_until)) => tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await,
                // More than the burst: cannot happen after the clamp above.
                Err(_) => return,
            }
        }
    }
}

/// The limits a transfer obeys (its user's and the server's).
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    limits: Vec<Arc<RateLimit>>,
}

impl Throttle {
    pub fn new(limits: impl IntoIterator<Item = Arc<RateLimit>>) -> Self {
        Throttle { limits: limits.into_iter().collect() }
    }

    pub fn is_unlimited(&self) -> bool {
        self.limits.is_empty()
    }

    /// The largest piece to move at once.
    pub fn chunk(&self) -> usize {
        self.limits.iter().map(|l| l.chunk()).min().unwrap_or(usize::MAX)
    }

    /// Waits until every limit allows `bytes` (at most [`chunk`](Self::chunk)).
    pub async fn take(&self, bytes: usize) {
        for l in &self.limits {
            l.take(bytes).await;
        }
    }
}

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Download,
    Upload,
}

/// Per-user limits, found by user name so all of a user's sessions share one.
#[derive(Debug, Default)]
pub struct UserRates {
    map: Mutex<HashMap<(String, Direction), Weak<RateLimit>>>,
}

impl UserRates {
    /// The shared limit of `user` in `direction` at `bytes_per_second` (a new
    /// one if the configured rate changed).
    pub fn get(&self, user: &str, direction: Direction, bytes_per_second: u64) -> Arc<RateLimit> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        let key = (user.to_string(), direction);
        if let Some(l) = map.get(&key).and_then(Weak::upgrade)
            && l.bytes_per_second() == bytes_per_second
        {
            return l;
        }
        let l = RateLimit::new(bytes_per_second);
        map.insert(key, Arc::downgrade(&l));
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_are_a_twentieth_of_a_second() {
        // 4 MiB/s = 16,384 cells of 256 bytes per second; a 20th is 819 cells.
        assert_eq!(RateLimit::new(4 << 20).chunk(), 819 * 256);
        // Slow limits still move at least 16 cells at a time.
        assert_eq!(RateLimit::new(1000).chunk(), 16 * 256);
        assert_eq!(Throttle::new([RateLimit::new(4 << 20), RateLimit::new(1 << 20)]).chunk(), 204 * 256);
        assert!(Throttle::default().is_unlimited());
    }

    #[test]
    fn users_share_one_limit_per_direction() {
        let rates = UserRates::default();
        let a = rates.get("u", Direction::Download, 1000);
        let b = rates.get("u", Direction::Download, 1000);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &rates.get("u", Direction::Upload, 1000)));
        assert!(!Arc::ptr_eq(&a, &rates.get("v", Direction::Download, 1000)));
        assert!(!Arc::ptr_eq(&a, &rates.get("u", Direction::Download, 2000)));
    }
}
