//! Bad input: each gets a clear error, the session goes on, other sessions never notice.

use crate::common::*;
use std::io::Read;

/// A second, honest session doing real work while another misbehaves.
fn honest_check(srv: &TestServer, round: usize) {
    let mut c = srv.raw_alice();
    let name = format!("honest-{round}.txt");
    let (_, done) = c.upload(&format!("STOR {name}"), b"fine");
    assert_eq!(done.code, 226);
    let (_, bytes, done) = c.data_cmd(&format!("RETR {name}"));
    assert_eq!((bytes.as_slice(), done.code), (&b"fine"[..], 226));
}

#[test]
fn garbage_nul_and_invalid_utf8_get_5xx_and_the_session_continues() {
    let srv = TestServer::start();
    let mut c = srv.raw_alice();
    let cases: &[(&[u8], u16)] = &[
        (b"\x00\x01\x02\x03\r\n", 500),
        (b"\x80\x81\xfe garbage\r\n", 500),
        (b"RETR a\x00b\r\n", 501),
        (b"CWD \xc3\x28\r\n", 501),
        (b"MKD \xff\xfe\r\n", 501),
        (b"\r\n", 500),
        (b"   \r\n", 500),
        (b"NOTACOMMAND\r\n", 500),
        (b"RE TR x\r\n", 500),
        (b"TOOLONGVERB x\r\n", 500),
        (b"US-ER x\r\n", 500),
    ];
    for (i, (bytes, code)) in cases.iter().enumerate() {
        c.send_bytes(bytes);
        let r = c.reply();
        assert_eq!(r.code, *code, "{:?} -> {r:?}", String::from_utf8_lossy(bytes));
        c.expect("NOOP", 200);
        honest_check(&srv, i);
    }
    // Bare LF line endings are accepted from sloppy clients.
    c.send_bytes(b"PWD\n");
    assert_eq!(c.reply().code, 257);
}

#[test]
fn overlong_line_is_500_and_the_next_line_works() {
    let srv = TestServer::start();
    let mut c = srv.raw_alice();
    let mut line = b"STOR ".to_vec();
    line.extend(std::iter::repeat_n(b'a', 100_000));
    line.extend_from_slice(b"\r\nPWD\r\n");
    c.send_bytes(&line);
    let r = c.reply();
    assert_eq!(r.code, 500, "{r:?}");
    assert!(r.text().contains("too long"));
    assert_eq!(c.reply().code, 257);
    honest_check(&srv, 0);
}

#[test]
fn commands_out_of_sequence() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect("PASS x", 503);
    for cmd in [
        "RETR f",
        "STOR f",
        "LIST",
        "CWD /",
        "PWD",
        "PASV",
        "EPSV",
        "PORT 127,0,0,1,200,1",
        "MKD x",
        "DELE f",
        "SIZE f",
        "MLSD",
        "SITE CHMOD 777 f",
    ] {
        c.expect(cmd, 530);
    }
    // Commands that need no login.
    c.expect("SYST", 215);
    c.expect("FEAT", 211);
    c.expect("NOOP", 200);
    c.login(USER, PASS);
    c.expect("RNTO x", 503);
    c.expect("RETR", 501);
    c.expect("STOR", 501);
    c.expect("RNFR", 501);
    assert!(srv.disk_names("").is_empty());
}

#[test]
fn malformed_port_and_eprt() {
    let srv = TestServer::start();
    let mut c = srv.raw_alice();
    for bad in [
        "PORT",
        "PORT 127,0,0,1,1",
        "PORT 127,0,0,1,1,1,1",
        "PORT 127,0,0,1,256,1",
        "PORT 127.0.0.1.1.1",
        "PORT ,,,,,",
        "PORT 127,0,0,1,1,x",
        "EPRT",
        "EPRT |1|127.0.0.1|",
        "EPRT |1|127.0.0.1|70000|",
        "EPRT |1|localhost|5000|",
        "EPRT 1|127.0.0.1|5000|",
        "EPRT |1|127.0.0.1|5000|extra",
    ] {
        let r = c.cmd(bad);
        assert!((500..=504).contains(&r.code), "{bad:?} -> {r:?}");
        c.expect("NOOP", 200);
    }
    c.expect("EPRT |9|127.0.0.1|5000|", 522);
    honest_check(&srv, 0);
}

