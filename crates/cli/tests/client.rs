//! The client commands of the `ferroftp` binary against ferroftp servers
//! started in-process: one-shot commands and their exit codes, `.part`
//! downloads and resume, mirror both ways on a 500-file tree, FXP, and the
//! shell (from a script on standard input, and through a pseudo-terminal).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

#[path = "../../client/tests/common/mod.rs"]
mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn ferroftp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferroftp")).args(args).stdin(Stdio::null()).output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = ferroftp(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail with `code`; returns its standard error.
fn fails(args: &[&str], code: i32) -> String {
    let out = ferroftp(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    err
}

#[test]
fn one_shot_commands_and_json() {
    let srv = TestServer::start();
    srv.write("pub/a.txt", b"alpha");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("a.txt");
    let url = srv.url("pub/");
    let listing = ok(&["ls", &url]);
    assert!(listing.contains("a.txt") && listing.starts_with('-'), "{listing}");
    let json = ok(&["ls", &url, "--json"]);
    let v: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!((v["name"].as_str(), v["size"].as_u64()), (Some("a.txt"), Some(5)));
    let out = ok(&["get", &srv.url("pub/a.txt"), dir.path().to_str().unwrap(), "--json", "--verify", "--preserve"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((v["bytes"].as_u64(), v["verified"].as_str()), (Some(5), Some("sha-256")));
    assert_eq!(std::fs::read(&local).unwrap(), b"alpha");
    let secs = |p: &Path| {
        std::fs::metadata(p).unwrap().modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
    };
    // MDTM carries whole seconds.
    assert_eq!(secs(&local), secs(&srv.path("pub/a.txt")));
    std::fs::write(&local, b"changed locally").unwrap();
    ok(&["put", local.to_str().unwrap(), &url, "--verify", "--quiet"]);
    assert_eq!(srv.read("pub/a.txt"), b"changed locally");
    ok(&["mkdir", "-p", &srv.url("x/y/z")]);
    assert!(srv.path("x/y/z").is_dir());
    ok(&["mv", &srv.url("pub/a.txt"), "x/y/moved.txt"]);
    assert!(srv.path("x/y/moved.txt").is_file());
    ok(&["rm", &srv.url("x/y/moved.txt")]);
    assert!(!srv.path("x/y/moved.txt").exists());
    ok(&["rm", "-r", &srv.url("x")]);
    assert!(!srv.path("x").exists());
    let out = ferroftp(&["get", &srv.url("pub/a.txt"), "-"]);
    assert_eq!(out.status.code(), Some(5), "the file was moved away");
}

#[test]
fn bad_input_fails_clearly_and_leaves_nothing_behind() {
    let srv = TestServer::start();
    srv.write("f.bin", b"data");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let err = fails(&["get", "ftp://no-such-host.invalid/f.bin", d], 3);
    assert!(err.contains("cannot resolve no-such-host.invalid"), "{err}");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let err = fails(&["ls", &format!("ftp://{closed}/")], 3);
    assert!(err.contains("cannot connect") && err.contains("refused"), "{err}");
    let err = fails(&["get", &format!("ftp://{USER}:wrong@{}/f.bin", srv.addr), d], 4);
    assert!(err.contains("login refused: 530") && !err.contains("wrong"), "{err}");
    let err = fails(&["get", &srv.url("missing.bin"), d], 5);
    assert!(err.contains("550"), "{err}");
    let err = fails(&["get", &format!("ftp://{USER}:{PASS}@{}/f%zz.bin", srv.addr), d], 2);
    assert!(err.contains("bad percent escape \"%zz\"") && !err.contains(PASS), "{err}");
    let err = fails(&["get", &srv.url("f.bin"), d, "--fingerprint", "12"], 3);
    assert!(err.contains("not a SHA-256 fingerprint"), "{err}");
    let err = fails(&["get", &srv.url("f.bin"), d, "--insecure"], 3);
    assert!(err.contains("refused AUTH TLS"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a failed command left a file");
}

#[test]
fn interrupted_download_leaves_only_a_part_file_and_resume_completes_it() {
    let srv = TestServer::start_with(|c| c.download_limit = Some(1_000_000));
    let data = content(3_000_000, 5);
    srv.write("big.bin", &data);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("big.bin");
    let part = dir.path().join("big.bin.part");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferroftp"))
        .args(["get", &srv.url("big.bin"), dir.path().to_str().unwrap(), "--quiet"])
        .spawn()
        .unwrap();
    // Wait for some bytes to arrive, then interrupt the download.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0) < 200_000 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!local.exists(), "an interrupted download must not look complete");
    let have = std::fs::metadata(&part).unwrap().len();
    assert!(have > 0 && have < data.len() as u64);
    let out = ok(&["get", &srv.url("big.bin"), dir.path().to_str().unwrap(), "--resume", "--json", "--verify"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["resumed_from"].as_u64().unwrap() >= have, "{v}");
    assert!(std::fs::read(&local).unwrap() == data);
    assert!(!part.exists());
}

#[test]
fn resumed_upload_sends_only_the_rest() {
    let srv = TestServer::start();
    let data = content(1_000_000, 6);
    srv.write("up.bin", &data[..400_000]);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("up.bin");
    std::fs::write(&local, &data).unwrap();
    let out = ok(&["put", local.to_str().unwrap(), &srv.url(""), "--resume", "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!((v["resumed_from"].as_u64(), v["bytes"].as_u64()), (Some(400_000), Some(600_000)));
    assert!(srv.read("up.bin") == data);
}

/// 500 files in nested directories, some with non-ASCII names.
fn make_tree(root: &Path) {
    for i in 0..500 {
        let dir = match i % 5 {
            0 => "".to_string(),
            1 => "a".to_string(),
            2 => "a/b".to_string(),
            3 => "ünïcødé dir".to_string(),
            _ => format!("d{}", i % 7),
        };
        let name = if i % 11 == 0 { format!("fïlé {i}.txt") } else { format!("f{i}.bin") };
        let p = root.join(dir).join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content(i * 37 % 5000, i as u64)).unwrap();
    }
}

fn tree_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(d) = pending.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                pending.push(e.path());
            } else {
                let rel = e.path().strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn copied(json: &str) -> usize {
    json.lines().filter(|l| l.contains("\"op\":\"get\"") || l.contains("\"op\":\"put\"")).count()
}

#[test]
fn mirror_both_ways_with_changes_deletions_and_unicode() {
    let srv = TestServer::start();
    make_tree(&srv.path("site"));
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("copy");
    let l = local.to_str().unwrap();
    let out = ok(&["mirror", &srv.url("site/"), l, "--parallel", "4", "--json"]);
    assert_eq!(copied(&out), 500);
    assert_eq!(tree_files(&local), tree_files(&srv.path("site")));
    // Nothing changed: nothing copied.
    assert_eq!(copied(&ok(&["mirror", &srv.url("site/"), l, "--json"])), 0);
    // Change two files (one same size, newer), delete one, add one on the server.
    std::fs::write(srv.path("site/a/f1.bin"), b"new content").unwrap();
    let same_size = srv.path("site/a/b/f2.bin");
    let len = std::fs::metadata(&same_size).unwrap().len() as usize;
    std::fs::write(&same_size, vec![b'z'; len]).unwrap();
    let later = std::time::SystemTime::now() + Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(&same_size)
        .unwrap()
        .set_times(std::fs::FileTimes::new().set_modified(later))
        .unwrap();
    std::fs::remove_file(srv.path("site/fïlé 0.txt")).unwrap();
    std::fs::write(srv.path("site/ünïcødé dir/nëw.txt"), b"added").unwrap();
    let out = ok(&["mirror", &srv.url("site/"), l, "--delete", "--parallel", "3", "--json"]);
    assert_eq!(copied(&out), 3, "{out}");
    assert_eq!(tree_files(&local), tree_files(&srv.path("site")));
    // Reverse: upload the local copy to a new server folder, then change it locally.
    let out = ok(&["mirror", "--reverse", l, &srv.url("back/"), "--parallel", "4", "--json"]);
    assert_eq!(copied(&out), 500);
    assert_eq!(tree_files(&srv.path("back")), tree_files(&local));
    assert_eq!(copied(&ok(&["mirror", "-R", l, &srv.url("back/"), "--json"])), 0, "times were kept by MFMT");
    std::fs::remove_file(local.join("a/f1.bin")).unwrap();
    std::fs::write(local.join("d4/f4.bin"), b"locally changed").unwrap();
    let out = ok(&["mirror", "-R", l, &srv.url("back/"), "--delete", "--json"]);
    assert_eq!(copied(&out), 1, "{out}");
    assert_eq!(tree_files(&srv.path("back")), tree_files(&local));
}

#[test]
fn fxp_direct_and_fallback() {
    let a = TestServer::start();
    let b = TestServer::start();
    let data = content(1_234_567, 8);
    a.write("x.iso", &data);
    b.write("in/.keep", b"");
    let out = ok(&["fxp", &a.url("x.iso"), &b.url("in/"), "--json"]);
    assert!(out.contains("\"how\":\"direct\""), "{out}");
    assert!(b.read("in/x.iso") == data);
    // A destination folder that does not exist: the copy fails, both sessions say why.
    let err = fails(&["fxp", &a.url("x.iso"), &b.url("nowhere/")], 5);
    assert!(err.contains("STOR nowhere/x.iso: 550") || err.contains("553"), "{err}");
    // A source behind a "public address" the destination may not connect to.
    let natted = TestServer::start_with(|c| {
        c.public_address = Some("127.0.0.2".into());
        c.local_clients_direct = false;
    });
    natted.write("y.iso", &data);
    let out = ferroftp(&["fxp", &natted.url("y.iso"), &b.url("y.iso")]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("streamed through this machine"), "{err}");
    assert!(b.read("y.iso") == data);
    let err = fails(&["fxp", &natted.url("y.iso"), &b.url("z.iso"), "--direct-only"], 1);
    assert!(err.contains("refused"), "{err}");
    assert!(!b.path("z.iso").exists());
}

#[test]
fn shell_reads_a_script_from_standard_input() {
    use std::io::Write;
    let srv = TestServer::start();
    srv.write("r1.txt", b"one");
    srv.write("r2.txt", b"two");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("local.txt"), b"from local").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferroftp"))
        .args(["ftp", "-n", "-v", &srv.addr.ip().to_string(), &srv.addr.port().to_string()])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let script = format!(
        "user {USER} {PASS}\nbin\nmget r*.txt\nput local.txt\nrename local.txt moved.txt\nsize moved.txt\nget nosuch\nbye\n"
    );
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("230 Login successful."), "{text}");
    assert!(text.contains("213 10"), "{text}");
    assert!(text.contains("550"), "{text}");
    // A failed command in a script makes the exit status non-zero.
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(dir.path().join("r1.txt")).unwrap(), b"one");
    assert_eq!(std::fs::read(dir.path().join("r2.txt")).unwrap(), b"two");
    assert_eq!(srv.read("moved.txt"), b"from local");
    assert!(!dir.path().join("nosuch").exists() && !dir.path().join("nosuch.part").exists());
}

#[test]
fn shell_through_a_terminal() {
    let srv = TestServer::start();
    srv.write("doc1.txt", b"first");
    srv.write("doc2.txt", b"second");
    srv.write("big.bin", &content(10_000, 1));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("up.txt"), b"uploaded").unwrap();
    let cmd = format!(
        "cd {} && HOME={} {} ftp -n {} {}",
        dir.path().display(),
        dir.path().display(),
        env!("CARGO_BIN_EXE_ferroftp"),
        srv.addr.ip(),
        srv.addr.port()
    );
    let mut p = rexpect::spawn_bash(Some(30_000)).unwrap();
    p.send_line(&cmd).unwrap();
    p.exp_string("Connected to").unwrap();
    p.exp_string("ftp> ").unwrap();
    p.send_line(&format!("user {USER} {PASS}")).unwrap();
    p.exp_string("230 Login successful.").unwrap();
    p.exp_string("ftp> ").unwrap();
    p.send_line("ls").unwrap();
    p.exp_string("doc2.txt").unwrap();
    p.exp_string("ftp> ").unwrap();
    p.send_line("hash").unwrap();
    p.exp_string("Hash mark printing on (1024 bytes/hash mark).").unwrap();
    p.send_line("get big.bin").unwrap();
    p.exp_string("#########").unwrap();
    p.exp_string("10000 bytes received").unwrap();
    p.send_line("hash").unwrap();
    p.exp_string("Hash mark printing off.").unwrap();
    // mget asks for each file: yes to the first, no to the second.
    p.send_line("mget doc*").unwrap();
    p.exp_string("mget doc1.txt? ").unwrap();
    p.send_line("y").unwrap();
    p.exp_string("mget doc2.txt? ").unwrap();
    p.send_line("n").unwrap();
    p.exp_string("ftp> ").unwrap();
    p.send_line("put up.txt").unwrap();
    p.exp_string("8 bytes sent").unwrap();
    p.send_line("delete nosuch").unwrap();
    p.exp_string("550").unwrap();
    p.exp_string("ftp> ").unwrap();
    p.send_line("frobnicate").unwrap();
    p.exp_string("?Invalid command.").unwrap();
    p.send_line("bye").unwrap();
    p.wait_for_prompt().unwrap();
    p.send_line("echo shell-exit=$?").unwrap();
    p.exp_string("shell-exit=0").unwrap();
    p.send_line("exit").unwrap();
    p.exp_eof().unwrap();
    assert_eq!(std::fs::read(dir.path().join("doc1.txt")).unwrap(), b"first");
    assert!(!dir.path().join("doc2.txt").exists(), "answered no");
    assert_eq!(std::fs::read(dir.path().join("big.bin")).unwrap().len(), 10_000);
    assert_eq!(srv.read("up.txt"), b"uploaded");
    assert!(dir.path().join(".ferroftp_history").exists(), "history is saved");
}

/// With `FERROFTP_INTEROP=1`: mirror both ways through pyftpdlib (MLSD and
/// MFMT, so a second run copies nothing), and one-shot commands over FTPS
/// against vsftpd, which refuses data connections that do not resume the
/// control connection's TLS session.
#[test]
fn interop_mirror_through_pyftpdlib_and_ftps_with_vsftpd() {
    if !peers::enabled("client command line") {
        return;
    }
    let py = peers::Pyftpdlib::start();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src);
    let s = src.to_str().unwrap();
    let out = ok(&["mirror", "--reverse", s, &py.url("site/"), "--parallel", "4", "--json"]);
    assert_eq!(copied(&out), 500);
    assert_eq!(tree_files(&py.path("site")), tree_files(&src));
    assert_eq!(copied(&ok(&["mirror", "-R", s, &py.url("site/"), "--json"])), 0, "times kept by MFMT");
    let back = dir.path().join("back");
    let out = ok(&["mirror", &py.url("site/"), back.to_str().unwrap(), "--parallel", "3", "--json"]);
    assert_eq!(copied(&out), 500);
    assert_eq!(tree_files(&back), tree_files(&src));

    let vs = peers::Vsftpd::start();
    let local = dir.path().join("big.bin");
    let data = content(3_000_001, 4);
    std::fs::write(&local, &data).unwrap();
    let tls = ["--tls", "--insecure"];
    ok(&[&["put"][..], &tls, &[local.to_str().unwrap(), &vs.url("pub/")]].concat());
    assert!(std::fs::read(vs.path("pub/big.bin")).unwrap() == data, "{}", vs.log());
    let listing = ok(&[&["ls"][..], &tls, &[&vs.url("pub/")]].concat());
    assert!(listing.contains("3000001") && listing.contains("big.bin"), "{listing}");
    let got = dir.path().join("got.bin");
    let out =
        ok(&[&["get"][..], &tls, &["--verify", "--json", &vs.url("pub/big.bin"), got.to_str().unwrap()]].concat());
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    // vsftpd offers no checksum command: the size is what can be checked.
    assert_eq!((v["bytes"].as_u64(), v["verified"].as_str()), (Some(3_000_001), Some("size")));
    assert!(std::fs::read(&got).unwrap() == data);
}
