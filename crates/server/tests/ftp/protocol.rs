//! Exact wire checks of every command and its error paths, over raw sockets.

use crate::common::*;
use ferroftp_server::AnonymousAccess;
use std::io::Read;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;

#[test]
fn login_sequence_and_codes() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect("RETR x", 530);
    c.expect("PASS nothing", 503);
    c.expect("ACCT x", 202);
    c.expect("USER alice", 331);
    let wrong = c.expect("PASS wrong", 530);
    c.expect("USER nobody", 331);
    let unknown = c.expect("PASS wrong", 530);
    // RFC 2577 §5: no difference between an unknown user and a wrong password.
    assert_eq!(wrong.lines, unknown.lines);
    c.expect("user ALICE", 331); // verbs are case-insensitive, names are not
    c.expect("PASS secret", 530);
    c.login(USER, PASS);
    c.expect("PASS again", 230);
    c.expect("USER bob", 503);
    let q = c.expect("QUIT", 221);
    assert!(q.text().contains("Goodbye"));
    assert!(c.try_reply().is_none(), "connection stays open after QUIT");
}

#[test]
fn anonymous_login_with_both_names_and_disabled() {
    let srv = TestServer::start();
    for name in ["anonymous", "ftp", "ANONYMOUS"] {
        let mut c = srv.raw();
        c.expect(&format!("USER {name}"), 331);
        c.expect("PASS guest@example.com", 230);
    }
    let off = TestServer::start_with(AnonymousAccess::Off, |_| {});
    let mut c = off.raw();
    c.expect("USER anonymous", 331);
    c.expect("PASS x@y", 530);
}

#[test]
fn host_command_rfc7151() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.expect("HOST ftp.example.com", 220);
    c.expect("HOST [::1]", 220);
    c.expect("HOST bad_name!", 501);
    c.expect("HOST", 501);
    c.expect("USER alice", 331);
    c.expect("HOST ftp.example.com", 503);
    c.expect("PASS secret", 230);
    c.expect("HOST ftp.example.com", 503);
    // REIN forgets the login and the host.
    c.expect("REIN", 220);
    c.expect("PWD", 530);
    c.expect("HOST other.example.com", 220);
}

#[test]
fn directories_and_quoting() {
    let srv = TestServer::start();
    let mut c = srv.raw_alice();
    assert_eq!(c.expect("PWD", 257).text(), "\"/\" is the current directory.");
    assert_eq!(c.expect("MKD a\"b", 257).text(), "\"/a\"\"b\" created.");
    assert!(srv.path("a\"b").is_dir());
    c.expect("XMKD sub dir", 257);
    c.expect("MKD sub dir", 550);
    c.expect("CWD sub dir", 250);
    assert_eq!(c.expect("XPWD", 257).text(), "\"/sub dir\" is the current directory.");
    c.expect("MKD inner", 257);
    c.expect("XCWD inner", 250);
    c.expect("CDUP", 250);
    assert!(c.expect("PWD", 257).text().starts_with("\"/sub dir\""));
    c.expect("XCUP", 250);
    c.expect("CDUP", 250); // the root is its own parent
    assert!(c.expect("PWD", 257).text().starts_with("\"/\""));
    c.expect("CWD missing", 550);
    srv.write("file.txt", b"x");
    c.expect("CWD file.txt", 550);
    c.expect("RMD sub dir", 550); // not empty
    c.expect("RMD sub dir/inner", 250);
    c.expect("XRMD sub dir", 250);
    c.expect("RMD sub dir", 550);
    c.expect("CWD", 501);
    assert!(!srv.path("sub dir").exists());
}

#[test]
fn dele_rename_and_sequence_errors() {
    let srv = TestServer::start();
    srv.write("a.txt", b"hello");
    let mut c = srv.raw_alice();
    c.expect("RNTO b.txt", 503);
    c.expect("RNFR missing", 550);
    c.expect("RNFR a.txt", 350);
    c.expect("RNTO b.txt", 250);
    assert_eq!(srv.read("b.txt"), b"hello");
    assert!(!srv.path("a.txt").exists());
    // RNTO must immediately follow RNFR.
    c.expect("RNFR b.txt", 350);
    c.expect("NOOP", 200);
    c.expect("RNTO c.txt", 503);
    c.expect("DELE b.txt", 250);
    c.expect("DELE b.txt", 550);
    c.expect("MKD d", 257);
    c.expect("DELE d", 550);
}

