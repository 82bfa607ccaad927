//! Password checks: argon2 verifications on a small, fixed pool of threads.
//!
//! An argon2id check with the parameters `ferroftp passwd` uses (m = 19 MiB)
//! needs 19 MiB of working memory. Run on Tokio's blocking pool, one per
//! login, a burst of a few hundred logins (or of wrong guesses, or of unknown
//! names, which get a dummy check of the same cost) took gigabytes, and the
//! allocator kept them afterwards. Here:
//!
//! - a few worker threads (as many as cores, at most [`MAX_WORKERS`]) run the
//!   checks, each in its own working memory, allocated once and reused: peak
//!   memory is `workers × m` whatever arrives;
//! - a worker gives its memory back after [`IDLE_RELEASE`] without work;
//! - checks wait in a queue bounded in length, and in how many one network
//!   may have waiting (an IPv4 /24, an IPv6 /48: what one attacker usually
//!   holds); networks take turns, so a flood from one delays the others by
//!   one check per round at most;
//! - when the queue is full, a network with fewer checks waiting than the
//!   busiest one still gets in: the busiest gives up its latest check. To
//!   keep newcomers out, an attacker needs as many networks as the queue has
//!   places (256 on two cores);
//! - beyond those bounds a check is refused at once ([`Busy`]): the session
//!   answers `421` instead of queueing without end.

use argon2::password_hash::{Output, PasswordHash};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use ipnet::IpNet;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::oneshot;

/// The most worker threads a pool runs.
pub const MAX_WORKERS: usize = 4;
/// Checks waiting per worker.
const QUEUED_PER_WORKER: usize = 128;
/// Checks one network may have waiting.
const QUEUED_PER_ADDRESS: usize = 4;

/// The network an address's checks are queued and counted under: its /24
/// (IPv4) or /48 (IPv6).
fn network(ip: IpAddr) -> IpNet {
    let (ip, prefix) = match ip.to_canonical() {
        v4 @ IpAddr::V4(_) => (v4, 24),
        v6 => (v6, 48),
    };
    IpNet::new(ip, prefix).map(|n| n.trunc()).unwrap_or_else(|_| IpNet::from(ip))
}
/// A worker idle this long frees its working memory.
pub const IDLE_RELEASE: Duration = Duration::from_secs(10);

/// The queue is full, or this address has its share waiting: try later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many password checks waiting")]
pub struct Busy;

/// Counters of a pool, for tests and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Checks run to the end.
    pub checked: u64,
    /// Checks refused because the queue was full.
    pub refused: u64,
    /// Checks dropped unrun because nobody waited for their answer any more
    /// (the session ended while they waited).
    pub abandoned: u64,
    /// The most checks that ever waited at once.
    pub peak_queued: u64,
}

struct Job {
    hash: Arc<str>,
    password: Vec<u8>,
    reply: oneshot::Sender<Result<bool, Busy>>,
}

#[derive(Default)]
struct Queue {
    /// Waiting checks per address.
    by_address: HashMap<IpNet, VecDeque<Job>>,
    /// Addresses with waiting checks, in the order they are served.
    turn: VecDeque<IpNet>,
    queued: usize,
    /// Worker threads started (they start with the first checks).
    workers: usize,
    closed: bool,
}

impl Queue {
    /// Makes room in a full queue for an address with `mine` checks waiting:
    /// the address with the most waiting, if it has at least two more, gives
    /// up its latest one (answered [`Busy`]). False if no address has.
    fn evict_for(&mut self, mine: usize) -> bool {
        let Some((heaviest, waiting)) =
            self.by_address.iter().map(|(a, jobs)| (*a, jobs.len())).max_by_key(|(_, n)| *n)
        else {
            return false;
        };
        if waiting < mine + 2 {
            return false;
        }
        // It keeps at least one (it had two or more): its place in the turns stays right.
        let Some(jobs) = self.by_address.get_mut(&heaviest) else { return false };
        let Some(evicted) = jobs.pop_back() else { return false };
        self.queued -= 1;
        let _ = evicted.reply.send(Err(Busy));
        true
    }

