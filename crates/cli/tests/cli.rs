//! The `ferroftp` binary as a newcomer meets it: help, version, errors, and a
//! real `serve` that answers FTP and stops cleanly on SIGTERM.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn ferroftp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferroftp"))
}

#[test]
fn version_and_help() {
    let v = ferroftp().arg("--version").output().unwrap();
    assert!(v.status.success());
    assert_eq!(String::from_utf8_lossy(&v.stdout).trim(), format!("ferroftp {}", env!("CARGO_PKG_VERSION")));
    let h = ferroftp().arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&h.stdout).contains("serve"));
    let sh = ferroftp().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&sh.stdout);
    for flag in ["--listen", "--user", "--anonymous", "--passive-ports", "--public-address", "Examples:"] {
        assert!(text.contains(flag), "serve --help lacks {flag}:\n{text}");
    }
}

#[test]
fn bad_arguments_fail_with_a_clear_message() {
    let cases: &[(&[&str], &str)] = &[
        (&["serve", "/no/such/dir/anywhere"], "no such directory"),
        (&["serve", "--user", "alice"], "NAME:PASSWORD"),
        (&["serve", "--passive-ports", "9-1"], "FIRST-LAST"),
        (&["serve", "--anonymous", "maybe"], "possible values"),
        (&["serve", "--anonymous", "off"], "nobody could log in"),
        (&["serve", "--tls-user-cert", "alice=zz"], "NAME=FINGERPRINT"),
        (
            &[
                "serve",
                "--user",
                "a:b",
                "--tls-user-cert",
                "bob=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            ],
            "which is not a user",
        ),
    ];
    for (args, needle) in cases {
        let out = ferroftp().args(*args).stdin(Stdio::null()).output().unwrap();
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: stderr lacks {needle:?}:\n{err}");
    }
}

/// A control connection to the server on `port`, past its 220 greeting.
fn connect(port: u16) -> (TcpStream, BufReader<TcpStream>) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    let greeting = read_reply(&mut r);
    assert!(greeting.starts_with("220"), "{greeting}");
    (w, r)
}

fn read_reply(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    line
}

#[test]
fn serve_answers_ftp_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), b"hello").unwrap();
    let mut child = ferroftp()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let banner = wait_for_line(&mut out, "ferroftp ");
    assert!(banner.contains("read-only to anonymous"), "{banner}");
    let mut url = String::new();
    out.read_line(&mut url).unwrap();
    let port: u16 = url.trim().trim_start_matches("ftp://127.0.0.1:").trim_end_matches('/').parse().unwrap();

    let (mut w, mut r) = connect(port);
    w.write_all(b"USER anonymous\r\nPASS me@example.com\r\nSIZE hello.txt\r\nSTOR x\r\n").unwrap();
    assert!(read_reply(&mut r).starts_with("331 "));
    assert!(read_reply(&mut r).starts_with("230 "));
    assert_eq!(read_reply(&mut r), "213 5\r\n");
    assert!(read_reply(&mut r).starts_with("550 "), "anonymous is read-only by default");

    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    assert!(read_reply(&mut r).starts_with("421 "));
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
}

#[test]
fn cert_generate_writes_a_private_key_and_prints_the_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let out = ferroftp()
        .args(["cert", "generate", "--name", "ftp.example.com", "--cert"])
        .arg(&cert)
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let fingerprint = text.lines().find_map(|l| l.strip_prefix("SHA-256 fingerprint: ")).unwrap();
    assert_eq!(fingerprint.len(), 32 * 3 - 1);
    assert!(std::fs::read_to_string(&cert).unwrap().contains("BEGIN CERTIFICATE"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let again = ferroftp().args(["cert", "generate", "--cert"]).arg(&cert).arg("--key").arg(&key).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
}

#[test]
fn serve_refuses_a_key_that_does_not_match_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let generate = |name: &str| {
        let (c, k) = (dir.path().join(format!("{name}-cert.pem")), dir.path().join(format!("{name}-key.pem")));
        assert!(
            ferroftp()
                .args(["cert", "generate", "--cert"])
                .arg(&c)
                .arg("--key")
                .arg(&k)
                .output()
                .unwrap()
                .status
                .success()
        );
        (c, k)
    };
    let (cert_a, _) = generate("a");
    let (_, key_b) = generate("b");
    let out = ferroftp()
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(&cert_a)
        .arg("--tls-key")
        .arg(&key_b)
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a-cert.pem") && err.contains("do not belong together"), "{err}");
}

