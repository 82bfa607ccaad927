//! Brute-force protection (RFC 2577 §4): failed logins are delayed, more with
//! each failure from the same address or for the same user name, and too many
//! failures from one address within a window ban the address for a while
//! (as FileZilla Server's autoban does).
//!
//! An attempt counts from the moment it is submitted, not when its password
//! check ends: a hundred guesses sent at once from one address get no more
//! checks than a hundred sent one after another (at most `ban_after`), and the
//! checks of one address for one user name run one at a time.
//!
//! User names are never banned: a ban on a name would let anyone lock its
//! owner out by guessing wrong ten times an hour. A name's failures slow down
//! further failures for that name instead, and the right password from an
//! address that is not banned always logs in.
//!
//! IPv6 addresses are counted by their /64 prefix: one host usually holds a
//! whole /64, so counting single addresses would let it try 2^64 times.

use ipnet::IpNet;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Records kept per kind (addresses, user names). Above this, records with no
/// recent failure and no ban are forgotten first, then the oldest.
const MAX_RECORDS: usize = 20_000;

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
        let host = super::host_of(ip);
        let prefix = if host.is_ipv6() { 64 } else { 32 };
        BanTarget::Address(IpNet::new(host, prefix).unwrap_or_else(|_| IpNet::from(host)))
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
}

/// Why a login attempt is refused before its password is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The address is banned for this long still.
    Banned(Duration),
    /// Failures and attempts still being checked from this address already
    /// reach `ban_after`: this one would go past it.
    TooManyAttempts,
    /// [`CHECKS_PER_NAME`] checks for this user name are running already
    /// (from as many addresses): one name cannot take every place in the
    /// queue of password checks, even with its right password.
    NameBusy,
}

/// Password checks of one user name in flight at once, from all addresses.
pub const CHECKS_PER_NAME: u32 = 8;

/// The longest user name kept as it is in the table; longer ones are kept
/// by their first bytes (a table of names sent by attackers stays small).
const NAME_KEPT: usize = 64;

/// The table's key for a user name.
fn name_key(user: &str) -> BanTarget {
    let mut end = user.len().min(NAME_KEPT);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    BanTarget::User(user[..end].to_string())
}

#[derive(Default)]
struct Record {
    failures: VecDeque<Instant>,
    banned_until: Option<Instant>,
    /// Attempts submitted and not yet decided.
    pending: u32,
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
        self.pending == 0
            && self.banned(now).is_none()
            && self.failures.back().is_none_or(|t| now.saturating_duration_since(*t) > window)
    }

    fn last_event(&self) -> Option<Instant> {
        self.failures.back().copied().max(self.banned_until)
    }
}

/// The delay after the `count`th failure in the window: `failure_delay`,
/// doubling with each further failure, up to `max_failure_delay`.
fn delay_after(count: usize, policy: &LoginPolicy) -> Duration {
    let doublings = u32::try_from(count.saturating_sub(1)).unwrap_or(u32::MAX).min(16);
    policy.failure_delay.saturating_mul(1 << doublings).min(policy.max_failure_delay)
}

/// Whose password checks take turns: one address (or /64) and one user name.
type TurnKey = (BanTarget, String);

/// Failed logins and bans, shared by all sessions and kept across reloads.
#[derive(Default)]
pub struct LoginGuard {
    records: Mutex<HashMap<BanTarget, Record>>,
    /// One password check at a time per address and user name; the others wait.
    turns: Mutex<HashMap<TurnKey, Arc<tokio::sync::Semaphore>>>,
}

impl LoginGuard {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BanTarget, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Time left on a ban of `ip`, if it is banned.
    pub fn address_ban(&self, ip: IpAddr, policy: &LoginPolicy) -> Option<Duration> {
        if policy.exempts(ip) {
            return None;
        }
        self.lock().get(&BanTarget::address(ip)).and_then(|r| r.banned(Instant::now()))
    }