    /// The next check: the first of the address whose turn it is.
    fn pop(&mut self) -> Option<Job> {
        let address = self.turn.pop_front()?;
        let jobs = self.by_address.get_mut(&address)?;
        let job = jobs.pop_front();
        if jobs.is_empty() {
            self.by_address.remove(&address);
        } else {
            self.turn.push_back(address);
        }
        if job.is_some() {
            self.queued -= 1;
        }
        job
    }
}

struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
    max_workers: usize,
    max_queued: usize,
    checked: AtomicU64,
    refused: AtomicU64,
    abandoned: AtomicU64,
    peak_queued: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The pool of password checks of one server, kept across reloads.
pub struct PasswordChecks {
    shared: Arc<Shared>,
}

impl Default for PasswordChecks {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        PasswordChecks::new(cores.clamp(1, MAX_WORKERS))
    }
}

impl std::fmt::Debug for PasswordChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChecks").field("workers", &self.shared.max_workers).finish_non_exhaustive()
    }
}

impl PasswordChecks {
    /// A pool of `workers` threads (started when first needed).
    pub fn new(workers: usize) -> Self {
        let workers = workers.max(1);
        PasswordChecks {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                ready: Condvar::new(),
                max_workers: workers,
                max_queued: workers * QUEUED_PER_WORKER,
                checked: AtomicU64::new(0),
                refused: AtomicU64::new(0),
                abandoned: AtomicU64::new(0),
                peak_queued: AtomicU64::new(0),
            }),
        }
    }

    /// Checks `password` against the argon2 PHC string `hash` for a client at
    /// `peer`. `Ok(false)` for a wrong password or a hash that cannot be used;
    /// [`Busy`] when the check cannot even wait its turn.
    pub async fn verify(&self, peer: IpAddr, hash: Arc<str>, password: &str) -> Result<bool, Busy> {
        let (reply, answer) = oneshot::channel();
        let job = Job { hash, password: password.as_bytes().to_vec(), reply };
        self.submit(network(peer), job)?;
        // A worker that fails drops the sender: a failed check is a wrong password.
        answer.await.unwrap_or(Ok(false))
    }

    fn submit(&self, address: IpNet, job: Job) -> Result<(), Busy> {
        let s = &self.shared;
        let mut q = s.lock();
        let mine = q.by_address.get(&address).map_or(0, VecDeque::len);
        let room = mine < QUEUED_PER_ADDRESS && (q.queued < s.max_queued || q.evict_for(mine));
        if !room {
            drop(q);
            s.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Busy);
        }
        if mine == 0 {
            q.turn.push_back(address);
        }
        q.by_address.entry(address).or_default().push_back(job);
        q.queued += 1;
        s.peak_queued.fetch_max(q.queued as u64, Ordering::Relaxed);
        // One more worker while some are missing and work is waiting.
        if q.workers < s.max_workers && q.workers < q.queued {
            let shared = Arc::clone(s);
            let n = q.workers;
            if std::thread::Builder::new().name(format!("ferroftp-passwd-{n}")).spawn(move || work(&shared)).is_ok() {
                q.workers += 1;
            }
        }
        if q.workers == 0 {
            // No thread could be started at all: nothing would ever answer.
            let address = q.turn.pop_back();
            if let Some(a) = address {
                q.by_address.remove(&a);
            }
            q.queued -= 1;
            return Err(Busy);
        }
        drop(q);
        s.ready.notify_one();
        Ok(())
    }

    /// The pool's counters so far.
    pub fn stats(&self) -> CheckStats {
        let s = &self.shared;
        CheckStats {
            checked: s.checked.load(Ordering::Relaxed),
            refused: s.refused.load(Ordering::Relaxed),
            abandoned: s.abandoned.load(Ordering::Relaxed),
            peak_queued: s.peak_queued.load(Ordering::Relaxed),
        }
    }
}