/// Starts `ferroftp serve --tls` and returns the control port and the printed fingerprint.
fn serve_tls(state: &std::path::Path, dir: &std::path::Path) -> (std::process::Child, u16, String) {
    let mut child = ferroftp()
        .args(["serve", "--tls", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(state)
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut port, mut fingerprint) = (0, String::new());
    for _ in 0..12 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        if let Some(p) = line.trim().strip_prefix("ftp://127.0.0.1:") {
            port = p.trim_end_matches('/').parse().unwrap();
        }
        if line.starts_with("  ") && line.trim().len() == 95 && line.contains(':') {
            fingerprint = line.trim().to_string();
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    (child, port, fingerprint)
}

#[test]
fn serve_tls_generates_a_certificate_once_and_prints_its_fingerprint() {
    let state = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (mut first, port, fingerprint) = serve_tls(state.path(), dir.path());
    assert_eq!(fingerprint.len(), 95, "no fingerprint printed");
    assert!(state.path().join("self-signed-cert.pem").exists());
    let (mut w, mut r) = connect(port);
    w.write_all(b"AUTH TLS\r\n").unwrap();
    assert!(read_reply(&mut r).starts_with("234 "));
    first.kill().unwrap();
    first.wait().unwrap();
    // The next start reuses the stored certificate, so pinned clients keep working.
    let (mut second, _, again) = serve_tls(state.path(), dir.path());
    assert_eq!(again, fingerprint);
    second.kill().unwrap();
    second.wait().unwrap();
}

/// The argon2id hash of "alice-example".
const HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$E2wou/Di4kobaT7yrREdGA$Cln0qksjjN2V2wPwrElNtJUeC4RdUbCtz42FsScCOoE";

fn user_config(name: &str, home: &std::path::Path) -> String {
    format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\n[users.{name}]\npassword = \"{HASH}\"\nhome = \"{}\"\n",
        home.display()
    )
}

#[test]
fn config_example_check_explain_and_passwd() {
    let dir = tempfile::tempdir().unwrap();
    let example = ferroftp().args(["config", "example"]).output().unwrap();
    assert!(example.status.success());
    let text = String::from_utf8(example.stdout).unwrap();
    assert!(text.contains("[users.alice]") && text.contains("[anonymous]"));
    // The example names folders of a real server; here they do not exist, and
    // `check` says so at their lines.
    let path = dir.path().join("example.toml");
    std::fs::write(&path, &text).unwrap();
    let check = ferroftp().args(["config", "check"]).arg(&path).output().unwrap();
    assert!(!check.status.success());
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(err.contains("example.toml:") && err.contains("/srv/shared does not exist"), "{err}");

    let good = dir.path().join("good.toml");
    std::fs::write(&good, user_config("alice", dir.path())).unwrap();
    let check = ferroftp().args(["config", "check"]).arg(&good).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert!(String::from_utf8_lossy(&check.stdout).contains("OK (1 user;"));
    let explain = ferroftp().args(["config", "explain", "--config"]).arg(&good).arg("alice").output().unwrap();
    let text = String::from_utf8_lossy(&explain.stdout);
    assert!(text.contains("user alice") && text.contains("(built-in default)"), "{text}");
    let unknown = ferroftp().args(["config", "explain", "--config"]).arg(&good).arg("bob").output().unwrap();
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("the users are: alice"));

    let mut passwd = ferroftp().arg("passwd").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    passwd.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
    let out = passwd.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    assert!(hash.starts_with("$argon2id$v=19$") && hash.trim() != HASH, "{hash}");
}

