//! The attack suite: each attack an FTP server meets on the Internet, against
//! the real server on loopback, asserting the refusal while an honest session
//! on the same server goes on working. Addresses 127.0.0.2 and up play the
//! attacker's (or a third party's) hosts; the honest user is on 127.0.0.1.

use crate::common::*;
use ferroftp_server::AnonymousAccess;
use ferroftp_server::limits::{BanTarget, LoginPolicy};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// An honest user's session beside an attack: logged in before the attack
/// starts, it stores and fetches a file round after round until the attack is
/// over, asserting every reply.
struct Honest {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<usize>,
}

impl Honest {
    fn start(srv: &TestServer) -> Honest {
        let mut c = srv.raw_alice();
        c.expect("TYPE I", 200);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut rounds = 0;
            while rounds == 0 || !flag.load(Ordering::Relaxed) {
                let body = format!("honest round {rounds}");
                let (_, done) = c.upload("STOR honest.txt", body.as_bytes());
                assert_eq!(done.code, 226, "honest STOR: {done:?}");
                let (_, bytes, done) = c.data_cmd("RETR honest.txt");
                assert_eq!((bytes, done.code), (body.into_bytes(), 226), "honest RETR");
                rounds += 1;
            }
            c.expect("QUIT", 221);
            rounds
        });
        Honest { stop, thread }
    }

    /// Ends the honest session; fails the test if any of its rounds failed.
    fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let rounds = self.thread.join().expect("the honest session failed while the attack ran");
        assert!(rounds >= 1);
    }
}

fn ip(s: &str) -> std::net::IpAddr {
    s.parse().unwrap()
}

/// True if nothing has connected to `listener` (non-blocking check).
fn nobody_connected(listener: &TcpListener) -> bool {
    listener.set_nonblocking(true).unwrap();
    matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// RFC 2577 §3: PORT/EPRT may not point the server at a third host, nor at a
/// privileged port; nothing connects there.
#[test]
fn bounce_attacks_are_refused() {
    let srv = TestServer::start();
    srv.write("payload.txt", b"USER victim\r\n");
    let honest = Honest::start(&srv);
    // A "victim" service on another host.
    let victim = TcpListener::bind("127.0.0.2:0").unwrap();
    let vport = victim.local_addr().unwrap().port();
    let mut c = srv.raw_alice();
    let r = c.expect(&format!("PORT 127,0,0,2,{},{}", vport >> 8, vport & 0xff), 500);
    assert!(r.text().contains("client's own address"), "{r:?}");
    c.expect(&format!("EPRT |1|127.0.0.2|{vport}|"), 500);
    c.expect("PORT 127,0,0,1,0,25", 504); // SMTP on the client's own host
    c.expect("EPRT |1|127.0.0.1|1023|", 504);
    // No data connection was prepared by any of them.
    let r = c.expect("RETR payload.txt", 425);
    assert!(r.text().contains("PORT, PASV"), "{r:?}");
    assert!(nobody_connected(&victim));
    honest.finish();
}

/// RFC 2577 §8: a passive port is random in its range, only the control
/// connection's host may connect to it, a session has one listener at a time,
/// and an unused one closes after the data timeout.
#[test]
fn passive_port_stealing_is_refused() {
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| {
        c.passive_ports = Some(41000..=41999);
        c.data_timeout = Duration::from_secs(1);
    });
    srv.write("secret.bin", &content(256 * 1024, 7));
    let honest = Honest::start(&srv);
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);

    // Ports are spread over the range, not handed out in sequence.
    let mut ports = Vec::new();
    for _ in 0..12 {
        let r = c.expect("EPSV", 229);
        ports.push(ferroftp_proto::hostport::parse_epsv_reply(&r.text()).unwrap());
    }
    assert!(ports.iter().all(|p| (41000..=41999).contains(p)), "{ports:?}");
    let sequential = ports.windows(2).filter(|w| w[1] == w[0] + 1).count();
    assert!(sequential < 3, "predictable passive ports: {ports:?}");
    // Only the last listener is open.
    let last = *ports.last().unwrap();
    for old in &ports[..ports.len() - 1] {
        if *old != last {
            let e = TcpStream::connect(SocketAddr::new(srv.v4.ip(), *old)).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "port {old} still open");
        }
    }

    // A thief on another host connects first; the real client second.
    let target = SocketAddr::new(srv.v4.ip(), last);
    let mut thief = connect_from(ip("127.0.0.2"), target).unwrap();
    let mut data = TcpStream::connect(target).unwrap();
    c.expect("RETR secret.bin", 150);
    let mut stolen = Vec::new();
    let _ = thief.read_to_end(&mut stolen);
    assert!(stolen.is_empty(), "the thief got {} bytes", stolen.len());
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(sha256(&got), sha256(&content(256 * 1024, 7)));
    c.expect_final(226);

    // A listener nobody uses closes after the data timeout.
    let r = c.expect("EPSV", 229);
    let port = ferroftp_proto::hostport::parse_epsv_reply(&r.text()).unwrap();
    let closed_after = Instant::now();
    let mut refused = false;
    for _ in 0..100 {
        match TcpStream::connect(SocketAddr::new(srv.v4.ip(), port)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    assert!(refused, "the passive listener stayed open");
    assert!(closed_after.elapsed() >= Duration::from_millis(900));
    let r = c.expect("RETR secret.bin", 425);
    assert!(r.text().contains("passive port was closed"), "{r:?}");
    // A transfer command with a listener but no connection: 425 after the timeout.
    let _unused = c.expect("EPSV", 229);
    c.expect("RETR secret.bin", 425);
    honest.finish();
}

fn brute_force_policy() -> LoginPolicy {
    LoginPolicy {
        failure_delay: Duration::from_millis(200),
        max_failure_delay: Duration::from_millis(300),
        ban_after: 3,
        ban_window: Duration::from_secs(60),
        ban_time: Duration::from_secs(600),
        exempt: Vec::new(),
    }
}

/// A failed login from `from`: the reply and how long it took.
fn failed_login(c: &mut Raw, user: &str) -> (Reply, Duration) {
    c.expect(&format!("USER {user}"), 331);
    let start = Instant::now();
    let r = c.cmd("PASS wrong-guess");
    (r, start.elapsed())
}

/// RFC 2577 §4: failures are delayed, more each time; the third bans the
/// address, which then cannot even connect; other addresses are untouched;
/// the ban is listed and can be lifted.
#[test]
fn password_guessing_is_delayed_then_the_address_is_banned() {
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| c.login = brute_force_policy());
    let honest = Honest::start(&srv);
    let mut attacker = Raw::connect_from("127.0.0.2", srv.v4);
    let (r, first) = failed_login(&mut attacker, USER);
    assert_eq!((r.code, r.text()), (530, "Login incorrect.".to_string()));
    assert!(first >= Duration::from_millis(200), "{first:?}");
    let (r, second) = failed_login(&mut attacker, "nobody-here");
    assert_eq!((r.code, r.text()), (530, "Login incorrect.".to_string()), "unknown user reads the same");
    assert!(second >= Duration::from_millis(300), "the delay grows: {second:?}");
    let (r, _) = failed_login(&mut attacker, USER);
    assert_eq!(r.code, 421, "{r:?}");
    assert!(r.text().contains("Too many failed logins"), "{r:?}");
    attacker.wait_closed();

    // The banned address is turned away at once, even with the right password.
    let mut again = Raw::connect_from("127.0.0.2", srv.v4);
    assert_eq!(again.greeting.code, 421, "{:?}", again.greeting);
    again.wait_closed();
    // Another address logs in as usual, as alice too.
    let mut other = Raw::connect_from("127.0.0.3", srv.v4);
    other.login(USER, PASS);
    let bans = srv.handle().bans();
    assert_eq!(bans.len(), 1, "{bans:?}");
    assert_eq!(bans[0].target.to_string(), "address 127.0.0.2");
    assert!(bans[0].remaining > Duration::from_secs(590));

    assert!(srv.handle().lift_ban(&BanTarget::parse("127.0.0.2")));
    let mut after = Raw::connect_from("127.0.0.2", srv.v4);
    assert_eq!(after.greeting.code, 220);
    after.login(USER, PASS);
    honest.finish();
}