    /// Registers a login of `user` from `ip`, refused at once if the address
    /// is banned. It counts towards the address's limit once its check starts
    /// ([`Attempt::wait_turn`]).
    pub fn begin(self: &Arc<Self>, ip: IpAddr, user: &str, policy: &LoginPolicy) -> Result<Attempt, Refused> {
        let exempt = policy.exempts(ip);
        if !exempt && let Some(left) = self.address_ban(ip, policy) {
            return Err(Refused::Banned(left));
        }
        Ok(Attempt {
            guard: Arc::clone(self),
            address: BanTarget::address(ip),
            user: user.to_string(),
            exempt,
            counted: false,
            turn: None,
        })
    }

    /// Counts `attempt` as in flight unless the address is banned or its
    /// failures and attempts in flight already reach `ban_after`.
    fn start(&self, attempt: &Attempt, policy: &LoginPolicy) -> Result<(), Refused> {
        let now = Instant::now();
        let window_start = now.checked_sub(policy.ban_window).unwrap_or(now);
        let mut records = self.lock();
        if records.len() + 2 > 2 * MAX_RECORDS {
            make_room(&mut records, now, policy.ban_window);
        }
        let record = records.entry(attempt.address.clone()).or_default();
        if let Some(left) = record.banned(now) {
            return Err(Refused::Banned(left));
        }
        record.forget_before(window_start);
        let counted = record.failures.len() + record.pending as usize;
        if policy.ban_after > 0 && counted >= policy.ban_after as usize {
            return Err(Refused::TooManyAttempts);
        }
        let name = records.entry(name_key(&attempt.user)).or_default();
        if name.pending >= CHECKS_PER_NAME {
            return Err(Refused::NameBusy);
        }
        name.pending += 1;
        if let Some(record) = records.get_mut(&attempt.address) {
            record.pending += 1;
        }
        Ok(())
    }

    /// The bans in force, longest remaining first.
    pub fn bans(&self) -> Vec<Ban> {
        let now = Instant::now();
        let records = self.lock();
        let mut bans: Vec<Ban> = records
            .iter()
            .filter_map(|(target, r)| {
                r.banned(now).map(|remaining| Ban { target: target.clone(), remaining, failures: r.failures.len() })
            })
            .collect();
        bans.sort_by(|a, b| b.remaining.cmp(&a.remaining).then_with(|| a.target.cmp(&b.target)));
        bans
    }

    /// Lifts an address's ban, or forgets a user name's failures (ending the
    /// delays they cause), and the failures behind it. False if there was
    /// nothing to lift.
    pub fn lift(&self, target: &BanTarget) -> bool {
        let now = Instant::now();
        let target = &match target {
            BanTarget::User(name) => name_key(name),
            other => other.clone(),
        };
        let mut records = self.lock();
        let Some(record) = records.get_mut(target) else { return false };
        let lifted = match target {
            BanTarget::Address(_) => record.banned(now).is_some(),
            BanTarget::User(_) => !record.failures.is_empty(),
        };
        record.failures.clear();
        record.banned_until = None;
        if record.pending == 0 {
            records.remove(target);
        }
        lifted
    }

    /// Counts a failure of `attempt`; its place in flight, if it had one,
    /// becomes the failure.
    fn fail(&self, attempt: &Attempt, policy: &LoginPolicy) -> Failure {
        let mut outcome = Failure { delay: Duration::ZERO, address_banned: false };
        let now = Instant::now();
        let window_start = now.checked_sub(policy.ban_window).unwrap_or(now);
        let mut records = self.lock();
        if attempt.counted {
            for target in [&attempt.address, &name_key(&attempt.user)] {
                if let Some(r) = records.get_mut(target) {
                    r.pending = r.pending.saturating_sub(1);
                }
            }
        }
        for target in [attempt.address.clone(), name_key(&attempt.user)] {
            let is_address = matches!(target, BanTarget::Address(_));
            let record = records.entry(target).or_default();
            record.forget_before(window_start);
            record.failures.push_back(now);
            let count = record.failures.len();
            outcome.delay = outcome.delay.max(delay_after(count, policy));
            if is_address && policy.ban_after > 0 && count >= policy.ban_after as usize && record.banned(now).is_none()
            {
                record.banned_until = Some(now + policy.ban_time);
                outcome.address_banned = true;
            }
        }
        outcome
    }