/// Reads stdout lines until one contains `needle`; returns it.
fn wait_for_line(out: &mut BufReader<std::process::ChildStdout>, needle: &str) -> String {
    loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "output ended before {needle:?}");
        if line.contains(needle) {
            return line;
        }
    }
}

fn login(port: u16, user: &str) -> String {
    let (mut w, mut r) = connect(port);
    w.write_all(format!("USER {user}\r\nPASS alice-example\r\n").as_bytes()).unwrap();
    assert!(read_reply(&mut r).starts_with("331 "));
    let mut last = read_reply(&mut r);
    while last.as_bytes().get(3) == Some(&b'-') {
        last = read_reply(&mut r);
    }
    last
}

#[test]
fn sighup_reloads_the_configuration_or_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferroftp.toml");
    std::fs::write(&config, user_config("first", dir.path())).unwrap();
    let socket = dir.path().join("ctl.sock");
    let (child, mut out, port, _) = serve_config(&config, &["--control-socket", socket.to_str().unwrap()]);
    assert!(login(port, "first").starts_with("230 "));

    std::fs::write(&config, user_config("second", dir.path())).unwrap();
    let hup = |child: &Running| {
        assert!(Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap().success());
    };
    hup(&child);
    wait_for_line(&mut out, "configuration reloaded");
    assert!(login(port, "second").starts_with("230 "));
    assert!(login(port, "first").starts_with("530 "));

    // A broken file is refused whole; the log names the line; the old one stays.
    std::fs::write(&config, "[server]\nlisten = [\"127.0.0.1:0\"]\nmax_conections = 3\n").unwrap();
    hup(&child);
    let why = wait_for_line(&mut out, "not reloaded");
    let detail = wait_for_line(&mut out, "ferroftp.toml:3:1");
    assert!(detail.contains("max_conections"), "{why}{detail}");
    assert!(login(port, "second").starts_with("230 "));

    // `ferroftp reload` through the control socket shows the mistakes to whoever asked.
    let reload = || ferroftp().args(["reload", "--socket"]).arg(&socket).output().unwrap();
    let refused = reload();
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("ferroftp.toml:3:1") && err.contains("max_conections"), "{err}");
    std::fs::write(&config, user_config("third", dir.path())).unwrap();
    let done = reload();
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    assert!(login(port, "third").starts_with("230 "));

    stop(child);
}

/// A server process, killed if the test fails before it is stopped.
struct Running(std::process::Child);

