//! The attack suite of the binary: what needs a real `ferroftp` process.
//! Memory and descriptors are read from /proc while bursts run, processes are
//! killed, privileges and the sandbox are checked from outside. Other hosts
//! are played by 127.0.0.2 and up on loopback.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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

/// 300 clients from 300 networks send a wrong password in the same instant,
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
            // Each from a network of its own (checks are queued per /24).
            let from = std::net::Ipv4Addr::new(127, 1 + (i / 200) as u8, (i % 200) as u8, 2);
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

/// `226` means the data is on disk: the staged file is flushed (fdatasync)
/// before it is renamed into place, the folder after (fsync), and only then
/// is `226` written. Checked on the system calls the server makes (strace);
/// with `sync_uploads = false` (scratch areas) there is no flush.
#[test]
fn a_226_is_sent_after_the_upload_is_on_disk() {
    let Some(strace) = tool("strace") else { return };
    for sync in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ferroftp.toml");
        let text =
            user_config("alice", dir.path()).replace("[server]\n", &format!("[server]\nsync_uploads = {sync}\n"));
        std::fs::write(&config, text).unwrap();
        let trace = dir.path().join("trace.txt");
        let mut command = std::process::Command::new(&strace);
        command.args(["-f", "-qq", "-e", "trace=fdatasync,fsync,renameat2,write,sendto", "-o"]).arg(&trace);
        command.arg(env!("CARGO_BIN_EXE_ferroftp"));
        let (child, _out, port, _) = serve_command(command, &config, &[]);
        let (mut w, mut r) = alice(port);
        let mut data = epsv(&mut w, &mut r);
        begin(&mut w, &mut r, "STOR stored.bin");
        data.write_all(&content(100_000, 1)).unwrap();
        drop(data);
        let done = read_reply(&mut r);
        assert!(done.starts_with("226"), "{done}");
        drop((w, r));
        // Stop the server, not its tracer: strace ends with it.
        let tracer = child.id();
        let children = std::fs::read_to_string(format!("/proc/{tracer}/task/{tracer}/children")).unwrap();
        let server = children.split_whitespace().next().expect("the traced server").to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &server]).status().unwrap().success());
        let mut child = child;
        child.0.wait().unwrap();
        let text = std::fs::read_to_string(&trace).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let at = |what: &dyn Fn(&str) -> bool| lines.iter().position(|l| what(l));
        let rename = at(&|l| l.contains("renameat2(") && l.contains("\"stored.bin\"")).expect("the upload's rename");
        let reply = at(&|l| l.contains("\"226 ")).expect("the 226 reply");
        let flush = lines[..rename].iter().rposition(|l| l.contains("fdatasync("));
        let folder = lines[rename..reply].iter().position(|l| l.contains("fsync("));
        if sync {
            assert!(flush.is_some(), "no fdatasync before the rename:\n{text}");
            assert!(folder.is_some(), "no fsync of the folder between the rename and 226:\n{text}");
            assert!(rename < reply);
        } else {
            assert!(!text.contains("fdatasync("), "sync_uploads = false still flushes:\n{text}");
        }
    }
}