/// One name tried from many addresses (a botnet): the name is never banned,
/// so its owner cannot be locked out, but each failure for it waits longer,
/// even from addresses that never failed before; the right password from an
/// address that is not banned logs in at once.
#[test]
fn one_name_guessed_from_many_addresses_slows_down_but_is_never_locked() {
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| {
        c.login = LoginPolicy {
            failure_delay: Duration::from_millis(100),
            max_failure_delay: Duration::from_secs(3),
            ..brute_force_policy()
        };
    });
    let honest = Honest::start(&srv);
    let mut waits = Vec::new();
    for i in 2..7 {
        let mut bot = Raw::connect_from(&format!("127.0.0.{i}"), srv.v4);
        let (r, took) = failed_login(&mut bot, USER);
        assert_eq!(r.code, 530, "{r:?}");
        waits.push(took);
    }
    // Each address fails once, which alone waits 100 ms; the name's count
    // doubles it each time: the fifth waits 1.6 s.
    assert!(waits[4] >= Duration::from_millis(1600), "{waits:?}");
    // The right password, from yet another address, logs in without a delay.
    let mut c = Raw::connect_from("127.0.0.9", srv.v4);
    c.expect(&format!("USER {USER}"), 331);
    let started = Instant::now();
    c.expect(&format!("PASS {PASS}"), 230);
    assert!(started.elapsed() < Duration::from_millis(1000), "{:?}", started.elapsed());
    assert!(srv.handle().bans().is_empty(), "{:?}", srv.handle().bans());
    // Lifting the name forgets its failures: a new address waits its own 100 ms.
    assert!(srv.handle().lift_ban(&BanTarget::parse("user:alice")));
    let mut bot = Raw::connect_from("127.0.0.20", srv.v4);
    let (_, took) = failed_login(&mut bot, USER);
    assert!(took < Duration::from_millis(1600), "{took:?}");
    honest.finish();
}

/// Guesses sent all at once from one address: every attempt counts from the
/// moment it arrives, so no more than `ban_after` of them are ever checked,
/// however many connections send PASS in the same instant; the others are
/// turned away without a check, and the address ends up banned. The right
/// password hidden among them gains nothing.
#[test]
fn guesses_sent_together_get_no_more_checks_than_the_ban_allows() {
    // A configured user with an argon2 hash: each check takes time, which is
    // what guesses sent together used to slip through.
    let toml = format!(
        r#"
[server]
max_connections_per_ip = 1000
[login]
failure_delay = "200ms"
max_failure_delay = "300ms"
ban_after = 3
[users.alice]
password = "{PW_HASH}"
home = "{{root}}"
"#
    );
    let srv = TestServer::from_toml(&toml, &[]);
    let mut sessions: Vec<Raw> = (0..100)
        .map(|_| {
            let mut c = Raw::connect_from("127.0.0.2", srv.v4);
            c.expect("USER alice", 331);
            c
        })
        .collect();
    // Everything is sent before anything is read.
    for (i, c) in sessions.iter_mut().enumerate() {
        let password = if i == 50 { PW.to_string() } else { format!("guess-{i}") };
        c.send(&format!("PASS {password}"));
    }
    let mut checked = 0;
    let mut turned_away = 0;
    for c in &mut sessions {
        let r = c.reply();
        match r.code {
            230 => checked += 1,
            530 if r.text() == "Login incorrect." => checked += 1,
            421 => turned_away += 1,
            _ => panic!("{r:?}"),
        }
    }
    assert!(checked <= 3, "{checked} guesses were checked; the ban allows 3");
    assert_eq!(checked + turned_away, 100);
    assert!(srv.handle().bans().iter().any(|b| b.target.to_string() == "address 127.0.0.2"));
    let again = Raw::connect_from("127.0.0.2", srv.v4);
    assert_eq!(again.greeting.code, 421, "{:?}", again.greeting);
    // Other addresses go on.
    let mut other = Raw::connect_from("127.0.0.3", srv.v4);
    other.login("alice", PW);
}

