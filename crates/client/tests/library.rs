//! The client library against the ferroftp server in-process (and a scripted
//! fake server for failures): every call, both data modes, TLS with session
//! reuse required, resume, keep-alive, checksums, FXP.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;
use ferroftp_client::fxp::{self, FxpOutcome};
use ferroftp_client::{
    ClientError, ConnectOptions, DataMode, FileKind, FtpUrl, Security, Session, StoreMode, TransferType, Verify,
};
use std::time::{Duration, SystemTime};

fn options(addr: std::net::SocketAddr) -> ConnectOptions {
    let mut o = ConnectOptions::new(addr.ip().to_string(), addr.port());
    o.timeout = Duration::from_secs(30);
    o
}

async fn alice(srv: &TestServer) -> Session {
    let url = FtpUrl::parse(&srv.url("")).expect("url");
    Session::open(&url, &options(srv.addr)).await.expect("login")
}

async fn get(s: &mut Session, path: &str) -> Vec<u8> {
    let mut out = Vec::new();
    s.retrieve(path, 0, &mut out, &mut |_| {}).await.expect("retrieve");
    out
}

async fn put(s: &mut Session, path: &str, bytes: &[u8]) {
    s.store(path, StoreMode::Replace, &mut &bytes[..], &mut |_| {}).await.expect("store");
}