#[test]
fn size_and_mdtm() {
    let srv = TestServer::start();
    srv.write("t.txt", b"a\nb\nc");
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options().write(true).open(srv.path("t.txt")).unwrap().set_modified(when).unwrap();
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    assert_eq!(c.expect("SIZE t.txt", 213).text(), "5");
    c.expect("TYPE A", 200);
    // RFC 3659 §4: the size in the current TYPE; two LFs become CRLF.
    assert_eq!(c.expect("SIZE t.txt", 213).text(), "7");
    assert_eq!(c.expect("MDTM t.txt", 213).text(), "20010909014640");
    c.expect("SIZE missing", 550);
    c.expect("MDTM missing", 550);
    c.expect("MKD d", 257);
    c.expect("SIZE d", 550);
    c.expect("SIZE", 501);
}

#[test]
fn type_stru_mode_rest_allo() {
    let srv = TestServer::start();
    let mut c = srv.raw_alice();
    for ok in ["TYPE A", "TYPE A N", "TYPE I", "TYPE L 8", "type i", "STRU F", "MODE S"] {
        c.expect(ok, 200);
    }
    for unsupported in ["TYPE A T", "TYPE E", "TYPE L 7", "STRU R", "STRU P", "MODE B", "MODE C"] {
        c.expect(unsupported, 504);
    }
    for bad in ["TYPE X", "TYPE", "STRU Q", "MODE Z", "REST abc", "REST -1", "REST"] {
        c.expect(bad, 501);
    }
    assert!(c.expect("REST 100", 350).text().contains("100"));
    c.expect("ALLO 1000", 202);
    c.expect("SMNT /", 502);
}

#[test]
fn feat_lists_every_extension() {
    let srv = TestServer::start();
    let mut c = srv.raw();
    c.send("FEAT");
    let text = String::from_utf8(c.read_until_suffix(b"211 End\r\n")).unwrap();
    assert!(text.starts_with("211-Extensions supported:\r\n"), "{text}");
    for feature in [
        " EPRT\r\n",
        " EPSV\r\n",
        " HOST\r\n",
        " MDTM\r\n",
        " MLST type*;size*;modify*;perm*;unique*;UNIX.mode*;\r\n",
        " REST STREAM\r\n",
        " SIZE\r\n",
        " TVFS\r\n",
        " UTF8\r\n",
        " CLNT\r\n",
    ] {
        assert!(text.contains(feature), "FEAT lacks {feature:?}: {text}");
    }
}

#[test]
fn opts_help_syst_noop_clnt_stat() {
    let srv = TestServer::start();
    srv.write("f.txt", b"12345");
    let mut c = srv.raw_alice();
    c.expect("OPTS UTF8 ON", 200);
    c.expect("OPTS UTF8 OFF", 504);
    c.expect("OPTS BOGUS", 501);
    assert_eq!(c.expect("OPTS MLST size;type;nonsense;", 200).text(), "MLST OPTS type;size;");
    let mlst = c.expect("MLST f.txt", 250);
    assert_eq!(mlst.lines[1], " type=file;size=5; /f.txt");
    c.send("FEAT");
    assert!(c.reply().lines.iter().any(|l| l == " MLST type*;size*;modify;perm;unique;UNIX.mode;"));
    let help = c.expect("HELP", 214);
    assert!(help.lines.len() > 3 && help.text().contains("RETR") && help.text().contains("XCWD"));
    assert_eq!(c.expect("HELP retr", 214).text(), "Syntax: RETR <sp> pathname");
    c.expect("HELP BOGUS", 502);
    assert_eq!(c.expect("SYST", 215).text(), "UNIX Type: L8");
    c.expect("NOOP", 200);
    c.expect("CLNT curl 8.0", 200);
    let stat = c.expect("STAT", 211);
    assert!(stat.text().contains("Logged in as alice"), "{stat:?}");
    let dir = c.expect("STAT /", 212);
    assert!(dir.lines.iter().any(|l| l.starts_with("-rw") && l.ends_with(" f.txt")), "{dir:?}");
    let file = c.expect("STAT f.txt", 213);
    assert!(file.lines[1].ends_with(" f.txt"), "{file:?}");
    c.expect("STAT missing", 550);
}