/// A server killed mid-upload (kill -9) leaves what it had received staged:
/// after a restart the uploader continues it (SIZE, REST, STOR). What nobody
/// continues is removed when it expires, also when the server that staged it
/// is gone; temporary files of earlier versions are removed at start.
#[test]
fn a_server_killed_mid_upload_leaves_it_to_resume_then_to_expire() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let config = dir.path().join("ferroftp.toml");
    let write_config = |keep: &str| {
        let text = user_config("alice", &home)
            .replace("[server]\n", &format!("[server]\nkeep_partial_uploads = \"{keep}\"\n"));
        std::fs::write(&config, text).unwrap();
    };
    let body = content(8 << 20, 2);
    let kill_mid_upload = |port: u16, child: Running| {
        let (mut w, mut r) = alice(port);
        let mut data = epsv(&mut w, &mut r);
        begin(&mut w, &mut r, "STOR big.bin");
        data.write_all(&body[..3 << 20]).unwrap();
        // The server has the first bytes on disk once its staged file grows.
        let staging = home.join(".ferroftp-staging");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::fs::read_dir(&staging).into_iter().flatten().flatten().all(|e| e.metadata().unwrap().len() == 0) {
            assert!(std::time::Instant::now() < deadline, "nothing staged");
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut child = child;
        child.0.kill().unwrap();
        child.0.wait().unwrap();
    };
    write_config("1h");
    let (child, _out, port, _) = serve_config(&config, &[]);
    kill_mid_upload(port, child);
    assert!(!home.join("big.bin").exists());

    let (child, _out, port, _) = serve_config(&config, &[]);
    let (mut w, mut r) = alice(port);
    w.write_all(b"SIZE big.bin\r\n").unwrap();
    let size = read_reply(&mut r);
    let staged: usize = size.strip_prefix("213 ").unwrap_or_else(|| panic!("{size}")).trim().parse().unwrap();
    assert!(staged > 0 && staged <= 3 << 20, "{staged}");
    w.write_all(format!("REST {staged}\r\n").as_bytes()).unwrap();
    assert!(read_reply(&mut r).starts_with("350"));
    let mut data = epsv(&mut w, &mut r);
    begin(&mut w, &mut r, "STOR big.bin");
    data.write_all(&body[staged..]).unwrap();
    drop(data);
    assert!(read_reply(&mut r).starts_with("226"));
    assert!(std::fs::read(home.join("big.bin")).unwrap() == body, "the resumed file differs");
    kill_mid_upload(port, child);

    // Nobody resumes it: gone once it expires, without the server that staged it.
    std::fs::write(home.join(".ferroftp-upload-00aa-old.bin"), b"an earlier version's leftover").unwrap();
    write_config("1s");
    let (child, _out, _port, _) = serve_config(&config, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while home.join(".ferroftp-staging").exists() || home.join(".ferroftp-upload-00aa-old.bin").exists() {
        assert!(std::time::Instant::now() < deadline, "the expired upload was not removed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let left: Vec<_> = std::fs::read_dir(&home).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["big.bin"]);
    stop(child);
}

/// Uploads that trickle a byte at a time cost little memory while they last
/// (each was 159 KiB) and end at the minimum rate; rounds of hundreds of
/// uploads at once leave the server's memory near where it started (it was
/// 378 MB after such rounds).
#[test]
fn uploads_cost_little_memory_and_slow_ones_end() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ferroftp.toml");
    let text = user_config("alice", dir.path()).replace(
        "[server]\n",
        "[server]\nmin_transfer_rate = \"1 KiB/s\"\nmin_rate_window = \"5s\"\nmax_connections_per_ip = 1000\n",
    );
    std::fs::write(&config, text).unwrap();
    let (child, out, port, _) = serve_config(&config, &[]);
    std::thread::spawn(move || out.lines().count());
    let idle = kib(proc_status(child.id(), "VmRSS"));
    const SLOW: usize = 300;
    // Logged in first, so that what is measured is the uploads alone (not the
    // sessions, nor the password checks' working memory).
    let mut sessions: Vec<_> = (0..SLOW).map(|_| alice(port)).collect();
    let logged_in = kib(proc_status(child.id(), "VmRSS"));
    let mut slow = Vec::new();
    for (i, (mut w, mut r)) in sessions.drain(..).enumerate() {
        let mut data = epsv(&mut w, &mut r);
        begin(&mut w, &mut r, &format!("STOR slow-{i}.bin"));
        data.write_all(b"x").unwrap();
        slow.push((w, r, data));
    }
    let during = kib(proc_status(child.id(), "VmRSS"));
    let each = (during.saturating_sub(logged_in)) / SLOW as u64;
    for (_, r, _) in &mut slow {
        let reply = read_reply(r);
        assert!(reply.starts_with("426") && reply.contains("too slow"), "{reply}");
    }
    drop(slow);
    // Rounds of 200 uploads of 512 KiB each, all open at once.
    let body = content(512 * 1024, 3);
    for round in 0..3 {
        let mut sessions: Vec<_> = (0..200).map(|_| alice(port)).collect();
        let mut data: Vec<TcpStream> = sessions
            .iter_mut()
            .enumerate()
            .map(|(i, (w, r))| {
                let d = epsv(w, r);
                begin(w, r, &format!("STOR round-{round}-{i}.bin"));
                d
            })
            .collect();
        for d in &mut data {
            d.write_all(&body).unwrap();
        }
        drop(data);
        for (_, mut r) in sessions {
            let done = read_reply(&mut r);
            assert!(done.starts_with("226"), "{done}");
        }
    }
    let after = kib(proc_status(child.id(), "VmRSS"));
    let peak = kib(proc_status(child.id(), "VmHWM"));
    eprintln!("uploads: idle {idle} KiB, {each} KiB per slow upload, after 600 uploads {after} KiB, peak {peak} KiB");
    assert!(each < 48, "{each} KiB per slow upload");
    assert!(after < idle + 64 * 1024, "{after} KiB after the rounds, {idle} KiB before");
    stop(child);
}

/// `ferroftp cert generate` into `cert` and `key`; returns the fingerprint.
fn generate_certificate(cert: &std::path::Path, key: &std::path::Path) -> String {
    let out =
        ferroftp().args(["cert", "generate", "--force", "--cert"]).arg(cert).arg("--key").arg(key).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().find_map(|l| l.strip_prefix("SHA-256 fingerprint: ")).unwrap().to_string()
}

/// Points `link` at `target` the way certbot and `ln -sfn` do: a new link
/// renamed over the old one.
fn replace_link(target: &std::path::Path, link: &std::path::Path) {
    let tmp = link.with_extension("new-link");
    std::os::unix::fs::symlink(target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

/// Inside the sandbox, a reload still reads a configuration replaced by `mv`
/// (a new file, as `sed -i` and editors write) and a certificate renewed the
/// way certbot renews it (new files in `archive/`, the links in `live/`
/// moved): the sandbox allows their folders, not the files seen at start.
#[test]
fn renewed_certificates_and_replaced_configurations_reload_inside_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let (conf, archive, live, home) = (
        dir.path().join("conf"),
        dir.path().join("le/archive/x"),
        dir.path().join("le/live/x"),
        dir.path().join("home"),
    );
    for d in [&conf, &archive, &live, &home] {
        std::fs::create_dir_all(d).unwrap();
    }
    let first = generate_certificate(&archive.join("fullchain1.pem"), &archive.join("privkey1.pem"));
    replace_link(std::path::Path::new("../../archive/x/fullchain1.pem"), &live.join("fullchain.pem"));
    replace_link(std::path::Path::new("../../archive/x/privkey1.pem"), &live.join("privkey.pem"));
    let config = conf.join("ferroftp.toml");
    let text = |users: &str| {
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\n[tls]\nmode = \"optional\"\ncert = \"../le/live/x/fullchain.pem\"\nkey = \"../le/live/x/privkey.pem\"\n{users}"
        )
    };
    let alice = format!("[users.alice]\npassword = \"{HASH}\"\nhome = \"{}\"\n", home.display());
    std::fs::write(&config, text(&alice)).unwrap();
    let socket = dir.path().join("ctl.sock");
    let (child, mut out, port, seen) = serve_config(&config, &["--control-socket", socket.to_str().unwrap()]);
    assert!(seen.contains(&first), "{seen}");
    if kernel_has_landlock() {
        assert!(seen.contains("sandbox: Landlock active"), "{seen}");
    }
    // The renewal, then the configuration rewritten into a new file.
    let second = generate_certificate(&archive.join("fullchain2.pem"), &archive.join("privkey2.pem"));
    replace_link(std::path::Path::new("../../archive/x/fullchain2.pem"), &live.join("fullchain.pem"));
    replace_link(std::path::Path::new("../../archive/x/privkey2.pem"), &live.join("privkey.pem"));
    let bob = format!("[users.bob]\npassword = \"{HASH}\"\nhome = \"{}\"\n", home.display());
    let new = conf.join("ferroftp.toml.new");
    std::fs::write(&new, text(&format!("{alice}{bob}"))).unwrap();
    std::fs::rename(&new, &config).unwrap();
    let reload = ferroftp().args(["reload", "--socket"]).arg(&socket).output().unwrap();
    assert!(reload.status.success(), "{}", String::from_utf8_lossy(&reload.stderr));
    let line = wait_for_line(&mut out, "TLS certificate in use after the reload");
    assert!(line.contains(&second), "{line}");
    assert!(login(port, "bob").starts_with("230 "));
    stop(child);
}

/// Started as root with `server.user`, the server serves TLS with a key only
/// root may read (as certbot writes it), and reloads a renewed one, although
/// it gave up root: a helper that keeps root reads the two files for it and
/// nothing else.
#[test]
fn started_as_root_a_root_only_key_is_read_and_renewed_keys_reload() {
    use std::os::unix::fs::PermissionsExt;
    if !is_root() {
        eprintln!("not root: test not run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (keys, public) = (dir.path().join("keys"), dir.path().join("pub"));
    std::fs::create_dir(&keys).unwrap();
    std::fs::create_dir(&public).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o700)).unwrap();
    let (cert, key) = (keys.join("cert.pem"), keys.join("key.pem"));
    let first = generate_certificate(&cert, &key);
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let config = dir.path().join("ferroftp.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nuser = \"nobody\"\n[tls]\nmode = \"optional\"\ncert = \"{}\"\nkey = \"{}\"\n[anonymous]\naccess = \"read\"\nroot = \"{}\"\n",
            cert.display(),
            key.display(),
            public.display()
        ),
    )
    .unwrap();
    let socket = dir.path().join("ctl.sock");
    let (child, mut out, port, seen) = serve_config(&config, &["--control-socket", socket.to_str().unwrap()]);
    assert!(seen.contains("gave up root") && seen.contains(&first), "{seen}");
    assert_eq!(proc_status(child.id(), "Uid"), "65534\t65534\t65534\t65534");
    let (mut w, mut r) = connect(port);
    w.write_all(b"AUTH TLS\r\n").unwrap();
    assert!(read_reply(&mut r).starts_with("234 "));
    drop((w, r));
    // Renewed, still root-only; the running server reads it on reload.
    let second = generate_certificate(&cert, &key);
    let reload = ferroftp().args(["reload", "--socket"]).arg(&socket).output().unwrap();
    assert!(reload.status.success(), "{}", String::from_utf8_lossy(&reload.stderr));
    let line = wait_for_line(&mut out, "TLS certificate in use after the reload");
    assert!(line.contains(&second), "{line}");
    stop(child);
}