/// No user enumeration (RFC 2577 §5): an unknown name and a wrong password get
/// the same reply after the same work (a password hash is checked either way).
#[test]
fn unknown_users_cannot_be_told_from_wrong_passwords() {
    let toml = format!(
        r#"
[login]
failure_delay = "100ms"
max_failure_delay = "100ms"
ban_after = 0
[users.alice]
password = "{PW_HASH}"
home = "{{root}}"
"#
    );
    let srv = TestServer::from_toml(&toml, &[]);
    let mut c = srv.raw();
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..3 {
        let (r, t) = failed_login(&mut c, "alice");
        known.push((r.code, r.text(), t));
        let (r, t) = failed_login(&mut c, "mallory");
        unknown.push((r.code, r.text(), t));
    }
    for ((kc, kt, ktime), (uc, ut, utime)) in known.iter().zip(&unknown) {
        assert_eq!((kc, kt), (uc, ut));
        assert!(*ktime >= Duration::from_millis(100) && *utime >= Duration::from_millis(100));
    }
    // The hash check dominates both; medians within a factor of two of each other.
    let median = |v: &Vec<(u16, String, Duration)>| {
        let mut t: Vec<Duration> = v.iter().map(|x| x.2).collect();
        t.sort();
        t[1]
    };
    let (k, u) = (median(&known), median(&unknown));
    assert!(k < u * 2 && u < k * 2, "known {k:?} vs unknown {u:?}");
    c.login("alice", PW);
}

/// No user enumeration for logins given on the command line either
/// (`--user NAME:PASSWORD`): their passwords are hashed when the server
/// starts, so a wrong password costs the same argon2 check as an unknown name
/// (before, it was a plain comparison: 20 ms faster, every time).
#[test]
fn plaintext_users_cost_the_same_check_as_unknown_names() {
    let toml = r#"
[server]
root = "{root}"
[login]
failure_delay = 0
ban_after = 0
"#;
    let srv = TestServer::from_toml_with_users(toml, &[], &[("alice", "secret")], |_| {});
    let mut c = srv.raw();
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..5 {
        for (user, times) in [("alice", &mut known), ("mallory", &mut unknown)] {
            let before = srv.handle().password_check_stats().checked;
            let (r, took) = failed_login(&mut c, user);
            assert_eq!((r.code, r.text()), (530, "Login incorrect.".to_string()), "{user}");
            let checks = srv.handle().password_check_stats().checked - before;
            assert_eq!(checks, 1, "{user}: {checks} argon2 checks for one failed login");
            times.push(took);
        }
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[2], unknown[2]);
    assert!(k < u * 2 && u < k * 2, "known {k:?} vs unknown {u:?}");
    c.login("alice", "secret");
}

/// Slowloris: a client trickling a byte at a time cannot hold a session beyond
/// the login timeout; a logged-in client that stops sending is closed at the
/// idle timeout; a transfer that stops moving is abandoned.
#[test]
fn slow_and_stalled_clients_are_timed_out() {
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| {
        c.login_timeout = Duration::from_secs(1);
        c.stall_timeout = Duration::from_secs(1);
    });
    let honest = Honest::start(&srv);
    let mut slow = Raw::connect_from("127.0.0.2", srv.v4);
    let started = Instant::now();
    let mut closed = false;
    for byte in b"USER aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
        // Writes fail once the server has closed the connection.
        let w = slow.try_send_bytes(&[*byte]);
        if w.is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if started.elapsed() > Duration::from_secs(6) {
            break;
        }
    }
    let r = slow.try_reply();
    assert!(closed || r.is_some(), "still open after {:?}", started.elapsed());
    if let Some(r) = r {
        assert_eq!(r.code, 421, "{r:?}");
        assert!(r.text().contains("Login timeout"), "{r:?}");
    }
    assert!(started.elapsed() < Duration::from_secs(6));

    // An upload that stops sending: 426 after the stall timeout, nothing kept
    // that looks complete.
    let mut c = srv.raw_alice();
    let mut data = c.epsv();
    c.expect("STOR stalled.bin", 150);
    data.write_all(&[1u8; 1000]).unwrap();
    let t = Instant::now();
    let r = c.reply();
    assert_eq!(r.code, 426, "{r:?}");
    assert!(t.elapsed() >= Duration::from_millis(900));
    assert!(!srv.disk_names("").contains(&"stalled.bin".to_string()));
    drop(data);
    c.expect("NOOP", 200);
    honest.finish();
}

/// Floods stay bounded: an endless line, a thousand commands queued behind a
/// transfer; the session still answers afterwards.
#[test]
fn command_floods_are_bounded() {
    let srv = TestServer::start();
    srv.write("big.bin", &content(32 * 1024 * 1024, 3));
    let honest = Honest::start(&srv);
    let mut c = srv.raw_alice();
    let chunk = vec![b'A'; 1024 * 1024];
    for _ in 0..32 {
        c.send_bytes(&chunk);
    }
    c.send_bytes(b"\r\nNOOP\r\n");
    let r = c.reply();
    assert_eq!(r.code, 500, "{r:?}");
    assert!(r.text().contains("too long"), "{r:?}");
    c.expect_final(200);

    // Commands sent while a transfer runs are queued up to a bound (32), then
    // refused at once. The download is larger than the socket buffers, so it
    // cannot end before its data is read, which happens only after the refusals.
    c.expect("TYPE I", 200);
    let mut data = c.epsv();
    c.expect("RETR big.bin", 150);
    let mut burst = String::new();
    for _ in 0..1000 {
        burst.push_str("PWD\r\n");
    }
    c.send_bytes(burst.as_bytes());
    for i in 0..(1000 - 32) {
        let r = c.reply();
        assert_eq!(r.code, 503, "reply {i}: {r:?}");
    }
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), 32 * 1024 * 1024);
    c.expect_final(226);
    for _ in 0..32 {
        c.expect_final(257);
    }
    c.expect("NOOP", 200);
    honest.finish();
}