impl Running {
    fn id(&self) -> u32 {
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
fn serve_config(
    config: &std::path::Path,
    extra: &[&str],
) -> (Running, BufReader<std::process::ChildStdout>, u16, String) {
    let mut child = ferroftp()
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

fn stop(mut child: Running) {
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert!(child.0.wait().unwrap().success());
}

/// A field of /proc/PID/status, such as "Uid" or "VmHWM".
fn proc_status(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap();
    line[field.len() + 1..].trim().to_string()
}

/// True if this kernel enforces Landlock (probed in a thread of its own,
/// which the restriction dies with).
fn kernel_has_landlock() -> bool {
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

fn is_root() -> bool {
    proc_status(std::process::id(), "Uid").split_whitespace().nth(1) == Some("0")
}

/// Started as root with server.user, the server binds, then runs as that user
/// (all of real, effective, saved and file-system ids), and serves as before.
/// Not root: asking to switch users is refused with the reason.
#[test]
fn started_as_root_the_server_gives_up_root_after_binding() {
    let dir = tempfile::tempdir().unwrap();
    let public = dir.path().join("pub");
    std::fs::create_dir(&public).unwrap();
    std::fs::write(public.join("hello.txt"), b"hello").unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in [dir.path(), &public] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(public.join("hello.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = dir.path().join("ferroftp.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nuser = \"nobody\"\n[anonymous]\naccess = \"read\"\nroot = \"{}\"\n",
            public.display()
        ),
    )
    .unwrap();
    if !is_root() {
        let out = ferroftp().args(["serve", "--config"]).arg(&config).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("switching users needs root"), "{err}");
        return;
    }
    let (child, _out, port, seen) = serve_config(&config, &[]);
    assert!(seen.contains("gave up root"), "{seen}");
    let nobody = "65534\t65534\t65534\t65534";
    assert_eq!(proc_status(child.id(), "Uid"), nobody);
    assert_eq!(proc_status(child.id(), "Gid"), nobody);
    assert_eq!(proc_status(child.id(), "Groups"), "65534");
    let (mut w, mut r) = connect(port);
    w.write_all(b"USER anonymous\r\nPASS guest@\r\nSIZE hello.txt\r\n").unwrap();
    assert!(read_reply(&mut r).starts_with("331"));
    assert!(read_reply(&mut r).starts_with("230"));
    assert_eq!(read_reply(&mut r).trim(), "213 5");
    stop(child);
}

/// With Landlock, the running server cannot reach files outside the folders
/// it was started with: a reload that adds a folder elsewhere is refused
/// (a restart is needed). The log says whether the sandbox is active.
#[test]
fn the_sandbox_keeps_the_server_inside_its_folders() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let config = dir.path().join("ferroftp.toml");
    let first = user_config("first", &home);
    std::fs::write(&config, format!("{first}\n")).unwrap();
    let socket = dir.path().join("ctl.sock");
    let (child, _out, port, seen) = serve_config(&config, &["--control-socket", socket.to_str().unwrap()]);
    assert!(login(port, "first").starts_with("230 "));
    let reload = || ferroftp().args(["reload", "--socket"]).arg(&socket).output().unwrap();
    // A second user at home outside the sandbox.
    let second = format!("[users.second]\npassword = \"{HASH}\"\nhome = \"{}\"\n", elsewhere.path().display());
    std::fs::write(&config, format!("{first}\n{second}")).unwrap();
    let result = reload();
    if kernel_has_landlock() {
        assert!(seen.contains("sandbox: Landlock active"), "{seen}");
        assert!(!result.status.success(), "a folder outside the sandbox was reloaded");
        let err = String::from_utf8_lossy(&result.stderr);
        assert!(err.contains(&elsewhere.path().display().to_string()) && err.contains("Landlock"), "{err}");
        assert!(login(port, "second").starts_with("530 "));
    } else {
        assert!(seen.contains("Landlock is not available"), "{seen}");
        assert!(result.status.success());
    }
    assert!(login(port, "first").starts_with("230 "));
    stop(child);

    // --no-sandbox: the same reload goes through.
    std::fs::write(&config, format!("{first}\n")).unwrap();
    let (child, _out, port, seen) =
        serve_config(&config, &["--control-socket", socket.to_str().unwrap(), "--no-sandbox"]);
    assert!(seen.contains("sandbox: off"), "{seen}");
    std::fs::write(&config, format!("{first}\n{second}")).unwrap();
    assert!(reload().status.success());
    assert!(login(port, "second").starts_with("230 "));
    stop(child);
}

/// Out of file descriptors: new connections get 421 and are closed, sessions
/// already open go on, and once descriptors are free again new ones are served.
#[test]
fn out_of_file_descriptors_new_connections_get_421() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferroftp.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nopen_files = 48\n[users.alice]\npassword = \"{HASH}\"\nhome = \"{}\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let (child, _out, port, seen) = serve_config(&config, &[]);
    assert!(seen.contains("open_files=48"), "{seen}");
    // One logged-in session first.
    let (mut w, mut r) = connect(port);
    w.write_all(b"USER alice\r\nPASS alice-example\r\n").unwrap();
    assert!(read_reply(&mut r).starts_with("331"));
    assert!(read_reply(&mut r).starts_with("230"));
    // Then connections until the server has no descriptor left (bounded).
    let mut held = Vec::new();
    let mut refused = None;
    for _ in 0..100 {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut line = String::new();
        BufReader::new(s.try_clone().unwrap()).read_line(&mut line).unwrap();
        if line.starts_with("421") {
            refused = Some(line);
            break;
        }
        assert!(line.starts_with("220"), "{line}");
        held.push(s);
    }
    let refused = refused.expect("no 421 within 100 connections");
    assert!(refused.contains("try again later"), "{refused}");
    assert!(held.len() > 20, "only {} sessions fit", held.len());
    // The open session still works.
    w.write_all(b"PWD\r\n").unwrap();
    assert!(read_reply(&mut r).starts_with("257"));
    // Free some descriptors: new sessions are served again.
    held.truncate(held.len() - 5);
    let mut line = String::new();
    for _ in 0..50 {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        line.clear();
        BufReader::new(s).read_line(&mut line).unwrap();
        if line.starts_with("220") {
            break;
        }
        // The closed sessions' descriptors are freed as the server notices.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(line.starts_with("220"), "{line}");
    w.write_all(b"NOOP\r\n").unwrap();
    assert!(read_reply(&mut r).starts_with("200"));
    drop(held);
    stop(child);
}

/// A client sending an endless line and a flood of commands does not make the
/// server's memory grow with what it sends.
#[test]
fn memory_stays_bounded_under_a_flood() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferroftp.toml");
    std::fs::write(&config, user_config("alice", dir.path())).unwrap();
    let (child, _out, port, _) = serve_config(&config, &[]);
    let before = kib(proc_status(child.id(), "VmRSS"));
    let mut streams = Vec::new();
    for _ in 0..4 {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        streams.push(s);
    }
    let chunk = vec![b'x'; 1 << 20];
    for s in &mut streams {
        let mut line = String::new();
        BufReader::new(s.try_clone().unwrap()).read_line(&mut line).unwrap();
        for _ in 0..64 {
            s.write_all(&chunk).unwrap();
        }
        s.write_all(b"\r\n").unwrap();
        for _ in 0..10_000 {
            s.write_all(b"NOOP\r\n").unwrap();
        }
    }
    // 4 x 64 MiB in lines and 4 x 10,000 commands were sent; each got its reply.
    for s in &mut streams {
        s.write_all(b"QUIT\r\n").unwrap();
        let mut replies = String::new();
        s.read_to_string(&mut replies).unwrap();
        assert!(replies.contains("500 Syntax error: command line too long"), "{}", &replies[..200.min(replies.len())]);
        assert_eq!(replies.matches("200 NOOP ok.").count(), 10_000);
    }
    let peak = kib(proc_status(child.id(), "VmHWM"));
    assert!(peak < before + 32 * 1024, "memory grew from {before} KiB to a peak of {peak} KiB");
    stop(child);
}

/// A connection to `port` from the loopback address `from` (127.0.0.2 and up
/// play other hosts), past its 220 greeting.
fn connect_from(from: std::net::Ipv4Addr, port: u16) -> (TcpStream, BufReader<TcpStream>) {
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

fn kib(field: String) -> u64 {
    field.trim_end_matches(" kB").trim().parse().unwrap()
}

/// 300 clients from 300 addresses send a wrong password in the same instant,
/// each for an unknown name (which costs a dummy argon2 check of 19 MiB, as a
/// real one does). The checks run on a few workers, each reusing its own
/// memory: the server's peak memory stays under 256 MiB (it was 6.9 GB for
/// 200 such logins when every check ran on a thread of its own), every client
/// gets its answer (`530`, or `421` when the queue of checks is full), and
/// the memory goes back near where it was once the workers are idle.
#[test]
fn a_burst_of_wrong_logins_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferroftp.toml");
    let login_section = "[login]\nfailure_delay = 0\nban_after = 0\n";
    std::fs::write(&config, format!("{}{login_section}", user_config("alice", dir.path()))).unwrap();
    let (child, out, port, _) = serve_config(&config, &[]);
    // Hundreds of log lines follow: read them so the server never waits on a full pipe.
    std::thread::spawn(move || out.lines().count());
    let idle = kib(proc_status(child.id(), "VmRSS"));
    let mut clients: Vec<(TcpStream, BufReader<TcpStream>)> = (0..300u32)
        .map(|i| {
            let from = std::net::Ipv4Addr::new(127, 0, 1 + (i / 200) as u8, (i % 200 + 2) as u8);
            let (mut w, mut r) = connect_from(from, port);
            w.write_all(format!("USER nosuch-{i}\r\n").as_bytes()).unwrap();
            assert!(read_reply(&mut r).starts_with("331"));
            (w, r)
        })
        .collect();
    for (w, _) in &mut clients {
        w.write_all(b"PASS wrong\r\n").unwrap();
    }
    let (mut refused, mut busy) = (0, 0);
    for (_, r) in &mut clients {
        let reply = read_reply(r);
        match &reply[..3] {
            "530" => refused += 1,
            "421" => busy += 1,
            _ => panic!("{reply}"),
        }
    }
    let peak = kib(proc_status(child.id(), "VmHWM"));
    assert!(peak < 256 * 1024, "peak memory {peak} KiB (idle: {idle} KiB)");
    assert_eq!(refused + busy, 300);
    assert!(refused >= 64, "only {refused} of 300 checked; {busy} turned away as busy");
    drop(clients);
    // The workers give their memory back after 10 s without work.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut now = kib(proc_status(child.id(), "VmRSS"));
    while now > idle + 24 * 1024 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        now = kib(proc_status(child.id(), "VmRSS"));
    }
    assert!(now <= idle + 24 * 1024, "memory {now} KiB after the burst, {idle} KiB before it (peak {peak} KiB)");
    eprintln!("login burst: idle {idle} KiB, peak {peak} KiB, after {now} KiB; {refused} checked, {busy} busy");
    stop(child);
}