#[tokio::test]
async fn every_single_reply_command() {
    let srv = TestServer::start();
    srv.write("docs/a.txt", b"hello");
    let mut s = alice(&srv).await;
    assert_eq!(s.welcome().code.0, 220);
    assert_eq!(s.user(), Some(USER));
    assert!(s.features().has("MLST") && s.features().has("MFMT") && s.features().has("HASH"));
    assert_eq!(s.pwd().await.unwrap(), "/");
    s.cwd("docs").await.unwrap();
    assert_eq!(s.pwd().await.unwrap(), "/docs");
    s.cdup().await.unwrap();
    assert_eq!(s.mkdir("new \"quoted\" dir").await.unwrap(), "/new \"quoted\" dir");
    s.rmdir("new \"quoted\" dir").await.unwrap();
    assert!(!srv.path("new \"quoted\" dir").exists());
    assert_eq!(s.size("docs/a.txt").await.unwrap(), 5);
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    s.set_mtime("docs/a.txt", when).await.unwrap();
    assert_eq!(s.mdtm("docs/a.txt").await.unwrap(), when);
    assert_eq!(std::fs::metadata(srv.path("docs/a.txt")).unwrap().modified().unwrap(), when);
    let (alg, digest) = s.checksum("docs/a.txt").await.unwrap().expect("server offers HASH");
    assert_eq!(alg, ferroftp_client::HashAlgorithm::Sha256);
    assert_eq!(digest, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    s.rename("docs/a.txt", "docs/b.txt").await.unwrap();
    assert!(srv.path("docs/b.txt").exists() && !srv.path("docs/a.txt").exists());
    s.site("CHMOD 600 docs/b.txt").await.unwrap();
    s.noop().await.unwrap();
    assert!(s.system().await.unwrap().contains("UNIX"));
    assert_eq!(s.status(None).await.unwrap().code.0, 211);
    let entry = s.mlst("docs/b.txt").await.unwrap();
    assert_eq!((entry.kind, entry.size, entry.mode), (FileKind::File, 5, 0o600));
    s.delete("docs/b.txt").await.unwrap();
    assert!(!srv.path("docs/b.txt").exists());
    // Errors carry the command, code and text; the session goes on.
    let e = s.size("missing").await.unwrap_err();
    assert_eq!(e.code(), Some(550), "{e}");
    assert!(e.to_string().starts_with("SIZE missing: 550"), "{e}");
    assert!(matches!(s.quote("FROB").await.unwrap().code.0, 500 | 502));
    s.quit().await.unwrap();
}

#[tokio::test]
async fn listings_mlsd_list_nlst() {
    let srv = TestServer::start();
    srv.write("d/one.txt", b"1");
    srv.write("d/sub/two.bin", &[0; 300]);
    srv.write("d/ünï cødé.txt", b"abc");
    let mut s = alice(&srv).await;
    let listing = s.read_dir(Some("d")).await.unwrap();
    assert!(listing.unparsed.is_empty());
    let mut names: Vec<_> = listing.entries.iter().map(|e| (e.name.as_str(), e.kind, e.size)).collect();
    names.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(names[0], ("one.txt", FileKind::File, 1));
    assert_eq!(names[1].0, "sub");
    assert_eq!(names[1].1, FileKind::Dir);
    assert_eq!(names[2], ("ünï cødé.txt", FileKind::File, 3));
    // LIST parsed by the Unix parser gives the same names.
    let lines = s.list(Some("d")).await.unwrap();
    let parsed = ferroftp_client::listing::parse_listing(&lines, SystemTime::now());
    let mut list_names: Vec<_> = parsed.entries.iter().map(|e| e.name.as_str()).collect();
    list_names.sort();
    assert_eq!(list_names, ["one.txt", "sub", "ünï cødé.txt"]);
    assert!(parsed.unparsed.is_empty(), "{:?}", parsed.unparsed);
    let mut nlst = s.nlst(Some("d")).await.unwrap();
    nlst.sort();
    assert_eq!(nlst.len(), 3);
    assert!(nlst.iter().any(|n| n.ends_with("ünï cødé.txt")));
}

async fn round_trip(mode: DataMode, size: usize) {
    let srv = TestServer::start();
    let mut s = alice(&srv).await;
    s.set_data_mode(mode);
    let data = content(size, size as u64);
    let mut seen = 0;
    let sent = s.store("up.bin", StoreMode::Replace, &mut &data[..], &mut |n| seen = n).await.unwrap();
    assert_eq!((sent, seen), (size as u64, size as u64));
    assert!(srv.read("up.bin") == data, "upload differs");
    assert!(get(&mut s, "up.bin").await == data, "download differs");
}

#[tokio::test]
async fn passive_transfers_of_odd_sizes() {
    for size in [0, 1, 65_537, 3 * 1024 * 1024 + 7] {
        round_trip(DataMode::Passive, size).await;
    }
}

#[tokio::test]
async fn active_transfers_eprt() {
    round_trip(DataMode::Active, 1_000_003).await;
}

#[tokio::test]
async fn ipv6_passive_and_active() {
    let srv = TestServer::start();
    let Some(v6) = srv.v6 else { return };
    let mut s = Session::connect(&options(v6)).await.unwrap();
    s.login(USER, PASS).await.unwrap();
    s.set_type(TransferType::Binary).await.unwrap();
    for mode in [DataMode::Passive, DataMode::Active] {
        s.set_data_mode(mode);
        put(&mut s, "v6.bin", b"over IPv6").await;
        assert_eq!(get(&mut s, "v6.bin").await, b"over IPv6");
    }
}

#[tokio::test]
async fn ascii_type_converts_line_ends() {
    let srv = TestServer::start();
    let mut s = alice(&srv).await;
    s.set_type(TransferType::Ascii).await.unwrap();
    put(&mut s, "text.txt", b"one\ntwo\n").await;
    // The server stores its own convention (LF), and gives LF back after decoding.
    assert_eq!(srv.read("text.txt"), b"one\ntwo\n");
    assert_eq!(get(&mut s, "text.txt").await, b"one\ntwo\n");
    s.set_type(TransferType::Binary).await.unwrap();
    assert_eq!(s.transfer_type(), Some(TransferType::Binary));
}

#[tokio::test]
async fn resume_download_and_upload() {
    let srv = TestServer::start();
    let data = content(2_000_000, 7);
    srv.write("big.bin", &data);
    let mut s = alice(&srv).await;
    // Download: the first 1,234,567 bytes are already here.
    let mut out = data[..1_234_567].to_vec();
    let got = s.retrieve("big.bin", 1_234_567, &mut out, &mut |_| {}).await.unwrap();
    assert_eq!(got, (2_000_000 - 1_234_567) as u64);
    assert!(out == data);
    // Upload: the server has a prefix; APPE sends the rest.
    srv.write("up.bin", &data[..777_777]);
    let have = s.size("up.bin").await.unwrap();
    assert_eq!(have, 777_777);
    s.store("up.bin", StoreMode::Append, &mut &data[have as usize..], &mut |_| {}).await.unwrap();
    assert!(srv.read("up.bin") == data);
}

#[tokio::test]
async fn keepalive_noops_during_a_slow_transfer_keep_the_session_in_step() {
    let srv = TestServer::start_with(|c| c.download_limit = Some(400_000));
    srv.write("slow.bin", &content(600_000, 3));
    let mut s = alice(&srv).await;
    s.set_keepalive(Some(Duration::from_millis(100)));
    let got = get(&mut s, "slow.bin").await;
    assert_eq!(got.len(), 600_000);
    assert!(s.keepalives_sent() >= 3, "only {} NOOPs", s.keepalives_sent());
    // Every NOOP reply was consumed: the next command gets its own reply.
    assert_eq!(s.pwd().await.unwrap(), "/");
    assert_eq!(s.size("slow.bin").await.unwrap(), 600_000);
}

#[tokio::test]
async fn anonymous_login_is_read_only() {
    let srv = TestServer::start();
    srv.write("pub.txt", b"public");
    let url = FtpUrl::parse(&format!("ftp://{}/", srv.addr)).unwrap();
    let mut s = Session::open(&url, &options(srv.addr)).await.unwrap();
    assert_eq!(s.user(), Some("anonymous"));
    assert_eq!(get(&mut s, "pub.txt").await, b"public");
    let e = s.store("x", StoreMode::Replace, &mut &b"no"[..], &mut |_| {}).await.unwrap_err();
    assert_eq!(e.code(), Some(550), "{e}");
    assert!(!srv.path("x").exists());
    // The session is usable after the refusal.
    assert_eq!(get(&mut s, "pub.txt").await, b"public");
}

#[tokio::test]
async fn bad_credentials_unknown_host_refused_connection() {
    let srv = TestServer::start();
    let mut s = Session::connect(&options(srv.addr)).await.unwrap();
    match s.login(USER, "wrong").await {
        Err(ClientError::Login { code: 530, .. }) => {}
        other => panic!("expected a 530 login error, got {other:?}"),
    }
    let mut o = options(srv.addr);
    o.host = "no-such-host.invalid".into();
    assert!(matches!(Session::connect(&o).await, Err(ClientError::Resolve { .. })));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    match Session::connect(&options(closed)).await {
        Err(e @ ClientError::Connect { .. }) => assert!(e.to_string().contains(&closed.to_string()), "{e}"),
        other => panic!("expected a connection error, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn tls_explicit_and_implicit_resume_the_session_on_every_data_connection() {
    let srv = TestServer::start_tls();
    let fp = srv.fingerprint.clone().expect("fingerprint");
    let data = content(1_500_001, 9);
    for (security, addr) in [(Security::Explicit, srv.addr), (Security::Implicit, srv.implicit.expect("implicit"))] {
        let mut o = options(addr);
        o.security = security;
        o.verify = Verify::Fingerprint(fp.clone());
        let mut s = Session::connect(&o).await.unwrap();
        s.login(USER, PASS).await.unwrap();
        assert_eq!(s.tls(), (true, true));
        s.set_type(TransferType::Binary).await.unwrap();
        // The server requires session reuse: these only work if every data
        // connection resumed the control connection's session.
        for mode in [DataMode::Passive, DataMode::Active] {
            s.set_data_mode(mode);
            put(&mut s, "tls.bin", &data).await;
            assert!(get(&mut s, "tls.bin").await == data);
            assert_eq!(s.read_dir(None).await.unwrap().entries.len(), 1);
        }
        s.quit().await.unwrap();
    }
}

#[tokio::test]
async fn tls_certificate_checks() {
    let srv = TestServer::start_tls();
    let mut o = options(srv.addr);
    o.security = Security::Explicit;
    // A self-signed certificate is not trusted by the system's authorities.
    o.verify = Verify::System;
    assert!(matches!(Session::connect(&o).await, Err(ClientError::Tls { .. })));
    o.verify = Verify::Fingerprint("AB".repeat(32));
    match Session::connect(&o).await {
        Err(ClientError::Tls { reason, .. }) => assert!(reason.contains("fingerprint"), "{reason}"),
        other => panic!("expected a TLS error, got {:?}", other.err()),
    }
    o.verify = Verify::Insecure;
    let mut s = Session::connect(&o).await.unwrap();
    s.login(USER, PASS).await.unwrap();
    // A server without TLS: explicit TLS fails rather than going on in clear text.
    let plain = TestServer::start();
    let mut o = options(plain.addr);
    o.security = Security::Explicit;
    o.verify = Verify::Insecure;
    match Session::connect(&o).await {
        Err(ClientError::Tls { reason, .. }) => assert!(reason.contains("AUTH TLS"), "{reason}"),
        other => panic!("expected a TLS error, got {:?}", other.err()),
    }
}

#[tokio::test]
async fn fxp_between_two_servers_directly() {
    let (a, b) = (TestServer::start(), TestServer::start());
    let data = content(2_345_678, 11);
    a.write("src.bin", &data);
    let (mut sa, mut sb) = (alice(&a).await, alice(&b).await);
    let mut copied = 0;
    let outcome = fxp::copy(&mut sa, "src.bin", &mut sb, "dst.bin", &mut |n| copied = n).await.unwrap();
    assert_eq!(outcome, FxpOutcome::Direct);
    assert_eq!(copied, data.len() as u64);
    assert!(b.read("dst.bin") == data);
    // Both sessions go on.
    assert_eq!(sa.pwd().await.unwrap(), "/");
    assert_eq!(sb.size("dst.bin").await.unwrap(), data.len() as u64);
}

#[tokio::test]
async fn fxp_falls_back_to_streaming_when_the_destination_refuses_port() {
    // The source announces 127.0.0.2 in PASV (its public address); the
    // destination refuses a PORT to an address that is not its client's
    // (RFC 2577 bounce protection), so the copy goes through the client.
    let a = TestServer::start_with(|c| {
        c.public_address = Some("127.0.0.2".into());
        c.local_clients_direct = false;
    });
    let b = TestServer::start();
    let data = content(1_000_001, 12);
    a.write("src.bin", &data);
    let (mut sa, mut sb) = (alice(&a).await, alice(&b).await);
    let outcome = fxp::copy(&mut sa, "src.bin", &mut sb, "dst.bin", &mut |_| {}).await.unwrap();
    match outcome {
        FxpOutcome::Streamed { reason } => assert!(reason.contains("PORT"), "{reason}"),
        FxpOutcome::Direct => panic!("the destination should have refused"),
    }
    assert!(b.read("dst.bin") == data);
}

#[tokio::test]
async fn fake_server_epsv_refused_falls_back_to_pasv_and_unknown_lines_are_kept() {
    let listing = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/listings/unknown.txt")).unwrap();
    let mut script = login_script();
    script.extend([
        ("EPSV", Act::Reply("502 EPSV not implemented")),
        ("PASV", Act::Pasv),
        ("LIST", Act::Send(listing, "226 done")),
    ]);
    let fake = FakeServer::start(script);
    let url = FtpUrl::parse(&format!("ftp://u:p@{}/", fake.addr)).unwrap();
    let mut s = Session::open(&url, &options(fake.addr)).await.unwrap();
    let listing = s.read_dir(None).await.unwrap();
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.entries[0].name, "good.txt");
    assert_eq!(listing.unparsed.len(), 2, "{:?}", listing.unparsed);
    assert!(listing.unparsed[0].starts_with("+i8388621"));
    assert!(fake.seen().iter().any(|c| c == "PASV"));
}

#[tokio::test]
async fn fake_server_closing_mid_transfer_is_an_error_not_a_short_file() {
    let mut script = login_script();
    script.extend([("EPSV", Act::Reply("502 no")), ("PASV", Act::Pasv), ("RETR", Act::SendAndHangUp(vec![7; 5000]))]);
    let fake = FakeServer::start(script);
    let url = FtpUrl::parse(&format!("ftp://u:p@{}/", fake.addr)).unwrap();
    let mut s = Session::open(&url, &options(fake.addr)).await.unwrap();
    let mut out = Vec::new();
    let e = s.retrieve("file", 0, &mut out, &mut |_| {}).await.unwrap_err();
    assert!(matches!(e, ClientError::Closed), "{e:?}");
}

#[tokio::test]
async fn trace_shows_commands_with_the_password_hidden() {
    let srv = TestServer::start();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut s = Session::connect(&options(srv.addr)).await.unwrap();
    s.set_trace(Some(Box::new(move |e| {
        if let ferroftp_client::TraceEvent::Sent(line) = e {
            log.lock().unwrap().push(line.to_string());
        }
    })));
    s.login(USER, PASS).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains(&"USER alice".to_string()));
    assert!(seen.contains(&"PASS ****".to_string()));
    assert!(!seen.iter().any(|l| l.contains(PASS)));
}
