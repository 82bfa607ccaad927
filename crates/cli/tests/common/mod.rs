//! What the tests of the `ferroftp` binary share: starting it, talking to
//! it, and reading its process status.
#![allow(dead_code)] // each test file uses some of these

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

pub fn ferroftp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferroftp"))
}

/// A control connection to the server on `port`, past its 220 greeting.
pub fn connect(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    let greeting = read_reply(&mut r);
    assert!(greeting.starts_with("220"), "{greeting}");
    (w, r)
}

pub fn read_reply(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line
}

/// The argon2id hash of "alice-example".
pub const HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$E2wou/Di4kobaT7yrREdGA$Cln0qksjjN2V2wPwrElNtJUeC4RdUbCtz42FsScCOoE";

pub fn user_config(name: &str, home: &std::path::Path) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[users.{name}]\npassword = \"{HASH}\"\nhome = \"{}\"\n",
        home.display()
    )
}

/// Reads stdout lines until one contains `needle`; returns it.
pub fn wait_for_line(out: &mut BufReader<std::process::ChildStdout>, needle: &str) -> String {
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "output ended before {needle:?}");
        if line.contains(needle) {
            return line;
        }
    }
}

/// A server process, killed if the test fails before it is stopped.
pub struct Running(pub std::process::Child);

impl Running {
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `ferroftp serve --config FILE` plus `extra` flags; returns the
/// process, its output (read past the "Press Ctrl-C" line, with every line
/// seen so far) and the port of the first listener.
pub fn serve_config(
    config: &std::path::Path,
    extra: &[&str],
) -> (Running, BufReader<std::process::ChildStdout>, u16, String) {
    serve_command(ferroftp(), config, extra)
}

/// As [`serve_config`], run by `command` (the binary itself, or a tracer
/// given the binary as its first arguments).
pub fn serve_command(
    mut command: Command,
    config: &std::path::Path,
    extra: &[&str],
) -> (Running, BufReader<std::process::ChildStdout>, u16, String) {
    let mut child = command
        .args(["serve", "--config"])
        .arg(config)
        .args(extra)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let child = Running(child);
    let mut seen = String::new();
    let mut port = None;
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "the server stopped:\n{seen}");
        if port.is_none()
            && let Some(rest) = line.trim().strip_prefix("ftp://").and_then(|r| r.split_once("127.0.0.1:"))
        {
            port = rest.1.trim_end_matches('/').parse().ok();
        }
        seen.push_str(&line);
        if line.contains("Press Ctrl-C") {
            break;
        }
    }
    (child, out, port.expect("a listen line"), seen)
}

pub fn stop(mut child: Running) {
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert!(child.0.wait().unwrap().success());
}

/// A field of /proc/PID/status, such as "Uid" or "VmHWM".
pub fn proc_status(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap();
    line[field.len() + 1..].trim().to_string()
}

/// True if this kernel enforces Landlock (probed in a thread of its own,
/// which the restriction dies with).
pub fn kernel_has_landlock() -> bool {
    use landlock::{ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetStatus};
    std::thread::spawn(|| {
        let status = Ruleset::default()
            .handle_access(AccessFs::from_all(ABI::V1))
            .and_then(|r| r.create())
            .and_then(|r| r.restrict_self());
        matches!(status.map(|s| s.ruleset), Ok(RulesetStatus::FullyEnforced | RulesetStatus::PartiallyEnforced))
    })
    .join()
    .unwrap()
}

pub fn is_root() -> bool {
    proc_status(std::process::id(), "Uid").split_whitespace().nth(1) == Some("0")
}

/// A connection to `port` from the loopback address `from` (127.0.0.2 and up
/// play other hosts), past its 220 greeting.
pub fn connect_from(from: std::net::Ipv4Addr, port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&std::net::SocketAddr::from((from, 0)).into()).unwrap();
    socket.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into()).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    let greeting = read_reply(&mut r);
    assert!(greeting.starts_with("220"), "{greeting}");
    (w, r)
}

pub fn kib(field: String) -> u64 {
    field.trim_end_matches(" kB").trim().parse().unwrap()
}

/// Logs in as `user` with the password of [`HASH`]; returns the last reply line.
pub fn login(port: u16, user: &str) -> String {
    let (mut w, mut r) = connect(port);
    w.write_all(format!("USER {user}\r\nPASS alice-example\r\n").as_bytes()).unwrap();
    assert!(read_reply(&mut r).starts_with("331 "));
    let mut last = read_reply(&mut r);
    while last.as_bytes().get(3) == Some(&b'-') {
        last = read_reply(&mut r);
    }
    last
}

/// The path of a tool needed by a test: `None` (the test is not run) unless
/// `FERROFTP_INTEROP=1`, which CI sets after installing it; then a missing
/// tool fails the test.
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file());
    if std::env::var("FERROFTP_INTEROP").ok().as_deref() != Some("1") {
        if found.is_none() {
            eprintln!("{name} is not installed and FERROFTP_INTEROP is not 1: test not run");
        }
        return found;
    }
    Some(found.unwrap_or_else(|| panic!("FERROFTP_INTEROP=1 but `{name}` is not installed (.ci/run installs it)")))
}

/// A logged-in session as alice (password of [`HASH`]) in binary mode.
pub fn alice(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let (mut w, mut r) = connect(port);
    w.write_all(b"USER alice\r\nPASS alice-example\r\nTYPE I\r\n").unwrap();
    assert!(read_reply(&mut r).starts_with("331"));
    assert!(read_reply(&mut r).starts_with("230"));
    assert!(read_reply(&mut r).starts_with("200"));
    (w, r)
}

/// Sends `EPSV` and connects its data connection.
pub fn epsv(w: &mut TcpStream, r: &mut BufReader<TcpStream>) -> TcpStream {
    w.write_all(b"EPSV\r\n").unwrap();
    let reply = read_reply(r);
    assert!(reply.starts_with("229"), "{reply}");
    let port: u16 = reply.split("|||").nth(1).and_then(|p| p.split('|').next()).unwrap().parse().unwrap();
    TcpStream::connect(("127.0.0.1", port)).unwrap()
}

/// Sends a command that opens a data transfer and expects 150.
pub fn begin(w: &mut TcpStream, r: &mut BufReader<TcpStream>, command: &str) {
    w.write_all(format!("{command}\r\n").as_bytes()).unwrap();
    let reply = read_reply(r);
    assert!(reply.starts_with("150"), "{command}: {reply}");
}

/// Deterministic test bytes.
pub fn content(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
