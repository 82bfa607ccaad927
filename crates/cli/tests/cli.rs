//! The `ferroftp` binary as a newcomer meets it: help, version, errors, and a
//! real `serve` that answers FTP and stops cleanly on SIGTERM.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

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
