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
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| c.login = brute_force_policy());
    let honest = Honest::start(&srv);
    let mut waits = Vec::new();
    for i in 2..7 {
        let mut bot = Raw::connect_from(&format!("127.0.0.{i}"), srv.v4);
        let (r, took) = failed_login(&mut bot, USER);
        assert_eq!(r.code, 530, "{r:?}");
        waits.push(took);
    }
    // A fresh address's first failure waits failure_delay (200 ms); the
    // name's count makes later ones wait the maximum (300 ms).
    assert!(waits[1..].iter().all(|w| *w >= Duration::from_millis(300)), "{waits:?}");
    // The right password, from yet another address, logs in at once.
    let mut c = Raw::connect_from("127.0.0.9", srv.v4);
    c.expect(&format!("USER {USER}"), 331);
    let started = Instant::now();
    c.expect(&format!("PASS {PASS}"), 230);
    assert!(started.elapsed() < Duration::from_millis(200), "{:?}", started.elapsed());
    assert!(srv.handle().bans().is_empty(), "{:?}", srv.handle().bans());
    // Lifting the name forgets its failures.
    assert!(srv.handle().lift_ban(&BanTarget::parse("user:alice")));
    let mut bot = Raw::connect_from("127.0.0.20", srv.v4);
    let (_, took) = failed_login(&mut bot, USER);
    assert!(took < Duration::from_millis(300), "{took:?}");
    honest.finish();
}

/// Guesses sent all at once from one address: every attempt counts from the
/// moment it arrives, so no more than `ban_after` of them are ever checked,
/// however many connections send PASS in the same instant; the others are
/// turned away without a check, and the address ends up banned. The right
/// password hidden among them gains nothing.
#[test]
fn guesses_sent_together_get_no_more_checks_than_the_ban_allows() {
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| {
        c.login = brute_force_policy();
        c.max_connections_per_ip = None;
    });
    let honest = Honest::start(&srv);
    let mut sessions: Vec<Raw> = (0..100)
        .map(|_| {
            let mut c = Raw::connect_from("127.0.0.2", srv.v4);
            c.expect(&format!("USER {USER}"), 331);
            c
        })
        .collect();
    // Everything is sent before anything is read.
    for (i, c) in sessions.iter_mut().enumerate() {
        let password = if i == 50 { PASS.to_string() } else { format!("guess-{i}") };
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
    honest.finish();
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