/// `ferroftp bans` lists the addresses banned after failed logins, and lifts
/// a ban, through the control socket.
#[test]
fn bans_are_listed_and_lifted_through_the_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferroftp.toml");
    let login_section = "[login]\nfailure_delay = 0\nban_after = 2\nban_time = \"2h\"\n";
    std::fs::write(&config, format!("{}{login_section}", user_config("alice", dir.path()))).unwrap();
    let socket = dir.path().join("ctl.sock");
    let (child, _out, port, _) = serve_config(&config, &["--control-socket", socket.to_str().unwrap()]);
    let bans = |extra: &[&str]| ferroftp().args(["bans", "--socket"]).arg(&socket).args(extra).output().unwrap();
    let none = bans(&[]);
    assert_eq!(String::from_utf8_lossy(&none.stdout).trim(), "no bans");
    for _ in 0..2 {
        let (mut w, mut r) = connect(port);
        w.write_all(b"USER mallory\r\nPASS guess\r\n").unwrap();
        assert!(read_reply(&mut r).starts_with("331"));
        let _ = read_reply(&mut r);
    }
    let listed = String::from_utf8(bans(&[]).stdout).unwrap();
    assert!(listed.contains("127.0.0.1") && !listed.contains("mallory"), "names are never banned: {listed}");
    assert!(listed.contains("119m") || listed.contains("120m"), "{listed}");
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(read_reply(&mut BufReader::new(stream)).starts_with("421"));
    let lifted = bans(&["--lift", "127.0.0.1"]);
    assert!(lifted.status.success(), "{}", String::from_utf8_lossy(&lifted.stderr));
    assert!(login(port, "alice").starts_with("230 "));
    let again = bans(&["--lift", "127.0.0.1"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not banned"));
    assert_eq!(String::from_utf8(bans(&[]).stdout).unwrap().trim(), "no bans");
    // A name's failures (which slow its further failures down) can be forgotten.
    assert!(bans(&["--lift", "user:mallory"]).status.success());
    let again = bans(&["--lift", "user:mallory"]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("no failed logins"), "{again:?}");
    stop(child);
}