impl Drop for PasswordChecks {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

/// A worker: takes checks in turn until the pool is dropped.
fn work(shared: &Shared) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let mut q = shared.lock();
            loop {
                if let Some(job) = q.pop() {
                    break Some(job);
                }
                if q.closed {
                    break None;
                }
                let (guard, timeout) = shared.ready.wait_timeout(q, IDLE_RELEASE).unwrap_or_else(|e| e.into_inner());
                q = guard;
                if timeout.timed_out() && q.turn.is_empty() {
                    // Idle: the working memory goes back to the system.
                    memory = Vec::new();
                }
            }
        };
        let Some(job) = job else { return };
        if job.reply.is_closed() {
            // The client is gone; nobody waits for this answer.
            shared.abandoned.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let ok = verify_with(&mut memory, &job.hash, &job.password);
        shared.checked.fetch_add(1, Ordering::Relaxed);
        let _ = job.reply.send(Ok(ok));
    }
}

/// Blocks in an allocation that glibc's malloc always serves with a mmap of
/// its own: more than its largest dynamic mmap threshold (32 MiB on 64-bit
/// systems).
const MMAP_ALWAYS: usize = 32 * 1024 + 1;

/// Working memory of `blocks` argon2 blocks, zeroed.
///
/// Its capacity is at least [`MMAP_ALWAYS`] blocks, of which only `blocks`
/// are ever touched (the rest stays virtual). The point is where it comes
/// from: glibc serves an allocation of 19 MiB (argon2's m = 19456) from
/// mmap the first time, but freeing it raises its mmap threshold to 19 MiB,
/// so every later one comes from the heap of the freeing thread's arena,
/// which keeps the pages when they are freed. Above 32 MiB glibc always maps
/// and unmaps: the memory goes back to the system when the worker frees it.
/// Measured (300 simultaneous wrong logins, 2 workers): the server stayed
/// 42 MiB above its idle size after the workers went idle without this, and
/// went back to it with it.
pub(crate) fn working_memory(blocks: usize) -> Vec<Block> {
    let mut memory = Vec::with_capacity(blocks.max(MMAP_ALWAYS));
    memory.resize(blocks, Block::default());
    memory
}

