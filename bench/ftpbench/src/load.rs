//! Workloads of many small operations over plain FTP, where the server's
//! per-command and per-session costs show: many files over one session,
//! sequential logins, many concurrent sessions. Errors are counted, never
//! fatal: a server that refuses or drops sessions gets a failure count.

use ferroftp_proto::hostport::{parse_epsv_reply, parse_pasv_reply};
use ferroftp_proto::reply::ReplyParser;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// How long one reply or read may take before the session counts as failed.
const TIMEOUT: Duration = Duration::from_secs(60);

pub struct Session {
    addr: SocketAddr,
    io: BufReader<TcpStream>,
}

fn fail(what: String) -> io::Error {
    io::Error::other(what)
}

impl Session {
    pub fn connect(addr: SocketAddr) -> io::Result<Session> {
        let tcp = TcpStream::connect_timeout(&addr, TIMEOUT)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(TIMEOUT))?;
        let mut s = Session { addr, io: BufReader::with_capacity(4096, tcp) };
        s.expect_reply(220)?;
        Ok(s)
    }

    pub fn login(addr: SocketAddr, user: &str, pass: &str) -> io::Result<Session> {
        let mut s = Session::connect(addr)?;
        let (code, _) = s.cmd(&format!("USER {user}"))?;
        if code == 331 {
            s.expect(&format!("PASS {pass}"), 230)?;
        } else if code != 230 {
            return Err(fail(format!("USER -> {code}")));
        }
        s.expect("TYPE I", 200)?;
        Ok(s)
    }

    fn reply(&mut self) -> io::Result<(u16, String)> {
        let mut parser = ReplyParser::new();
        let mut line = String::new();
        loop {
            line.clear();
            if self.io.read_line(&mut line)? == 0 {
                return Err(fail("control connection closed".into()));
            }
            if let Some(r) = parser.feed(line.trim_end_matches(['\r', '\n'])).map_err(|e| fail(e.to_string()))? {
                return Ok((r.code.0, r.text()));
            }
        }
    }

    fn expect_reply(&mut self, want: u16) -> io::Result<String> {
        let (code, text) = self.reply()?;
        if code != want {
            return Err(fail(format!("expected {want}, got {code} {text}")));
        }
        Ok(text)
    }

    pub fn cmd(&mut self, line: &str) -> io::Result<(u16, String)> {
        // One write per command, as a client would send it.
        self.io.get_mut().write_all(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    pub fn expect(&mut self, line: &str, want: u16) -> io::Result<String> {
        let (code, text) = self.cmd(line)?;
        if code != want {
            return Err(fail(format!("{line} -> {code} {text}")));
        }
        Ok(text)
    }

    /// Runs a data command over EPSV (PASV if refused); returns the bytes read.
    pub fn data(&mut self, line: &str, buf: &mut [u8]) -> io::Result<u64> {
        let (code, text) = self.cmd("EPSV")?;
        let target = match code {
            229 => SocketAddr::new(self.addr.ip(), parse_epsv_reply(&text).map_err(|_| fail(text.clone()))?),
            _ => {
                let text = self.expect("PASV", 227)?;
                let port = parse_pasv_reply(&text).map_err(|_| fail(text.clone()))?.port();
                SocketAddr::new(self.addr.ip(), port)
            }
        };
        let mut data = TcpStream::connect_timeout(&target, TIMEOUT)?;
        data.set_read_timeout(Some(TIMEOUT))?;
        let (code, text) = self.cmd(line)?;
        if code != 150 && code != 125 {
            return Err(fail(format!("{line} -> {code} {text}")));
        }
        let mut total = 0u64;
        loop {
            let n = data.read(buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        // Closed before the reply is awaited: ProFTPD waits for the client's
        // close before it sends 226.
        drop(data);
        self.expect_reply(226)?;
        Ok(total)
    }

    /// Runs an upload over EPSV: `line` (STOR ...) with `bytes` as its data.
    pub fn upload(&mut self, line: &str, bytes: &[u8]) -> io::Result<()> {
        let text = self.expect("EPSV", 229)?;
        let target = SocketAddr::new(self.addr.ip(), parse_epsv_reply(&text).map_err(|_| fail(text.clone()))?);
        let mut data = TcpStream::connect_timeout(&target, TIMEOUT)?;
        let (code, text) = self.cmd(line)?;
        if code != 150 && code != 125 {
            return Err(fail(format!("{line} -> {code} {text}")));
        }
        data.write_all(bytes)?;
        drop(data);
        self.expect_reply(226)?;
        Ok(())
    }

    pub fn quit(mut self) {
        let _ = self.cmd("QUIT");
    }
}

/// `files N PREFIX`: one session downloads PREFIX0 … PREFIX{N-1}. Prints
/// `files seconds files/s failures`.
pub fn files(addr: SocketAddr, user: &str, pass: &str, n: usize, prefix: &str) {
    let mut buf = vec![0u8; 64 * 1024];
    let start = Instant::now();
    let mut failures = 0;
    let mut s = Session::login(addr, user, pass).expect("login");
    for i in 0..n {
        if s.data(&format!("RETR {prefix}{i}"), &mut buf).is_err() {
            failures += 1;
        }
    }
    s.quit();
    let secs = start.elapsed().as_secs_f64();
    println!("{n} {secs:.3} {:.0} {failures}", n as f64 / secs);
}

/// `puts N PREFIX`: one session uploads N files of 4 KiB as PREFIX0 …
/// PREFIX{N-1}, each over its own EPSV connection and waiting for its 226.
/// Prints `files seconds files/s failures`.
pub fn puts(addr: SocketAddr, user: &str, pass: &str, n: usize, prefix: &str) {
    let body: Vec<u8> = (0..4096u32).map(|i| (i * 31 % 251) as u8).collect();
    let start = Instant::now();
    let mut failures = 0;
    let mut s = Session::login(addr, user, pass).expect("login");
    for i in 0..n {
        if s.upload(&format!("STOR {prefix}{i}"), &body).is_err() {
            failures += 1;
        }
    }
    s.quit();
    let secs = start.elapsed().as_secs_f64();
    println!("{n} {secs:.3} {:.0} {failures}", n as f64 / secs);
}

/// `logins N`: connect, log in, quit, N times in a row. Prints
/// `logins seconds logins/s failures`.
pub fn logins(addr: SocketAddr, user: &str, pass: &str, n: usize) {
    let start = Instant::now();
    let mut failures = 0;
    for _ in 0..n {
        match Session::login(addr, user, pass) {
            Ok(s) => s.quit(),
            Err(_) => failures += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{n} {secs:.3} {:.0} {failures}", n as f64 / secs);
}

/// `sessions N FILE PID`: N sessions at once, each logs in, lists its folder
/// and downloads FILE, then all wait while the server's memory is read (PSS
/// of PID and its descendants, for forking servers), then all quit. Prints
/// `sessions seconds failures pss_kib`.
pub fn sessions(addr: SocketAddr, user: &str, pass: &str, n: usize, file: &str, pid: u32) {
    let barrier = Arc::new(Barrier::new(n + 1));
    let opening = Arc::new(Gate::new(OPENING));
    // Bounds: forking servers spend megabytes per session and some take many
    // seconds per login; sessions not yet opened when a bound is reached are
    // not attempted and count as failures.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watching = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let watcher = {
        let (stop, watching) = (Arc::clone(&stop), Arc::clone(&watching));
        std::thread::spawn(move || {
            let began = Instant::now();
            while watching.load(std::sync::atomic::Ordering::Relaxed) {
                if began.elapsed() > MAX_OPENING_TIME || pss_kib(pid) > MAX_PSS_KIB {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    let start = Instant::now();
    let mut threads = Vec::with_capacity(n);
    for _ in 0..n {
        let (barrier, user, pass, file) = (Arc::clone(&barrier), user.to_string(), pass.to_string(), file.to_string());
        let opening = Arc::clone(&opening);
        let stop = Arc::clone(&stop);
        let spawned = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            let step = |what: &'static str| move |e: io::Error| fail(format!("{what}: {e}"));
            let opened = {
                let _turn = opening.enter();
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    Err(fail("not attempted: the run reached its time or memory bound".into()))
                } else {
                    Session::login(addr, &user, &pass)
                }
            };
            let session = opened.map_err(step("login")).and_then(|mut s| {
                s.data("LIST", &mut buf).map_err(step("LIST"))?;
                s.data(&format!("RETR {file}"), &mut buf).map_err(step("RETR"))?;
                Ok(s)
            });
            // Everyone connected (or failed): the memory is read now.
            barrier.wait();
            barrier.wait();
            match session {
                Ok(s) => {
                    s.quit();
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        });
        threads.push(spawned.expect("spawn a session thread"));
    }
    barrier.wait();
    watching.store(false, std::sync::atomic::Ordering::Relaxed);
    let _ = watcher.join();
    let secs = start.elapsed().as_secs_f64();
    let pss = pss_kib(pid);
    barrier.wait();
    let mut why = std::collections::BTreeMap::<String, usize>::new();
    for t in threads {
        if let Err(e) = t.join().unwrap_or_else(|_| Err("thread panicked".into())) {
            // Numbers (ports, counts) vary; the kind of failure does not.
            let kind: String = e.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
            *why.entry(kind).or_default() += 1;
        }
    }
    let failures: usize = why.values().sum();
    for (kind, count) in &why {
        eprintln!("  {count} sessions failed: {kind}");
    }
    println!("{n} {secs:.3} {failures} {pss}");
}

/// `transfers N FILE`: N sessions log in (a few at a time), then all download
/// FILE at the same moment, each over its own data connection. Prints
/// `sessions seconds failures bytes` (seconds from the start of the
/// downloads; bytes of the smallest download, which should be FILE's size).
pub fn transfers(addr: SocketAddr, user: &str, pass: &str, n: usize, file: &str) {
    let ready = Arc::new(Barrier::new(n + 1));
    let opening = Arc::new(Gate::new(OPENING));
    let mut threads = Vec::with_capacity(n);
    for _ in 0..n {
        let (ready, opening) = (Arc::clone(&ready), Arc::clone(&opening));
        let (user, pass, file) = (user.to_string(), pass.to_string(), file.to_string());
        let spawned = std::thread::Builder::new().stack_size(64 * 1024).spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let session = {
                let _turn = opening.enter();
                Session::login(addr, &user, &pass).and_then(|mut s| s.expect("TYPE I", 200).map(|_| s))
            };
            ready.wait();
            let mut s = session.map_err(|e| format!("login: {e}"))?;
            let bytes = s.data(&format!("RETR {file}"), &mut buf).map_err(|e| format!("RETR: {e}"))?;
            s.quit();
            Ok::<u64, String>(bytes)
        });
        threads.push(spawned.expect("spawn a session thread"));
    }
    ready.wait();
    let start = Instant::now();
    let mut why = std::collections::BTreeMap::<String, usize>::new();
    let mut smallest = u64::MAX;
    for t in threads {
        match t.join().unwrap_or_else(|_| Err("thread panicked".into())) {
            Ok(bytes) => smallest = smallest.min(bytes),
            Err(e) => {
                let kind: String = e.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
                *why.entry(kind).or_default() += 1;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let failures: usize = why.values().sum();
    for (kind, count) in &why {
        eprintln!("  {count} transfers failed: {kind}");
    }
    println!("{n} {secs:.3} {failures} {}", if smallest == u64::MAX { 0 } else { smallest });
}

/// Sessions connecting and logging in at the same moment. Servers listen
/// with small backlogs (vsftpd 32, pyftpdlib 100); thousands of connections
/// opened at once overflow them, and a connection whose handshake the server
/// dropped looks open to the client until it times out. Sessions therefore
/// open at most this many at a time and then all stay open together.
const OPENING: usize = 32;

/// How long sessions may take to open, all together.
const MAX_OPENING_TIME: Duration = Duration::from_secs(180);

/// The server memory (PSS) beyond which no more sessions are opened: 8 GiB.
const MAX_PSS_KIB: u64 = 8 << 20;

/// A counting semaphore.
struct Gate {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

struct Turn<'a>(&'a Gate);

impl Gate {
    fn new(n: usize) -> Self {
        Gate { free: std::sync::Mutex::new(n), freed: std::sync::Condvar::new() }
    }

    fn enter(&self) -> Turn<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Turn(self)
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// Proportional set size of `pid` and all its descendants, in KiB.
pub fn pss_kib(pid: u32) -> u64 {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else { continue };
            // The fields after the command name, which may hold spaces.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { continue };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
                parents.push((p, ppid));
            }
        }
    }
    let mut tree = vec![pid];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    tree.iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        })
        .sum()
}