    /// Gives back an attempt's place in flight (it succeeded, or ended unchecked).
    fn release(&self, attempt: &Attempt) {
        let mut records = self.lock();
        for target in [&attempt.address, &name_key(&attempt.user)] {
            if let Some(r) = records.get_mut(target) {
                r.pending = r.pending.saturating_sub(1);
            }
        }
    }

    fn turn_of(&self, key: &TurnKey) -> Arc<tokio::sync::Semaphore> {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(turns.entry(key.clone()).or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(1))))
    }

    /// Forgets the turn of `key` once nobody holds or waits for it.
    fn end_turn(&self, key: &TurnKey) {
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        if turns.get(key).is_some_and(|s| Arc::strong_count(s) == 1) {
            turns.remove(key);
        }
    }
}

/// One login attempt: counted as in flight from the start of its check until
/// it is decided.
pub struct Attempt {
    guard: Arc<LoginGuard>,
    address: BanTarget,
    user: String,
    /// From an exempt network: not counted, never delayed.
    exempt: bool,
    /// Counted as in flight for its address.
    counted: bool,
    /// Held while this attempt's password is checked and its failure delay runs.
    turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Attempt {
    /// Waits until no other check for this address and user name is running
    /// (or waiting out its failure delay), then counts this one as in flight:
    /// guesses sent together are checked one after another, each after the
    /// delay its predecessor earned, and no more run at once from one address
    /// than its failures leave room for under `ban_after`. Refused when the
    /// address is banned meanwhile or has no room left.
    pub async fn wait_turn(&mut self, policy: &LoginPolicy) -> Result<(), Refused> {
        if self.exempt || self.counted {
            return Ok(());
        }
        if self.turn.is_none() {
            let key = (self.address.clone(), self.user.clone());
            let semaphore = self.guard.turn_of(&key);
            self.turn = semaphore.acquire_owned().await.ok();
        }
        self.guard.start(self, policy)?;
        self.counted = true;
        Ok(())
    }

    /// The password was right (or the attempt ended without a verdict, such as
    /// an account whose folders cannot be opened): nothing is counted.
    pub fn succeeded(mut self) {
        self.release();
    }

    /// The login failed: counts it for the address and the user name and says
    /// how long to wait before replying and whether the address is now banned.
    /// Keep the attempt until the delay is over: the next guess for the same
    /// name from the same address waits for it.
    pub fn failed(&mut self, policy: &LoginPolicy) -> Failure {
        if self.exempt {
            return Failure { delay: Duration::ZERO, address_banned: false };
        }
        let failure = self.guard.fail(self, policy);
        self.counted = false;
        failure
    }

    fn release(&mut self) {
        if self.counted {
            self.guard.release(self);
            self.counted = false;
        }
    }
}

impl Drop for Attempt {
    fn drop(&mut self) {
        self.release();
        if self.turn.take().is_some() {
            self.guard.end_turn(&(self.address.clone(), self.user.clone()));
        }
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

    /// One whole failed attempt: submitted, checked, failed.
    async fn fail(guard: &Arc<LoginGuard>, from: &str, user: &str, p: &LoginPolicy) -> Result<Failure, Refused> {
        let mut attempt = guard.begin(ip(from), user, p)?;
        attempt.wait_turn(p).await?;
        Ok(attempt.failed(p))
    }

    #[tokio::test(start_paused = true)]
    async fn delay_grows_then_the_address_is_banned() {
        let guard = Arc::new(LoginGuard::default());
        let p = policy();
        let mut delays = Vec::new();
        for i in 0..3 {
            let f = fail(&guard, "192.0.2.1", &format!("user{i}"), &p).await.unwrap();
            assert!(!f.address_banned);
            delays.push(f.delay.as_millis() as u64);
        }
        assert_eq!(delays, [500, 1000, 2000]);
        let f = fail(&guard, "192.0.2.1", "user3", &p).await.unwrap();
        assert_eq!(f.delay, Duration::from_secs(3), "capped");
        assert!(f.address_banned);
        assert!(guard.address_ban(ip("192.0.2.1"), &p).is_some());
        assert!(matches!(guard.begin(ip("192.0.2.1"), "x", &p), Err(Refused::Banned(_))));
        assert!(guard.address_ban(ip("192.0.2.2"), &p).is_none());

        // Bans end after ban_time; failures older than the window stop counting.
        tokio::time::advance(Duration::from_secs(601)).await;
        assert!(guard.address_ban(ip("192.0.2.1"), &p).is_none());
        assert!(guard.bans().is_empty());
        assert_eq!(fail(&guard, "192.0.2.1", "x", &p).await.unwrap().delay, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_name_is_never_banned_but_its_failures_slow_down() {
        let guard = Arc::new(LoginGuard::default());
        let p = policy();
        // One name tried from many addresses: each address is new, but the
        // name's own count makes every failure wait longer.
        let mut delays = Vec::new();
        for i in 0..6 {
            delays.push(fail(&guard, &format!("198.51.100.{i}"), "root", &p).await.unwrap().delay.as_millis() as u64);
        }
        assert_eq!(delays, [500, 1000, 2000, 3000, 3000, 3000]);
        assert!(guard.bans().is_empty(), "no ban on a name: {:?}", guard.bans());
        // The owner, from an address that is not banned, still gets to log in.
        let owner = guard.begin(ip("203.0.113.9"), "root", &p).unwrap();
        owner.succeeded();
        // Lifting the name forgets its failures.
        assert!(guard.lift(&BanTarget::User("root".into())));
        assert_eq!(fail(&guard, "203.0.113.10", "root", &p).await.unwrap().delay, Duration::from_millis(500));
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_count_while_in_flight() {
        let guard = Arc::new(LoginGuard::default());
        let p = policy();
        // A burst from one address, each for another name so that none waits
        // for another: only ban_after are checked while none is decided yet.
        let mut admitted = Vec::new();
        let mut refused = 0;
        for i in 0..100 {
            let mut a = guard.begin(ip("192.0.2.7"), &format!("u{i}"), &p).unwrap();
            match a.wait_turn(&p).await {
                Ok(()) => admitted.push(a),
                Err(Refused::TooManyAttempts) => refused += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!((admitted.len(), refused), (4, 96));
        // One succeeds: its place is free again.
        admitted.pop().unwrap().succeeded();
        let mut again = guard.begin(ip("192.0.2.7"), "u999", &p).unwrap();
        again.wait_turn(&p).await.unwrap();
        admitted.push(again);
        // All fail: the last one bans the address, and nothing more starts.
        let banned: Vec<bool> = admitted.iter_mut().map(|a| a.failed(&p).address_banned).collect();
        assert_eq!(banned, [false, false, false, true]);
        drop(admitted);
        assert!(matches!(guard.begin(ip("192.0.2.7"), "u0", &p), Err(Refused::Banned(_))));
        // Attempts dropped undecided (the client left) give their place back.
        let mut other = guard.begin(ip("192.0.2.8"), "a", &p).unwrap();
        other.wait_turn(&p).await.unwrap();
        drop(other);
        let records = guard.records.lock().unwrap();
        assert_eq!(records.get(&BanTarget::address(ip("192.0.2.8"))).map(|r| r.pending), Some(0));
    }

    #[tokio::test(start_paused = true)]
    async fn one_name_has_at_most_its_share_of_checks_in_flight() {
        let guard = Arc::new(LoginGuard::default());
        let p = policy();
        let mut running = Vec::new();
        for i in 0..CHECKS_PER_NAME {
            let mut a = guard.begin(ip(&format!("198.51.100.{i}")), "sam", &p).unwrap();
            a.wait_turn(&p).await.unwrap();
            running.push(a);
        }
        let mut one_more = guard.begin(ip("203.0.113.1"), "sam", &p).unwrap();
        assert_eq!(one_more.wait_turn(&p).await, Err(Refused::NameBusy));
        let mut other = guard.begin(ip("203.0.113.1"), "alice", &p).unwrap();
        other.wait_turn(&p).await.unwrap();
        running.pop().unwrap().succeeded();
        let mut now_in = guard.begin(ip("203.0.113.2"), "sam", &p).unwrap();
        now_in.wait_turn(&p).await.unwrap();
        // Long names are kept by their first bytes.
        let long = "x".repeat(10_000);
        fail(&guard, "192.0.2.50", &long, &p).await.unwrap();
        assert!(guard.records.lock().unwrap().keys().all(|k| match k {
            BanTarget::User(u) => u.len() <= 64,
            BanTarget::Address(_) => true,
        }));
    }

    #[tokio::test(start_paused = true)]
    async fn checks_of_one_address_and_name_take_turns() {
        let guard = Arc::new(LoginGuard::default());
        let p = policy();
        let mut first = guard.begin(ip("192.0.2.1"), "alice", &p).unwrap();
        first.wait_turn(&p).await.unwrap();
        let mut second = guard.begin(ip("192.0.2.1"), "alice", &p).unwrap();
        let mut other_name = guard.begin(ip("192.0.2.1"), "bob", &p).unwrap();
        other_name.wait_turn(&p).await.unwrap(); // another name does not wait
        let policy = p.clone();
        let waiting = tokio::spawn(async move {
            second.wait_turn(&policy).await.unwrap();
            second
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "two checks for one address and name at once");
        let _ = first.failed(&p);
        drop(first);
        let second = waiting.await.unwrap();
        drop((second, other_name));
        assert!(guard.turns.lock().unwrap().is_empty(), "turns are forgotten when unused");
    }

    #[tokio::test(start_paused = true)]
    async fn ipv6_counts_per_64_exempt_never_counts_and_bans_can_be_lifted() {
        let guard = Arc::new(LoginGuard::default());
        let p = policy();
        for i in 1..=4 {
            fail(&guard, &format!("2001:db8:1:2::{i}"), &format!("u{i}"), &p).await.unwrap();
        }
        assert!(guard.address_ban(ip("2001:db8:1:2:ffff::1"), &p).is_some());
        assert!(guard.address_ban(ip("2001:db8:1:3::1"), &p).is_none());
        assert_eq!(guard.bans()[0].target.to_string(), "network 2001:db8:1:2::/64");
        assert!(guard.lift(&BanTarget::parse("2001:db8:1:2::77")));
        assert!(guard.address_ban(ip("2001:db8:1:2::1"), &p).is_none());
        assert!(!guard.lift(&BanTarget::parse("2001:db8:1:2::77")));

        for _ in 0..10 {
            let f = fail(&guard, "10.1.2.3", "admin", &p).await.unwrap();
            assert_eq!(f, Failure { delay: Duration::ZERO, address_banned: false });
        }
        assert_eq!(fail(&guard, "192.0.2.1", "admin", &p).await.unwrap().delay, Duration::from_millis(500));
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
        let guard = Arc::new(LoginGuard::default());
        let p = LoginPolicy { ban_after: 0, ..policy() };
        for i in 0..(MAX_RECORDS as u32 + 10) {
            let a = IpAddr::V4(std::net::Ipv4Addr::from(0xC000_0000 + i));
            fail(&guard, &a.to_string(), "x", &p).await.unwrap();
            if i % 1000 == 0 {
                tokio::time::advance(Duration::from_secs(1)).await;
            }
        }
        let len = guard.records.lock().unwrap().len();
        assert!(len <= 2 * MAX_RECORDS, "{len}");
    }
}