/// Verifies an argon2 PHC string in `memory`, grown to what the hash's
/// parameters need and kept for the next check.
fn verify_with(memory: &mut Vec<Block>, hash: &str, password: &[u8]) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let blocks = params.block_count();
    if memory.len() < blocks {
        *memory = working_memory(blocks);
    }
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2.hash_password_into_with_memory(password, salt, &mut out, &mut memory[..blocks]).is_err() {
        return false;
    }
    // Output compares in constant time.
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hash_password;

    #[test]
    fn checks_are_counted_by_network() {
        let n = |s: &str| network(s.parse().unwrap()).to_string();
        assert_eq!(n("192.0.2.77"), "192.0.2.0/24");
        assert_eq!(n("::ffff:192.0.2.77"), "192.0.2.0/24");
        assert_eq!(n("2001:db8:1:2:3::4"), "2001:db8:1::/48");
    }

    #[test]
    fn verifies_hashes_with_reused_memory() {
        let mut memory = Vec::new();
        let h = hash_password("s3cret").unwrap();
        assert!(verify_with(&mut memory, &h, b"s3cret"));
        let used = memory.len();
        assert_eq!(used, 19456, "one block per KiB of m");
        assert!(!verify_with(&mut memory, &h, b"s3cret "));
        assert_eq!(memory.len(), used, "the memory is reused, not grown");
        // The hash of the configuration example and a cheaper argon2i hash.
        let example =
            "$argon2id$v=19$m=19456,t=2,p=1$E2wou/Di4kobaT7yrREdGA$Cln0qksjjN2V2wPwrElNtJUeC4RdUbCtz42FsScCOoE";
        assert!(verify_with(&mut memory, example, b"alice-example"));
        assert!(!verify_with(&mut memory, "plaintext", b"plaintext"));
        assert!(!verify_with(&mut memory, "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$", b"x"));
    }

    #[tokio::test]
    async fn the_queue_is_bounded_and_fair_between_addresses() {
        let checks = PasswordChecks::new(1);
        let hash: Arc<str> = hash_password("pw").unwrap().into();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "198.51.100.2".parse().unwrap();
        // Hold the worker so that everything after waits in the queue.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let mut q = checks.shared.lock();
            q.workers = 1; // no thread is started by the submissions below
            drop(q);
            let shared = Arc::clone(&checks.shared);
            std::thread::spawn(move || {
                let _ = hold.recv();
                work(&shared);
            })
        };
        let mut waiting = Vec::new();
        for _ in 0..QUEUED_PER_ADDRESS {
            let (reply, answer) = oneshot::channel::<Result<bool, Busy>>();
            checks.submit(network(a), Job { hash: Arc::clone(&hash), password: b"x".to_vec(), reply }).unwrap();
            waiting.push(("a", answer));
        }
        let (reply, _answer) = oneshot::channel();
        let refused = checks.submit(network(a), Job { hash: Arc::clone(&hash), password: b"x".to_vec(), reply });
        assert_eq!(refused, Err(Busy), "one address cannot queue more than its share");
        let (reply, answer) = oneshot::channel();
        checks.submit(network(b), Job { hash: Arc::clone(&hash), password: b"pw".to_vec(), reply }).unwrap();
        waiting.push(("b", answer));
        // b's single check is served second, not after all of a's.
        let order: Vec<&str> = {
            let q = checks.shared.lock();
            q.turn.iter().map(|t| if *t == network(a) { "a" } else { "b" }).collect()
        };
        assert_eq!(order, ["a", "b"]);
        release.send(()).unwrap();
        let mut results = Vec::new();
        for (who, answer) in waiting {
            results.push((who, answer.await.unwrap().unwrap()));
        }
        assert_eq!(results.iter().filter(|(_, ok)| *ok).count(), 1);
        assert_eq!(checks.stats().refused, 1);
        assert_eq!(checks.stats().checked, 5);
        drop(checks);
        blocker.join().unwrap();
    }

    #[tokio::test]
    async fn a_full_queue_answers_busy() {
        let checks = PasswordChecks::new(1);
        checks.shared.lock().workers = 1; // no worker runs: everything waits
        let hash: Arc<str> = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into();
        let mut answers = Vec::new();
        let mut busy = 0;
        for i in 0..(QUEUED_PER_WORKER as u32 + 10) {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + (i << 8)));
            let (reply, answer) = oneshot::channel();
            match checks.submit(network(ip), Job { hash: Arc::clone(&hash), password: vec![], reply }) {
                Ok(()) => answers.push(answer),
                Err(Busy) => busy += 1,
            }
        }
        assert_eq!((answers.len(), busy), (QUEUED_PER_WORKER, 10));
        assert_eq!(checks.stats().peak_queued, QUEUED_PER_WORKER as u64);
    }

    #[tokio::test]
    async fn a_full_queue_still_admits_an_address_that_has_less_waiting() {
        let checks = PasswordChecks::new(1);
        checks.shared.lock().workers = 1; // no worker runs: everything waits
        let hash: Arc<str> = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA".into();
        let submit = |ip: IpAddr| {
            let (reply, answer) = oneshot::channel();
            checks.submit(network(ip), Job { hash: Arc::clone(&hash), password: vec![], reply }).map(|()| answer)
        };
        // Attackers fill the queue, each address with its share.
        let mut attackers = Vec::new();
        for i in 0..(QUEUED_PER_WORKER / QUEUED_PER_ADDRESS) as u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0A00_0000 + (i << 8)));
            for _ in 0..QUEUED_PER_ADDRESS {
                attackers.push(submit(ip).unwrap());
            }
        }
        assert_eq!(checks.shared.lock().queued, QUEUED_PER_WORKER);
        // A newcomer still gets in, up to one less than the busiest address has.
        let honest: IpAddr = "192.0.2.77".parse().unwrap();
        let admitted: Vec<_> = (0..QUEUED_PER_ADDRESS).map_while(|_| submit(honest).ok()).collect();
        assert_eq!(admitted.len(), QUEUED_PER_ADDRESS - 1);
        assert_eq!(checks.shared.lock().queued, QUEUED_PER_WORKER, "still bounded");
        // The evicted attackers were told at once.
        let mut told = 0;
        for mut a in attackers {
            if let Ok(Err(Busy)) = a.try_recv() {
                told += 1;
            }
        }
        assert_eq!(told, QUEUED_PER_ADDRESS - 1);
    }
}