/// Path tricks: each escape is refused, and names that mislead are not created.
#[test]
fn path_tricks_are_refused() {
    let srv = TestServer::start();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"secret").unwrap();
    srv.write("inside.txt", b"inside");
    let honest = Honest::start(&srv);
    let mut c = srv.raw_alice();
    for path in [
        "..\\..\\..\\etc\\passwd",
        "\u{2215}etc\u{2215}passwd",
        "\u{ff0f}etc\u{ff0f}passwd",
        "\u{ff0e}\u{ff0e}/\u{ff0e}\u{ff0e}/etc/passwd",
        "....//....//etc/passwd",
        "%2e%2e/%2e%2e/etc/passwd",
    ] {
        let _d = c.epsv();
        let r = c.cmd(&format!("RETR {path}"));
        assert_eq!(r.code, 550, "{path:?} -> {r:?}");
    }
    c.send_bytes(b"RETR ../\x00/etc/passwd\r\n");
    assert_eq!(c.reply().code, 501);
    // Overlong names and paths are refused before they reach the disk.
    c.expect(&format!("MKD {}", "n".repeat(256)), 553);
    c.expect(&format!("CWD {}", "d/".repeat(2100)), 553);
    // Names that imitate separators or hide characters are not created.
    for name in ["a\\b", "..\\evil", "\u{2215}..\u{2215}x", "\u{ff0e}\u{ff0e}", "pic\u{202e}gpj.exe", "a\u{200b}b"] {
        let r = c.cmd(&format!("MKD {name}"));
        assert_eq!(r.code, 553, "{name:?} -> {r:?}");
        let (r, _) = c.upload(&format!("STOR {name}"), b"x");
        assert_eq!(r.code, 553, "{name:?} -> {r:?}");
        c.expect("RNFR inside.txt", 350);
        c.expect(&format!("RNTO {name}"), 553);
    }
    let mut names = srv.disk_names("");
    names.retain(|n| n != "honest.txt" && n != ".ferroftp-staging");
    assert_eq!(names, ["inside.txt"]);

    // A symlink swapped between an inside and an outside target while the
    // client reads it: never the outside file (no check-then-open race).
    let root = srv.path("");
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let outside_secret = outside.path().join("secret.txt");
    let flipper = std::thread::spawn(move || {
        let mut n = 0u64;
        while !flag.load(Ordering::Relaxed) {
            let target = if n % 2 == 0 { std::path::PathBuf::from("inside.txt") } else { outside_secret.clone() };
            let tmp = root.join(format!(".flip-{n}"));
            std::os::unix::fs::symlink(&target, &tmp).unwrap();
            std::fs::rename(&tmp, root.join("flip")).unwrap();
            n += 1;
        }
        n
    });
    let mut served = 0;
    for _ in 0..150 {
        let mut data = c.epsv();
        let r = c.cmd("RETR flip");
        if r.code == 150 {
            let mut got = Vec::new();
            data.read_to_end(&mut got).unwrap();
            assert_eq!(got, b"inside", "the outside file leaked");
            c.expect_final(226);
            served += 1;
        } else {
            assert_eq!(r.code, 550, "{r:?}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    assert!(flips > 10 && served > 0, "flips {flips}, served {served}");
    honest.finish();
}

/// A folder shared with the README's `staff` rights (list, read, write,
/// append, rename, mkdir: no delete) and a user with list, read and append.
fn no_delete_server() -> TestServer {
    let toml = format!(
        r#"
[users.staff]
password = "{PW_HASH}"
[users.staff.folders]
"/" = {{ path = "{{root}}", rights = ["list", "read", "write", "append", "rename", "mkdir"] }}
[users.appender]
password = "{PW_HASH}"
[users.appender.folders]
"/" = {{ path = "{{root}}", rights = ["list", "read", "append"] }}
"#
    );
    TestServer::from_toml(&toml, &[])
}

/// Users without the `delete` right cannot destroy or replace stored bytes,
/// whichever command they try: renaming onto a file, storing over it,
/// restarting below its size (with an empty upload, which once cut a file to
/// one byte). Appending (REST at exactly the size, or APPE) works. The check
/// is on the bytes on disk after every attempt.
#[test]
fn users_without_delete_cannot_destroy_files() {
    let srv = no_delete_server();
    let victim = content(5000, 77);
    let reset = |srv: &TestServer| {
        srv.write("victim", &victim);
        srv.write("junk", b"junk");
    };
    reset(&srv);
    let mut c = srv.raw();
    c.login("staff", PW);
    c.expect("TYPE I", 200);
    c.expect("RNFR junk", 350);
    let r = c.expect("RNTO victim", 550);
    assert!(r.text().contains("/victim exists") && r.text().contains("'delete'"), "{r:?}");
    assert_eq!(srv.read("victim"), victim);
    assert_eq!(srv.read("junk"), b"junk");
    // The data connection is set up before REST (as lftp does), then the
    // command runs with nothing sent: an empty upload from the offset.
    for (rest, command) in
        [(None, "STOR victim"), (Some(1), "STOR victim"), (Some(1), "APPE victim"), (Some(0), "STOR victim")]
    {
        let _data = c.epsv();
        if let Some(offset) = rest {
            c.expect(&format!("REST {offset}"), 350);
        }
        let r = c.cmd(command);
        assert_eq!(r.code, 550, "REST {rest:?} {command}: {r:?}");
        assert!(r.text().contains("no 'delete' right"), "REST {rest:?} {command}: {r:?}");
        assert_eq!(srv.read("victim"), victim, "REST {rest:?} {command} changed the file");
    }
    // New names still work, and appends do.
    assert_eq!(c.upload("STOR fresh", b"new").1.code, 226);
    c.expect("REST 5000", 350);
    assert_eq!(c.upload("STOR victim", b"+tail").1.code, 226);
    let mut longer = victim.clone();
    longer.extend_from_slice(b"+tail");
    assert_eq!(srv.read("victim"), longer);
    c.expect("RNFR junk", 350);
    c.expect("RNTO renamed", 250);

    // A user with list, read and append: no cut, no replace; appends only.
    reset(&srv);
    let mut a = srv.raw();
    a.login("appender", PW);
    a.expect("TYPE I", 200);
    let _data = a.epsv();
    a.expect("REST 1", 350);
    assert_eq!(a.cmd("APPE victim").code, 550);
    assert_eq!(a.upload("STOR other", b"x").0.code, 550, "no write: no new file");
    assert_eq!(srv.read("victim"), victim);
    assert_eq!(a.upload("APPE victim", b"!").1.code, 226);
    assert_eq!(srv.read("victim").len(), 5001);
}

/// Anonymous writers may add files and folders, nothing else: no CHMOD, no
/// MFMT on what exists (they may date their own uploads of this session).
/// For everyone, CHMOD needs its own right, never sets setuid, setgid or
/// sticky bits, and never applies to the root or a mount point.
#[test]
fn chmod_and_mfmt_cannot_change_what_is_not_yours() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let srv = TestServer::start_with(AnonymousAccess::Write, |_| {});
    srv.write("others.txt", b"someone else's");
    let mode = |p: &str| std::fs::metadata(srv.path(p)).unwrap().permissions().mode() & 0o7777;
    let mtime = |p: &str| std::fs::metadata(srv.path(p)).unwrap().mtime();
    let (root_mode, file_mode, file_time) = (mode(""), mode("others.txt"), mtime("others.txt"));
    let mut anon = srv.raw();
    anon.login("anonymous", "guest@");
    anon.expect("TYPE I", 200);
    for cmd in ["SITE CHMOD 000 others.txt", "SITE CHMOD 4777 others.txt", "SITE CHMOD 0700 /", "SITE CHMOD 0700 ."] {
        let r = anon.expect(cmd, 550);
        assert!(r.text().contains("'chmod'"), "{cmd}: {r:?}");
    }
    let r = anon.expect("MFMT 19700101000000 others.txt", 550);
    assert!(r.text().contains("'delete'"), "{r:?}");
    assert_eq!((mode(""), mode("others.txt"), mtime("others.txt")), (root_mode, file_mode, file_time));
    // Its own upload of this session it may date (lftp mirror -R does),
    // where the file system tells that file from a later one on its inode:
    // by its birth time.
    assert_eq!(anon.upload("STOR mine.txt", b"mine").1.code, 226);
    if std::fs::metadata(srv.path("mine.txt")).unwrap().created().is_ok() {
        anon.expect("MFMT 20200102030405 mine.txt", 213);
        assert_eq!(mtime("mine.txt"), 1_577_934_245);
    } else {
        anon.expect("MFMT 20200102030405 mine.txt", 550);
    }
    // Another anonymous session may not.
    let mut other = srv.raw();
    other.login("anonymous", "other@");
    other.expect("MFMT 19700101000000 mine.txt", 550);
    // Nor, once someone else's file took its name (and, here, its inode),
    // the session that stored it.
    std::fs::remove_file(srv.path("mine.txt")).unwrap();
    srv.write("mine.txt", b"theirs now");
    anon.expect("MFMT 19700101000000 mine.txt", 550);

    // A user with every right: no setuid, setgid or sticky, not on the root.
    let mut alice = srv.raw_alice();
    for bits in ["4755", "2755", "1777", "7777"] {
        let r = alice.expect(&format!("SITE CHMOD {bits} others.txt"), 550);
        assert!(r.text().contains("setuid"), "{r:?}");
    }
    alice.expect("SITE CHMOD 0700 /", 550);
    assert_eq!((mode(""), mode("others.txt")), (root_mode, file_mode));
    alice.expect("SITE CHMOD 0640 others.txt", 200);
    assert_eq!(mode("others.txt"), 0o640);
    alice.expect("MFMT 19700101000000 others.txt", 213);

    // Mount points are not changed either.
    let toml = format!(
        r#"
[users.u]
password = "{PW_HASH}"
[users.u.folders]
"/" = {{ path = "{{root}}/home", rights = "all" }}
"/shared" = {{ path = "{{root}}/shared", rights = "all" }}
"#
    );
    let srv = TestServer::from_toml(&toml, &["home", "shared"]);
    let mut u = srv.raw();
    u.login("u", PW);
    let before = std::fs::metadata(srv.path("shared")).unwrap().permissions().mode();
    u.expect("SITE CHMOD 0777 /shared", 550);
    assert_eq!(std::fs::metadata(srv.path("shared")).unwrap().permissions().mode(), before);
}

/// Create-only at the moment of the rename: an anonymous upload that began
/// before alice stored the same name does not replace her file when it ends
/// (553); raced a few dozen times, anonymous never replaces anything.
#[test]
fn an_upload_never_replaces_a_file_that_appeared_after_it_started() {
    let srv = TestServer::start_with(AnonymousAccess::Write, |_| {});
    let mut anon = srv.raw();
    anon.login("anonymous", "guest@");
    anon.expect("TYPE I", 200);
    let mut alice = srv.raw_alice();
    alice.expect("TYPE I", 200);
    let mut slow = anon.epsv();
    anon.expect("STOR report.pdf", 150);
    slow.write_all(b"anonymous junk").unwrap();
    assert_eq!(alice.upload("STOR report.pdf", b"alice's report").1.code, 226);
    drop(slow);
    let r = anon.reply();
    assert_eq!(r.code, 553, "{r:?}");
    assert!(r.text().contains("while this upload ran"), "{r:?}");
    assert_eq!(srv.read("report.pdf"), b"alice's report");

    // The same race, left to the scheduler.
    for round in 0..30 {
        let name = format!("race-{round}.bin");
        let mut data = anon.epsv();
        anon.expect(&format!("STOR {name}"), 150);
        let body = format!("alice {round}");
        let racer = {
            let mut alice = srv.raw_alice();
            let (name, body) = (name.clone(), body.clone());
            std::thread::spawn(move || assert_eq!(alice.upload(&format!("STOR {name}"), body.as_bytes()).1.code, 226))
        };
        data.write_all(b"anonymous").unwrap();
        drop(data);
        let anon_reply = anon.reply();
        racer.join().unwrap();
        // Anonymous either came first (and alice, who may delete, replaced it) or got 553.
        assert!(matches!(anon_reply.code, 226 | 553), "{anon_reply:?}");
        assert_eq!(srv.read(&name), body.as_bytes(), "round {round}: anonymous replaced alice's file");
    }
}

/// A client killed mid-upload closes both its connections at once: the data
/// connection's end then looks like the end of the file. The upload must not
/// replace the complete file with a partial one (16 of 60 curl deaths did).
/// Each round kills an upload over a 4 MiB file after 1 to 3 MiB, the data
/// connection first (the order that let the old server commit); the file
/// stays whole, and what arrived stays staged to be resumed.
#[test]
fn a_client_killed_mid_upload_never_replaces_the_file() {
    let srv = TestServer::start();
    let original = content(4 << 20, 9);
    let replacement = content(4 << 20, 10);
    srv.write("victim.bin", &original);
    for round in 0..100 {
        let mut c = srv.raw_alice();
        c.expect("TYPE I", 200);
        let mut data = c.epsv();
        c.expect("STOR victim.bin", 150);
        let sent = (1 + round % 3) << 20;
        data.write_all(&replacement[..sent]).unwrap();
        // As the kernel does for a killed process: both closed at once.
        drop(data);
        drop(c);
        wait_uploads_ended(&srv.path(""));
        assert!(srv.read("victim.bin") == original, "round {round}: a partial upload replaced the file");
    }
    // What arrived of the last round waits for alice to resume it (SIZE
    // says how much; the complete file's size if nothing arrived in time).
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    let staged: usize = c.expect("SIZE victim.bin", 213).text().parse().unwrap();
    let staged = if staged == original.len() { 0 } else { staged };
    assert!(staged <= 1 << 20, "{staged} bytes staged of the last round's 1 MiB");
    c.expect(&format!("REST {staged}"), 350);
    assert_eq!(c.upload("STOR victim.bin", &replacement[staged..]).1.code, 226);
    assert!(srv.read("victim.bin") == replacement);
}

/// REST 4096 / EPSV / STOR must write from 4096, not rewrite the file from 0
/// (the marker was lost when PASV, EPSV, PORT, EPRT or TYPE came between).
#[test]
fn a_restart_marker_survives_the_data_connection_setup() {
    let srv = TestServer::start();
    let data = content(8192, 3);
    srv.write("f.bin", &data);
    let mut c = srv.raw_alice();
    c.expect("REST 4096", 350);
    c.expect("TYPE I", 200);
    let (_, done) = c.upload("STOR f.bin", b"tail");
    assert_eq!(done.code, 226);
    let mut expected = data[..4096].to_vec();
    expected.extend_from_slice(b"tail");
    assert_eq!(srv.read("f.bin"), expected);
}

/// The staging of uploads is out of the users' namespace: its names are
/// refused for every command and never listed, and a target name of any
/// length up to 255 bytes works (the staged name does not grow with it).
#[test]
fn staging_is_out_of_reach_and_names_of_any_length_work() {
    let srv = TestServer::start();
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    // Something staged: an interrupted upload.
    let mut data = c.epsv();
    c.expect("STOR big.bin", 150);
    data.write_all(&content(100_000, 1)).unwrap();
    socket2::SockRef::from(&data).set_linger(Some(Duration::ZERO)).unwrap();
    drop(data);
    assert_eq!(c.reply().code, 426);
    assert!(srv.path(".ferroftp-staging").is_dir());
    let (r, _) = c.upload("STOR .ferroftp-upload-x", b"hidden?");
    assert_eq!(r.code, 553, "{r:?}");
    for cmd in [
        "CWD .ferroftp-staging",
        "RETR .ferroftp-staging/x",
        "DELE .ferroftp-staging",
        "MKD .ferroftp-x",
        "SIZE .ferroftp-staging",
        "RMD /.ferroftp-staging",
    ] {
        let _d = c.epsv();
        let r = c.cmd(cmd);
        assert_eq!(r.code, 553, "{cmd}: {r:?}");
        assert!(r.text().contains("reserved"), "{cmd}: {r:?}");
    }
    for list in ["NLST -a", "LIST -a", "MLSD"] {
        let lines = c.listing(list);
        assert!(lines.iter().all(|l| !l.contains(".ferroftp")), "{list}: {lines:?}");
    }
    for len in [221, 222, 240, 255] {
        let name = "n".repeat(len);
        let (_, done) = c.upload(&format!("STOR {name}"), b"long name");
        assert_eq!(done.code, 226, "{len}: {done:?}");
        assert_eq!(srv.read(&name), b"long name");
    }
}

/// Slow uploads do not hold resources forever: under the minimum rate for a
/// window of network time the transfer ends with 426 (what arrived is kept to
/// resume). A transfer slowed by a speed limit is not "slow". One address
/// cannot open more than the default 64 sessions.
#[test]
fn slow_transfers_end_and_one_address_cannot_take_every_session() {
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| {
        c.min_transfer_rate = 1024;
        c.min_rate_window = Duration::from_secs(2);
        c.max_connections_per_ip = ferroftp_server::config::ServerConfig::default().max_connections_per_ip;
    });
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    let mut data = c.epsv();
    c.expect("STOR trickle.bin", 150);
    let started = Instant::now();
    let mut ended = None;
    // One byte every 250 ms (4 bytes/s), bounded at 20 s.
    while started.elapsed() < Duration::from_secs(20) {
        if data.write_all(b"x").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
        if started.elapsed() > Duration::from_secs(2) {
            c.send("NOOP");
            let r = c.reply();
            if r.code != 200 {
                ended = Some(r);
                break;
            }
        }
    }
    let r = ended.expect("the trickling upload was still running after 20 s");
    assert_eq!(r.code, 426, "{r:?}");
    assert!(r.text().contains("too slow"), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    drop(data);

    // A throttled upload at 2 KiB/s moves along under its limit: it is not cut off.
    let throttled = TestServer::start_with(AnonymousAccess::Read, |c| {
        c.min_transfer_rate = 64 * 1024;
        c.min_rate_window = Duration::from_secs(1);
        c.upload_limit = Some(16 * 1024);
    });
    let mut t = throttled.raw_alice();
    t.expect("TYPE I", 200);
    let body = content(48 * 1024, 4);
    let (_, done) = t.upload("STOR limited.bin", &body);
    assert_eq!(done.code, 226, "{done:?}");

    // 64 sessions from one address; the 65th is told why.
    let mut held = Vec::new();
    for _ in 0..64 {
        held.push(Raw::connect_from("127.0.0.5", srv.v4));
    }
    assert!(held.iter().all(|r| r.greeting.code == 220));
    let refused = Raw::connect_from("127.0.0.5", srv.v4);
    assert_eq!(refused.greeting.code, 421, "{:?}", refused.greeting);
    assert!(refused.greeting.text().contains("from your address"), "{:?}", refused.greeting);
    let other = Raw::connect_from("127.0.0.6", srv.v4);
    assert_eq!(other.greeting.code, 220);
}

/// A server whose user `q` has a quota of `quota` and keeps interrupted uploads.
fn quota_server(quota: &str) -> TestServer {
    let toml = format!(
        r#"
[server]
max_connections_per_ip = 1000
[users.q]
password = "{PW_HASH}"
home = "{{root}}"
quota = {{ bytes = "{quota}" }}
"#
    );
    TestServer::from_toml(&toml, &[])
}

/// Starts an upload of `name` as `c`, sends `bytes`, waits until the server
/// has staged some, and resets the data connection: an interrupted upload.
fn interrupt_upload(srv: &TestServer, c: &mut Raw, name: &str, bytes: &[u8]) {
    let mut data = c.epsv();
    c.expect(&format!("STOR {name}"), 150);
    data.write_all(bytes).unwrap();
    wait_staged_bytes(&srv.path(""), bytes.len() as u64);
    socket2::SockRef::from(&data).set_linger(Some(Duration::ZERO)).unwrap();
    drop(data);
    assert_eq!(c.reply().code, 426);
}

/// A quota cannot be got round with uploads that fail to start: an upload
/// that is refused (450, the staged file busy in another session) changes
/// nothing in the count, however often it is tried.
#[test]
fn failed_uploads_do_not_lower_the_quota_count() {
    let srv = quota_server("2 MiB");
    let staged = content(200_000, 1);
    let mut a = srv.raw();
    a.login("q", PW);
    a.expect("TYPE I", 200);
    interrupt_upload(&srv, &mut a, "big.bin", &staged);
    // Session a continues it and holds it; session b tries again and again.
    let mut held = a.epsv();
    a.expect("APPE big.bin", 150);
    held.write_all(b"x").unwrap();
    let mut b = srv.raw();
    b.login("q", PW);
    b.expect("TYPE I", 200);
    for _ in 0..4 {
        let _d = b.epsv();
        let r = b.cmd("STOR big.bin");
        assert_eq!(r.code, 450, "{r:?}");
    }
    // 200,001 bytes staged: a file of what is left plus a little does not fit.
    let too_much = content(2 * 1024 * 1024 - 200_001 + 1000, 2);
    let (_, done) = b.upload("STOR other.bin", &too_much);
    assert_eq!(done.code, 552, "{done:?}");
    drop(held);
    assert_eq!(a.reply().code, 226);
}

/// An upload that continues an interrupted one and then hits the quota goes
/// back to where it began: what was staged before stays (and stays counted,
/// no more), so it can still be resumed.
#[test]
fn a_continued_upload_over_quota_keeps_what_was_staged_before() {
    let srv = quota_server("256 KiB");
    let mut c = srv.raw();
    c.login("q", PW);
    c.expect("TYPE I", 200);
    interrupt_upload(&srv, &mut c, "f.bin", &content(100_000, 3));
    let staged: u64 = c.expect("SIZE f.bin", 213).text().parse().unwrap();
    assert_eq!(staged, 100_000);
    let (_, done) = c.upload("APPE f.bin", &content(200_000, 4));
    assert_eq!(done.code, 552, "{done:?}");
    assert_eq!(c.expect("SIZE f.bin", 213).text(), "100000", "cut back to what was staged before");
    // Exactly what is staged is counted: what is left of the quota fits.
    let (_, done) = c.upload("STOR g.bin", &content(256 * 1024 - 100_000 - 10, 5));
    assert_eq!(done.code, 226, "{done:?}");
}

/// A folder that looks empty can be removed, also when it held uploads (the
/// staging folder stays between them) or interrupted ones, which go with it.
/// A renamed folder's interrupted uploads still expire.
#[test]
fn folders_that_look_empty_are_removed_and_renamed_ones_still_sweep() {
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| c.keep_partial_uploads = Duration::from_secs(1));
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    c.expect("MKD d", 257);
    assert_eq!(c.upload("STOR d/f", b"x").1.code, 226);
    c.expect("DELE d/f", 250);
    assert!(c.listing("NLST -a d").is_empty());
    c.expect("RMD d", 250);
    assert!(!srv.path("d").exists());
    // An interrupted upload in a folder that is then renamed: it expires where it went.
    c.expect("MKD a", 257);
    let mut data = c.epsv();
    c.expect("STOR a/part.bin", 150);
    data.write_all(&content(50_000, 6)).unwrap();
    wait_staged_bytes(&srv.path("a"), 50_000);
    socket2::SockRef::from(&data).set_linger(Some(Duration::ZERO)).unwrap();
    drop(data);
    assert_eq!(c.reply().code, 426);
    c.expect("RNFR a", 350);
    c.expect("RNTO b", 250);
    let deadline = Instant::now() + Duration::from_secs(20);
    while srv.path("b/.ferroftp-staging").exists() {
        assert!(Instant::now() < deadline, "the renamed folder's interrupted upload never expired");
        std::thread::sleep(Duration::from_millis(50));
    }
    c.expect("RMD b", 250);
}