#[test]
fn site_help_and_chmod() {
    let srv = TestServer::start();
    srv.write("f.txt", b"x");
    let mut c = srv.raw_alice();
    assert!(c.expect("SITE HELP", 214).text().contains("CHMOD"));
    c.expect("SITE CHMOD 600 f.txt", 200);
    assert_eq!(std::fs::metadata(srv.path("f.txt")).unwrap().permissions().mode() & 0o777, 0o600);
    c.expect("SITE CHMOD 99 f.txt", 501);
    c.expect("SITE CHMOD 644", 501);
    c.expect("SITE CHMOD 644 missing", 550);
    c.expect("SITE EXEC rm -rf /", 500);
    let mut anon = srv.raw();
    anon.login("anonymous", "a@b");
    assert!(anon.expect("SITE CHMOD 777 f.txt", 550).text().contains("'chmod'"));
}

#[test]
fn list_nlst_options_globs_and_files() {
    let srv = TestServer::start();
    srv.write("a.txt", b"1");
    srv.write("b.log", b"22");
    srv.write(".hidden", b"333");
    srv.write("sub/c.txt", b"4444");
    std::os::unix::fs::symlink("a.txt", srv.path("link")).unwrap();
    let mut c = srv.raw_alice();
    let plain = c.listing("LIST");
    assert_eq!(plain.len(), 4, "{plain:?}");
    assert!(plain.iter().any(|l| l.starts_with("drwx") && l.ends_with(" sub")));
    assert!(plain.iter().any(|l| l.starts_with("-rw-") && l.contains(" 2 ") && l.ends_with(" b.log")));
    assert!(plain.iter().any(|l| l.starts_with('l') && l.ends_with(" link -> a.txt")));
    assert!(!plain.iter().any(|l| l.ends_with(".hidden")));
    for opts in ["LIST -a", "LIST -la", "LIST -aln", "LIST -l -a"] {
        let all = c.listing(opts);
        assert!(all.iter().any(|l| l.ends_with(" .hidden")), "{opts}: {all:?}");
    }
    assert_eq!(c.listing("LIST -l").len(), 4);
    let sub = c.listing("LIST -la sub");
    assert!(sub.len() == 1 && sub[0].ends_with(" c.txt"), "{sub:?}");
    let one = c.listing("LIST a.txt");
    assert!(one.len() == 1 && one[0].ends_with(" a.txt"), "{one:?}");
    let mut names = c.listing("NLST");
    names.sort();
    assert_eq!(names, ["a.txt", "b.log", "link", "sub"]);
    assert!(c.listing("NLST -a").contains(&".hidden".to_string()));
    assert_eq!(c.listing("NLST *.txt"), ["a.txt"]);
    assert_eq!(c.listing("NLST sub/*.txt"), ["sub/c.txt"]);
    assert_eq!(c.listing("NLST sub"), ["c.txt"]);
    assert!(c.listing("NLST *.none").is_empty());
    let mut e = c.epsv();
    c.expect("LIST missing", 550);
    // The data connection prepared before a refused command is kept for the next one.
    c.expect("LIST", 150);
    let mut out = Vec::new();
    e.read_to_end(&mut out).unwrap();
    assert_eq!(c.reply().code, 226);
}

#[test]
fn mlsd_and_mlst_grammar() {
    let srv = TestServer::start();
    srv.write("f.txt", b"abc");
    srv.write(".dot", b"");
    std::fs::create_dir(srv.path("d")).unwrap();
    let mut c = srv.raw_alice();
    let lines = c.listing("MLSD");
    assert_eq!(lines.len(), 3, "MLSD shows dot files: {lines:?}");
    let f = lines.iter().find(|l| l.ends_with("; f.txt")).expect("f.txt");
    let parsed = ferroftp_proto::listing::parse_mlsx_line(f).unwrap();
    assert_eq!(parsed.get("type"), Some("file"));
    assert_eq!(parsed.get("size"), Some("3"));
    assert_eq!(parsed.get("perm"), Some("adfrw"));
    assert_eq!(parsed.get("modify").map(str::len), Some(14));
    assert!(parsed.get("unique").is_some());
    assert_eq!(parsed.get("UNIX.mode").map(str::len), Some(4));
    let d = lines.iter().find(|l| l.ends_with("; d")).expect("d");
    assert!(d.starts_with("type=dir;"));
    c.expect("MLSD f.txt", 501);
    c.expect("MLSD missing", 550);
    let r = c.expect("MLST f.txt", 250);
    assert_eq!(r.lines.len(), 3);
    assert!(r.lines[1].starts_with(" type=file;size=3;") && r.lines[1].ends_with("; /f.txt"), "{r:?}");
    let cdir = c.expect("MLST", 250);
    assert!(cdir.lines[1].starts_with(" type=cdir;"), "{cdir:?}");
    let mut anon = srv.raw();
    anon.login("ftp", "x");
    let r = anon.expect("MLST f.txt", 250);
    assert!(r.lines[1].contains("perm=r;"), "read-only perm fact: {r:?}");
}