#[test]
fn paths_cannot_escape_the_root() {
    let srv = TestServer::start();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), b"secret").unwrap();
    std::fs::create_dir(outside.path().join("dir")).unwrap();
    srv.write("inside.txt", b"inside");
    std::os::unix::fs::symlink(outside.path(), srv.path("out-dir")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), srv.path("out-file")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc/passwd", srv.path("rel-out")).unwrap();
    std::os::unix::fs::symlink("inside.txt", srv.path("in-link")).unwrap();
    let mut c = srv.raw_alice();
    // `..` is clamped at the root: these name files inside it that do not exist.
    c.expect("CWD ../../../..", 250);
    assert!(c.expect("PWD", 257).text().starts_with("\"/\""));
    for path in ["../../../../etc/passwd", "/../../etc/passwd", "/etc/passwd", "../inside.txt/../../secret.txt"] {
        let _d = c.epsv();
        c.expect(&format!("RETR {path}"), 550);
    }
    // Symlinks that point outside are refused for every operation.
    for path in ["out-file", "out-dir/secret.txt", "rel-out"] {
        let _d = c.epsv();
        c.expect(&format!("RETR {path}"), 550);
        c.expect(&format!("SIZE {path}"), 550);
    }
    c.expect("CWD out-dir", 550);
    c.expect("LIST out-dir", 550);
    c.expect("STAT out-dir", 550);
    c.expect("MKD out-dir/new", 550);
    c.expect("DELE out-dir/secret.txt", 550);
    c.expect("RNFR out-dir/secret.txt", 550);
    c.expect("SITE CHMOD 777 out-file", 550);
    {
        let _d = c.epsv();
        c.expect("STOR out-dir/planted.txt", 550);
    }
    assert!(!outside.path().join("planted.txt").exists());
    assert!(!outside.path().join("new").exists());
    assert_eq!(std::fs::read(outside.path().join("secret.txt")).unwrap(), b"secret");
    // A symlink inside the root still works.
    let (_, bytes, done) = c.data_cmd("RETR in-link");
    assert_eq!((bytes.as_slice(), done.code), (&b"inside"[..], 226));
    // A symlink created while the session runs cannot escape either.
    std::os::unix::fs::symlink(outside.path(), srv.path("late")).unwrap();
    let _d = c.epsv();
    c.expect("RETR late/secret.txt", 550);
    // A rename target above the root is clamped to the root: it names /tmp inside it.
    c.expect("RNFR inside.txt", 350);
    c.expect("RNTO ../../../../nowhere/moved.txt", 550);
    std::fs::create_dir(srv.path("nowhere")).unwrap();
    c.expect("RNFR inside.txt", 350);
    c.expect("RNTO ../../../../nowhere/moved.txt", 250);
    assert_eq!(srv.read("nowhere/moved.txt"), b"inside");
    c.expect("RNFR nowhere/moved.txt", 350);
    c.expect("RNTO out-dir/moved.txt", 550);
    assert!(!outside.path().join("moved.txt").exists());
    honest_check(&srv, 0);
}

#[test]
fn a_client_that_vanishes_mid_transfer_does_not_disturb_others() {
    let srv = TestServer::start();
    srv.write("big.bin", &content(32 * 1024 * 1024, 1));
    {
        let mut c = srv.raw_alice();
        c.expect("TYPE I", 200);
        let mut data = c.epsv();
        c.expect("RETR big.bin", 150);
        let mut buf = [0u8; 4096];
        data.read_exact(&mut buf).unwrap();
        // Both connections dropped without a word.
    }
    honest_check(&srv, 0);
    let mut c = srv.raw();
    c.send_bytes(b"USER alice\r\nPASS secret\r\nPWD\r\nQUIT\r\n");
    assert_eq!(c.reply().code, 331);
    assert_eq!(c.reply().code, 230);
    assert_eq!(c.reply().code, 257);
    assert_eq!(c.reply().code, 221);
}