/// A client that sends QUIT right after its upload's data, without waiting
/// for 226, and closes: the upload is stored (it was complete, and the client
/// said goodbye), and it gets 226 and 221 if it still listens.
#[test]
fn quit_sent_before_226_still_stores_the_upload() {
    let srv = TestServer::start();
    for round in 0..10 {
        let mut c = srv.raw_alice();
        c.expect("TYPE I", 200);
        let mut data = c.epsv();
        let name = format!("quit-{round}.bin");
        c.expect(&format!("STOR {name}"), 150);
        let body = content(1 << 20, round);
        data.write_all(&body).unwrap();
        drop(data);
        c.send("QUIT");
        c.shutdown_write();
        let (first, second) = (c.reply(), c.reply());
        assert_eq!((first.code, second.code), (226, 221), "round {round}: {first:?} {second:?}");
        assert!(srv.read(&name) == body, "round {round}");
    }
}

/// Small uploads from a client that is there are never refused as if it had
/// left, whatever order the session sees the transfer's events in (with the
/// flush off, the data is often complete before 150 goes out).
#[test]
fn small_uploads_from_a_client_that_is_there_are_stored() {
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| c.sync_uploads = false);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let mut c = srv.raw_alice();
            std::thread::spawn(move || {
                c.expect("TYPE I", 200);
                for i in 0..250 {
                    // The data is sent and the connection closed before STOR.
                    let mut data = c.epsv();
                    data.write_all(b"tiny").unwrap();
                    drop(data);
                    let r = c.cmd(&format!("STOR t{t}-{i}"));
                    assert_eq!(r.code, 150, "{r:?}");
                    let done = c.reply();
                    assert_eq!(done.code, 226, "upload {t}-{i}: {done:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(srv.visible_names("").len(), 1000);
}

/// `USER` answers an unknown name as it answers a user with the default
/// settings: with `[defaults] tls = "required"` both are told TLS is
/// required, so names cannot be listed by their TLS requirement (before, an
/// unknown name got 331 and a known one 530).
#[test]
fn user_names_cannot_be_probed_by_their_tls_requirement() {
    let toml = format!(
        r#"
[tls]
mode = "optional"
[defaults]
tls = "required"
[users.alice]
password = "{PW_HASH}"
home = "{{root}}"
"#
    );
    let (settings, _) = crate::common::tls_settings();
    let srv = TestServer::from_toml_with(&toml, &[], |c| c.tls = Some(settings));
    let mut c = srv.raw();
    let known = c.cmd("USER alice");
    let unknown = c.cmd("USER nosuch-name");
    assert_eq!((known.code, known.text()), (unknown.code, unknown.text()), "known {known:?}, unknown {unknown:?}");
    assert_eq!(known.code, 530);
}

/// Interrupted uploads that expire go back to the quota that counted them and
/// to no other: a user without a quota writing into a folder another user's
/// quota covers does not raise that quota (before, each expiry did).
#[test]
fn expired_uploads_go_back_only_to_the_quota_that_counted_them() {
    let toml = format!(
        r#"
[server]
keep_partial_uploads = "1s"
[users.qq]
password = "{PW_HASH}"
home = "{{root}}"
quota = {{ bytes = "100 KiB" }}
[users.zed]
password = "{PW_HASH}"
home = "{{root}}"
"#
    );
    let srv = TestServer::from_toml(&toml, &[]);
    let mut qq = srv.raw();
    qq.login("qq", PW);
    qq.expect("TYPE I", 200);
    assert_eq!(qq.upload("STOR mine.bin", &content(60 * 1024, 1)).1.code, 226);
    let mut zed = srv.raw();
    zed.login("zed", PW);
    zed.expect("TYPE I", 200);
    for round in 0..2 {
        interrupt_upload(&srv, &mut zed, &format!("z{round}.bin"), &content(50_000, 2));
        let deadline = Instant::now() + Duration::from_secs(20);
        while !srv.staged("").is_empty() {
            assert!(Instant::now() < deadline, "the interrupted upload did not expire");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // qq still has 60 KiB of 100 counted: 50 KiB more do not fit.
    let (_, done) = qq.upload("STOR more.bin", &content(50 * 1024, 3));
    assert_eq!(done.code, 552, "{done:?}");
}