#[test]
fn passive_and_extended_passive_replies() {
    let srv = TestServer::start();
    let mut c = srv.raw_alice();
    let p = c.expect("PASV", 227);
    let addr = ferroftp_proto::hostport::parse_pasv_reply(&p.text()).unwrap();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert!(p.text().starts_with("Entering Passive Mode ("));
    c.expect("EPSV 2", 522);
    c.expect("EPSV 3", 522);
    c.expect("EPSV x", 501);
    c.expect("EPSV 1", 229);
    c.expect("EPSV ALL", 200);
    c.expect("PASV", 503);
    c.expect("PORT 127,0,0,1,200,10", 503);
    c.expect("EPRT |1|127.0.0.1|51210|", 503);
    c.expect("EPSV", 229);
}

#[test]
fn passive_port_range_is_honoured() {
    let probe = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = probe.local_addr().unwrap().port();
    drop(probe);
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| c.passive_ports = Some(base..=base.saturating_add(3)));
    let mut c = srv.raw_alice();
    for _ in 0..4 {
        let r = c.expect("EPSV", 229);
        let port = ferroftp_proto::hostport::parse_epsv_reply(&r.text()).unwrap();
        assert!((base..=base + 3).contains(&port), "{port} outside {base}..={}", base + 3);
    }
}

#[test]
fn public_address_in_pasv_reply() {
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| {
        c.public_address = Some("192.0.2.7".into());
        c.local_clients_direct = false;
    });
    let mut c = srv.raw_alice();
    let r = c.expect("PASV", 227);
    assert!(r.text().contains("(192,0,2,7,"), "{r:?}");
    // By default a client on a local network (here: loopback) gets the local address.
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| c.public_address = Some("192.0.2.7".into()));
    let mut c = srv.raw_alice();
    let r = c.expect("PASV", 227);
    assert!(r.text().contains("(127,0,0,1,"), "{r:?}");
    // A host name is resolved (here: localhost), and the data connection works.
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| {
        c.public_address = Some("localhost".into());
        c.local_clients_direct = false;
    });
    srv.write("f.txt", b"via the resolved address");
    let mut c = srv.raw_alice();
    let r = c.expect("PASV", 227);
    let addr = ferroftp_proto::hostport::parse_pasv_reply(&r.text()).unwrap();
    assert_eq!(*addr.ip(), std::net::Ipv4Addr::LOCALHOST);
    let mut data = std::net::TcpStream::connect(addr).unwrap();
    c.expect("RETR f.txt", 150);
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut data, &mut got).unwrap();
    assert_eq!(got, b"via the resolved address");
    c.expect_final(226);
}

#[test]
fn active_mode_refusals() {
    let srv = TestServer::start();
    let mut c = srv.raw_alice();
    c.expect("PORT 127,0,0,1,0,21", 504); // privileged port (RFC 2577)
    c.expect("PORT 10,0,0,1,200,10", 500); // another host: bounce attack
    c.expect("EPRT |1|10.0.0.1|51210|", 500);
    c.expect("EPRT |1|127.0.0.1|80|", 504);
    c.expect("EPRT |2|::1|51210|", 522); // IPv6 address on an IPv4 connection
    c.expect("EPRT |3|127.0.0.1|51210|", 522);
    for bad in [
        "PORT 1,2,3",
        "PORT 127,0,0,1,300,1",
        "PORT a,b,c,d,e,f",
        "EPRT 127.0.0.1:5000",
        "EPRT |1|127.0.0.1|0|",
        "EPRT |1|1.2.3|5|",
    ] {
        c.expect(bad, 501);
    }
    c.expect("PORT 127,0,0,1,200,10", 200);
}

#[test]
fn stou_and_appe() {
    let srv = TestServer::start();
    srv.write("f.txt", b"first");
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    let (opened, done) = c.upload("STOU f.txt", b"unique");
    assert_eq!(opened.text(), "FILE: f.txt.1");
    assert_eq!(done.code, 226);
    assert!(done.text().contains("f.txt.1"));
    assert_eq!(srv.read("f.txt.1"), b"unique");
    assert_eq!(srv.read("f.txt"), b"first");
    let (opened, done) = c.upload("STOU", b"x");
    assert!(opened.text().starts_with("FILE: "), "{opened:?}");
    assert_eq!(done.code, 226);
    let (_, done) = c.upload("APPE f.txt", b"+second");
    assert_eq!(done.code, 226);
    assert_eq!(srv.read("f.txt"), b"first+second");
    let (_, done) = c.upload("APPE new.txt", b"created");
    assert_eq!(done.code, 226);
    assert_eq!(srv.read("new.txt"), b"created");
}

#[test]
fn transfer_without_data_connection_is_425() {
    let srv = TestServer::start();
    srv.write("f.txt", b"x");
    let mut c = srv.raw_alice();
    c.expect("RETR f.txt", 425);
    c.expect("LIST", 425);
    c.expect("STOR g.txt", 425);
    assert!(!srv.path("g.txt").exists());
}

#[test]
fn anonymous_is_read_only_and_names_the_missing_right() {
    let srv = TestServer::start();
    srv.write("pub.txt", b"public");
    let mut c = srv.raw();
    c.login("anonymous", "guest@");
    let (_, bytes, done) = c.data_cmd("RETR pub.txt");
    assert_eq!((bytes.as_slice(), done.code), (&b"public"[..], 226));
    let _data = c.epsv();
    assert!(c.expect("STOR new.txt", 550).text().contains("'write'"));
    assert!(c.expect("APPE pub.txt", 550).text().contains("'append'"));
    assert!(c.expect("DELE pub.txt", 550).text().contains("'delete'"));
    assert!(c.expect("MKD d", 550).text().contains("'mkdir'"));
    assert!(c.expect("RNFR pub.txt", 550).text().contains("'rename'"));
    assert!(c.expect("RMD x", 550).text().contains("'rmdir'"));
    assert!(!srv.path("new.txt").exists());
}

#[test]
fn anonymous_write_mode_uploads_but_never_overwrites() {
    let srv = TestServer::start_with(AnonymousAccess::Write, |_| {});
    srv.write("old.txt", b"keep");
    let mut c = srv.raw();
    c.login("anonymous", "guest@");
    let (_, done) = c.upload("STOR new.txt", b"hi");
    assert_eq!(done.code, 226);
    assert_eq!(srv.read("new.txt"), b"hi");
    let _data = c.epsv();
    assert!(c.expect("STOR old.txt", 550).text().contains("'delete'"));
    assert_eq!(srv.read("old.txt"), b"keep");
    c.expect("MKD incoming", 257);
    c.expect("DELE new.txt", 550);
}

#[test]
fn idle_timeout_sends_421() {
    let srv = TestServer::start_with(AnonymousAccess::Read, |c| c.idle_timeout = std::time::Duration::from_secs(1));
    let mut c = srv.raw();
    let r = c.reply();
    assert_eq!(r.code, 421, "{r:?}");
    assert!(r.text().contains("Timeout"));
    assert!(c.try_reply().is_none());
}

#[test]
fn shutdown_tells_idle_sessions_421() {
    let srv = TestServer::start();
    let mut c = srv.raw_alice();
    srv.shutdown();
    let r = c.reply();
    assert_eq!(r.code, 421, "{r:?}");
    assert!(c.try_reply().is_none());
}

#[test]
fn rein_resets_transfer_state() {
    let srv = TestServer::start();
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    c.expect("CWD /", 250);
    c.expect("REIN", 220);
    c.expect("LIST", 530);
    c.login(USER, PASS);
    assert!(c.expect("STAT", 211).text().contains("TYPE: ASCII"));
}
