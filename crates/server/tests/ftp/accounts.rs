//! Accounts from a configuration file: folder rights (each right allowed and
//! refused), inheritance and overrides, groups against users, the anonymous
//! `incoming` folder, connection limits, address filters and messages.

use crate::common::{PW, PW_HASH, Raw, TestServer};

/// One folder per right with every right but that one, and `/all` with all.
fn matrix_server() -> TestServer {
    let rights = ["list", "read", "write", "append", "delete", "rename", "mkdir", "rmdir"];
    let mut toml = format!("[users.u]\npassword = \"{PW_HASH}\"\nhome = \"{{root}}\"\n[users.u.folders]\n");
    for r in rights {
        let others: Vec<String> = rights.iter().filter(|x| **x != r).map(|x| format!("\"{x}\"")).collect();
        toml.push_str(&format!("\"/no-{r}\" = {{ rights = [{}] }}\n", others.join(", ")));
    }
    let dirs: Vec<String> = rights.iter().map(|r| format!("no-{r}")).chain(["all".to_string()]).collect();
    let dirs: Vec<&str> = dirs.iter().map(String::as_str).collect();
    let server = TestServer::from_toml(&toml, &dirs);
    for d in &dirs {
        server.write(&format!("{d}/file.txt"), b"content\n");
        std::fs::create_dir_all(server.path(&format!("{d}/sub"))).unwrap();
    }
    server
}

/// Runs the operation that needs `right` in `dir` and returns the final reply.
fn attempt(c: &mut Raw, right: &str, dir: &str) -> crate::common::Reply {
    match right {
        "list" => {
            let mut data = c.epsv();
            let r = c.cmd(&format!("LIST {dir}"));
            if r.code != 150 {
                return r;
            }
            let mut sink = Vec::new();
            std::io::Read::read_to_end(&mut data, &mut sink).unwrap();
            c.reply()
        }
        "read" => {
            let mut data = c.epsv();
            let r = c.cmd(&format!("RETR {dir}/file.txt"));
            if r.code != 150 {
                return r;
            }
            let mut sink = Vec::new();
            std::io::Read::read_to_end(&mut data, &mut sink).unwrap();
            c.reply()
        }
        "write" | "append" => {
            let (verb, name) = if right == "write" { ("STOR", "new.txt") } else { ("APPE", "file.txt") };
            let mut data = c.epsv();
            let r = c.cmd(&format!("{verb} {dir}/{name}"));
            if r.code != 150 {
                return r;
            }
            std::io::Write::write_all(&mut data, b"more\n").unwrap();
            drop(data);
            c.reply()
        }
        "delete" => c.cmd(&format!("DELE {dir}/file.txt")),
        "rename" => {
            let r = c.cmd(&format!("RNFR {dir}/file.txt"));
            if r.code != 350 {
                return r;
            }
            c.cmd(&format!("RNTO {dir}/renamed.txt"))
        }
        "mkdir" => c.cmd(&format!("MKD {dir}/newdir")),
        "rmdir" => c.cmd(&format!("RMD {dir}/sub")),
        other => panic!("no operation for {other}"),
    }
}

#[test]
fn every_right_is_granted_and_refused_by_folder() {
    let server = matrix_server();
    let mut c = server.raw();
    c.login("u", PW);
    c.expect("TYPE I", 200);
    for right in ["list", "read", "write", "append", "delete", "rename", "mkdir", "rmdir"] {
        for d in ["all", "no-list", "no-read"] {
            server.write(&format!("{d}/file.txt"), b"content\n");
            std::fs::create_dir_all(server.path(&format!("{d}/sub"))).unwrap();
        }
        let refused = attempt(&mut c, right, &format!("/no-{right}"));
        assert_eq!(refused.code, 550, "{right} refused: {refused:?}");
        assert!(refused.text().contains(&format!("no '{right}' right")), "{right}: {refused:?}");
        let allowed = attempt(&mut c, right, "/all");
        assert!(matches!(allowed.code, 226 | 250 | 257), "{right} allowed in /all: {allowed:?}");
        // The refused folder still allows the other rights (here: the same operation
        // in a sibling folder that lacks a different right).
        let other = if right == "list" { "read" } else { "list" };
        let sibling = attempt(&mut c, right, &format!("/no-{other}"));
        assert!(matches!(sibling.code, 226 | 250 | 257), "{right} in /no-{other}: {sibling:?}");
    }
    // Nothing happened on disk where it was refused.
    assert!(!server.path("no-write/new.txt").exists());
    assert_eq!(server.read("no-append/file.txt"), b"content\n");
    assert!(server.path("no-delete/file.txt").exists());
    assert!(server.path("no-rmdir/sub").is_dir());
    assert!(!server.path("no-mkdir/newdir").exists());
    assert!(server.path("all/newdir").is_dir());
    // Overwriting needs delete too.
    let (_, done) = c.upload("STOR /no-delete/file.txt", b"x");
    assert_eq!(done.code, 550, "{done:?}");
    assert!(done.text().contains("no 'delete' right"), "{done:?}");
    // MLSD shows each entry's rights in its perm fact.
    let lines = c.listing("MLSD /");
    let perm = |name: &str| {
        lines.iter().find(|l| l.ends_with(&format!(" {name}"))).unwrap_or_else(|| panic!("{name} in {lines:?}")).clone()
    };
    assert!(perm("no-delete").contains("perm=cdeflm;"), "{}", perm("no-delete"));
    assert!(perm("all").contains("perm=cdeflmp;"), "{}", perm("all"));
}

#[test]
fn rights_are_inherited_until_overridden_deeper() {
    let toml = format!(
        r#"
[users.u]
password = "{PW_HASH}"
[users.u.folders]
"/" = {{ path = "{{root}}", rights = ["list", "read"] }}
"/a/b/c" = {{ rights = "all" }}
"/a/b/c/frozen" = {{ rights = "list" }}
"#
    );
    let server = TestServer::from_toml(&toml, &["a/b/c/d", "a/b/c/frozen"]);
    server.write("a/b/c/frozen/f", b"x");
    let mut c = server.raw();
    c.login("u", PW);
    assert_eq!(c.upload("STOR /a/b/x.txt", b"1").1.code, 550);
    assert_eq!(c.upload("STOR /a/b/c/d/x.txt", b"1").1.code, 226, "inherited from /a/b/c");
    assert_eq!(c.upload("STOR /a/b/c/x.txt", b"1").1.code, 226);
    c.expect("MKD /a/b/c/d/e", 257);
    let r = c.cmd("RETR /a/b/c/frozen/f");
    assert_eq!(r.code, 550, "{r:?}");
    assert!(r.text().contains("no 'read' right on /a/b/c/frozen/f"), "{r:?}");
    c.expect("CWD /a/b/c/frozen", 250);
    assert_eq!(c.listing("NLST"), ["f"]);
}

#[test]
fn users_override_their_groups() {
    let toml = format!(
        r#"
[groups.team]
login_message = "team message"
[groups.team.folders]
"/shared" = {{ path = "{{root}}/shared", rights = ["list", "read"] }}
[users.lead]
password = "{PW_HASH}"
groups = ["team"]
login_message = "lead message"
home = "{{root}}/lead"
[users.lead.folders]
"/shared" = {{ rights = "all" }}
[users.member]
password = "{PW_HASH}"
groups = ["team"]
home = "{{root}}/member"
"#
    );
    let server = TestServer::from_toml(&toml, &["shared", "lead", "member"]);
    let mut lead = server.raw();
    lead.expect("USER lead", 331);
    let r = lead.expect(&format!("PASS {PW}"), 230);
    assert!(r.text().contains("lead message") && !r.text().contains("team message"), "{r:?}");
    assert_eq!(lead.upload("STOR /shared/by-lead.txt", b"1").1.code, 226);
    let mut member = server.raw();
    member.expect("USER member", 331);
    let r = member.expect(&format!("PASS {PW}"), 230);
    assert!(r.text().contains("team message"), "{r:?}");
    assert_eq!(member.upload("STOR /shared/by-member.txt", b"1").1.code, 550);
    // Both see the group's folder next to their own files.
    server.write("member/mine.txt", b"m");
    let mut names = member.listing("NLST /");
    names.sort();
    assert_eq!(names, ["mine.txt", "shared"]);
    assert_eq!(member.listing("NLST /shared"), ["by-lead.txt"]);
    // The mount point itself cannot be removed or renamed.
    let r = lead.cmd("RMD /shared");
    assert_eq!(r.code, 550);
    assert!(r.text().contains("mounted folder"), "{r:?}");
}

#[test]
fn anonymous_incoming_is_upload_only() {
    let toml = r#"
[anonymous]
access = "read"
root = "{root}"
incoming = "incoming"
"#;
    let server = TestServer::from_toml(toml, &["incoming", "pub"]);
    server.write("pub/readme.txt", b"hello");
    let mut c = server.raw();
    c.login("anonymous", "guest@example.com");
    assert_eq!(c.data_cmd("RETR /pub/readme.txt").1, b"hello");
    assert_eq!(c.upload("STOR /pub/up.txt", b"x").1.code, 550, "read-only outside incoming");
    let (_, done) = c.upload("STOR /incoming/drop.txt", b"dropped");
    assert_eq!(done.code, 226, "{done:?}");
    assert_eq!(server.read("incoming/drop.txt"), b"dropped");
    let r = c.cmd("LIST /incoming");
    assert_eq!(r.code, 550, "cannot list incoming: {r:?}");
    let r = c.cmd("RETR /incoming/drop.txt");
    assert_eq!(r.code, 550, "cannot download from incoming: {r:?}");
    let (_, done) = c.upload("STOR /incoming/drop.txt", b"replaced");
    assert_eq!(done.code, 550, "cannot overwrite: {done:?}");
    assert_eq!(server.read("incoming/drop.txt"), b"dropped");
    assert_eq!(c.cmd("DELE /incoming/drop.txt").code, 550);
    assert_eq!(c.cmd("RNFR /incoming/drop.txt").code, 550);
    assert_eq!(c.cmd("MLST /incoming/drop.txt").code, 550);
    // Nor its size or time: a drop box tells nothing about what is in it.
    c.expect("TYPE I", 200);
    assert_eq!(c.cmd("SIZE /incoming/drop.txt").code, 550);
    assert_eq!(c.cmd("MDTM /incoming/drop.txt").code, 550);
    // A second anonymous user sees nothing of it either.
    let mut other = server.raw();
    other.login("ftp", "x@y");
    assert_eq!(other.cmd("NLST /incoming").code, 550);
}

#[test]
fn connection_limits_reply_with_the_limit() {
    let toml = format!(
        r#"
[server]
max_connections = 3
max_connections_per_ip = 2
[users.u]
password = "{PW_HASH}"
home = "{{root}}"
max_sessions = 1
"#
    );
    let server = TestServer::from_toml(&toml, &[]);
    let v6 = server.v6.expect("IPv6 loopback");
    let mut a = server.raw();
    let _b = server.raw();
    let refused = Raw::connect_any(server.v4);
    assert_eq!(refused.greeting.code, 421);
    assert!(refused.greeting.text().contains("from your address: 2 allowed"), "{:?}", refused.greeting);
    let _c = Raw::connect(v6);
    let refused = Raw::connect_any(v6);
    assert_eq!(refused.greeting.code, 421);
    assert!(refused.greeting.text().contains("server allows 3"), "{:?}", refused.greeting);
    // Per user: the second login of u is refused with 530, the first goes on.
    a.login("u", PW);
    let mut second = _b;
    second.expect("USER u", 331);
    let r = second.expect(&format!("PASS {PW}"), 530);
    assert!(r.text().contains("Too many sessions for user u: 1 allowed"), "{r:?}");
    a.expect("NOOP", 200);
    // Once the first session has ended (the server closed it), u may log in again.
    a.expect("QUIT", 221);
    a.wait_closed();
    second.login("u", PW);
}

#[test]
fn address_filters_for_server_and_user() {
    let toml = format!(
        r#"
[server]
deny = ["127.0.0.0/8"]
[users.u]
password = "{PW_HASH}"
home = "{{root}}"
allow = ["::1"]
"#
    );
    let server = TestServer::from_toml(&toml, &[]);
    let refused = Raw::connect_any(server.v4);
    assert_eq!(refused.greeting.code, 421);
    assert!(refused.greeting.text().contains("not allowed"), "{:?}", refused.greeting);
    let mut c = Raw::connect(server.v6.expect("IPv6 loopback"));
    c.login("u", PW);

    let toml = format!(
        r#"
[users.u]
password = "{PW_HASH}"
home = "{{root}}"
deny = ["::1/128"]
allow = ["127.0.0.0/8", "2001:db8::/32"]
"#
    );
    let server = TestServer::from_toml(&toml, &[]);
    let mut v4 = server.raw();
    v4.login("u", PW);
    let mut v6 = Raw::connect(server.v6.expect("IPv6 loopback"));
    v6.expect("USER u", 331);
    let r = v6.expect(&format!("PASS {PW}"), 530);
    assert!(r.text().contains("not allowed from your address"), "{r:?}");
    // A wrong password from the denied address reads like any wrong password.
    v6.expect("USER u", 331);
    let r = v6.expect("PASS wrong", 530);
    assert_eq!(r.text(), "Login incorrect.");
}

#[test]
fn banner_login_and_directory_messages() {
    let toml = format!(
        r#"
[server]
banner = """
Welcome to the test server.
Be nice.
"""
directory_message = ".message"
[users.u]
password = "{PW_HASH}"
home = "{{root}}"
login_message = "Hello u.\nSecond line."
"#
    );
    let server = TestServer::from_toml(&toml, &["docs", "plain"]);
    server.write("docs/.message", b"These are the docs.\n200 lines of them.\n");
    let mut c = server.raw();
    assert_eq!(c.greeting.lines, ["Welcome to the test server.", "Be nice."]);
    c.expect("USER u", 331);
    let r = c.expect(&format!("PASS {PW}"), 230);
    assert_eq!(r.lines, ["Hello u.", "Second line.", "Login successful."]);
    let r = c.expect("CWD docs", 250);
    // A line starting with a digit is indented so it cannot end the reply (RFC 959 §4.2).
    assert_eq!(r.lines, ["These are the docs.", " 200 lines of them.", "Directory changed to /docs."]);
    let r = c.expect("CWD /plain", 250);
    assert_eq!(r.lines, ["Directory changed to /plain."]);
}

#[test]
fn unknown_and_disabled_users_read_like_wrong_passwords() {
    let toml = format!(
        r#"
[users.u]
password = "{PW_HASH}"
home = "{{root}}"
[users.off]
password = "{PW_HASH}"
home = "{{root}}"
disabled = true
"#
    );
    let server = TestServer::from_toml(&toml, &[]);
    let mut c = server.raw();
    for (user, pass) in [("nobody", PW), ("off", PW), ("u", "wrong")] {
        c.expect(&format!("USER {user}"), 331);
        let r = c.expect(&format!("PASS {pass}"), 530);
        assert_eq!(r.text(), "Login incorrect.", "{user}");
    }
    c.login("u", PW);
}

#[test]
fn reload_applies_to_new_sessions_and_keeps_running_ones() {
    let config_for = |user: &str| format!("[users.{user}]\npassword = \"{PW_HASH}\"\nhome = \"{{root}}\"\n");
    let server = TestServer::from_toml(&config_for("before"), &[]);
    let big = crate::common::content(32 << 20, 7);
    server.write("big.bin", &big);
    let mut c = server.raw();
    c.login("before", PW);
    c.expect("TYPE I", 200);
    let mut data = c.epsv();
    c.expect("RETR big.bin", 150);
    let mut got = vec![0u8; 1 << 20];
    std::io::Read::read_exact(&mut data, &mut got).unwrap();

    // Mid-transfer: "before" is gone from the configuration, "after" is new.
    server.reload_toml(&config_for("after"));
    let mut fresh = server.raw();
    fresh.expect("USER before", 331);
    fresh.expect(&format!("PASS {PW}"), 530);
    fresh.login("after", PW);

    // The running session and its transfer go on to the end.
    std::io::Read::read_to_end(&mut data, &mut got).unwrap();
    assert_eq!(got.len(), big.len());
    assert!(got == big, "the download changed across the reload");
    c.expect_final(226);
    c.expect("PWD", 257);
}

/// Runs `f` and returns bytes per second over its duration.
fn rate_of(bytes: usize, f: impl FnOnce()) -> f64 {
    let start = std::time::Instant::now();
    f();
    bytes as f64 / start.elapsed().as_secs_f64()
}

fn assert_near(rate: f64, limit: f64, what: &str) {
    let ratio = rate / limit;
    assert!(
        (0.8..=1.2).contains(&ratio),
        "{what}: {:.2} MiB/s against a limit of {:.2} MiB/s",
        rate / 1048576.0,
        limit / 1048576.0
    );
}

#[test]
fn speed_limits_hold_and_are_shared_by_a_users_transfers() {
    const MIB: usize = 1 << 20;
    let toml = format!(
        r#"
[users.u]
password = "{PW_HASH}"
home = "{{root}}"
download_limit = "8 MiB/s"
upload_limit = "8 MiB/s"
[users.v]
password = "{PW_HASH}"
home = "{{root}}"
"#
    );
    let server = TestServer::from_toml(&toml, &[]);
    let file = crate::common::content(5 * MIB, 3);
    server.write("five.bin", &file);
    let mut c = server.raw();
    c.login("u", PW);
    c.expect("TYPE I", 200);
    let rate = rate_of(5 * MIB, || assert_eq!(c.data_cmd("RETR five.bin").1.len(), 5 * MIB));
    assert_near(rate, (8 * MIB) as f64, "download");
    let rate = rate_of(5 * MIB, || assert_eq!(c.upload("STOR up.bin", &file).1.code, 226));
    assert_near(rate, (8 * MIB) as f64, "upload");

    // Two downloads of u at once share the 8 MiB/s: each gets about half.
    let addr = server.v4;
    let each: Vec<f64> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(move || {
                    let mut c = Raw::connect(addr);
                    c.login("u", PW);
                    c.expect("TYPE I", 200);
                    rate_of(5 * MIB, || assert_eq!(c.data_cmd("RETR five.bin").1.len(), 5 * MIB))
                })
            })
            .collect();
        runs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &each {
        assert_near(*r, (4 * MIB) as f64, "each of two downloads");
    }
    // Another user is not held back by u's limit.
    let mut v = server.raw();
    v.login("v", PW);
    v.expect("TYPE I", 200);
    let rate = rate_of(5 * MIB, || assert_eq!(v.data_cmd("RETR five.bin").1.len(), 5 * MIB));
    assert!(rate > (16 * MIB) as f64, "an unlimited user ran at {:.1} MiB/s", rate / MIB as f64);
}

#[test]
fn a_server_wide_limit_is_shared_by_everyone() {
    const MIB: usize = 1 << 20;
    let toml = format!(
        r#"
[server]
download_limit = "8 MiB/s"
[users.u]
password = "{PW_HASH}"
home = "{{root}}"
[users.v]
password = "{PW_HASH}"
home = "{{root}}"
"#
    );
    let server = TestServer::from_toml(&toml, &[]);
    server.write("five.bin", &crate::common::content(5 * MIB, 4));
    let addr = server.v4;
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for user in ["u", "v"] {
            s.spawn(move || {
                let mut c = Raw::connect(addr);
                c.login(user, PW);
                c.expect("TYPE I", 200);
                assert_eq!(c.data_cmd("RETR five.bin").1.len(), 5 * MIB);
            });
        }
    });
    let rate = (10 * MIB) as f64 / start.elapsed().as_secs_f64();
    assert_near(rate, (8 * MIB) as f64, "two users under one server limit");
}

#[test]
fn quotas_stop_uploads_at_the_limit() {
    const MIB: usize = 1 << 20;
    let toml = format!(
        r#"
[users.u]
password = "{PW_HASH}"
home = "{{root}}/u"
quota = {{ bytes = "2 MiB", files = 3 }}
"#
    );
    let server = TestServer::from_toml(&toml, &["u"]);
    server.write("u/existing.bin", &vec![1u8; MIB / 2]);
    let mut c = server.raw();
    c.login("u", PW);
    c.expect("TYPE I", 200);
    // 0.5 MiB is used; 3 MiB more does not fit: the transfer stops with 552 and
    // leaves nothing behind.
    let big = crate::common::content(3 * MIB, 9);
    let mut data = c.epsv();
    c.expect("STOR big.bin", 150);
    // The server stops reading at the limit; what it does not take is refused.
    let _ = std::io::Write::write_all(&mut data, &big);
    drop(data);
    let r = c.reply();
    assert_eq!(r.code, 552, "{r:?}");
    assert!(r.text().contains("Quota exceeded") && r.text().contains("of 2 MiB used"), "{r:?}");
    assert_eq!(server.visible_names("u"), ["existing.bin"]);
    assert!(server.staged("u").is_empty(), "the partial upload is removed: {:?}", server.staged("u"));
    // What fits still goes in, and counts.
    assert_eq!(c.upload("STOR one.bin", &vec![2u8; MIB]).1.code, 226);
    let r = c.upload("STOR two.bin", &vec![3u8; MIB]).1;
    assert_eq!(r.code, 552, "1.5 MiB used, 1 MiB more does not fit: {r:?}");
    // Deleting gives room back; the file count is a limit too.
    c.expect("DELE one.bin", 250);
    assert_eq!(c.upload("STOR a.txt", b"a").1.code, 226);
    assert_eq!(c.upload("STOR b.txt", b"b").1.code, 226);
    let r = c.upload("STOR c.txt", b"c").0;
    assert_eq!(r.code, 552, "a fourth file: {r:?}");
    assert!(r.text().contains("3 of 3 files"), "{r:?}");
    // Replacing a file adds no file.
    assert_eq!(c.upload("STOR a.txt", b"aa").1.code, 226);
    // An append that hits the limit keeps what it wrote (it was asked to resume).
    let mut data = c.epsv();
    c.expect("APPE a.txt", 150);
    let _ = std::io::Write::write_all(&mut data, &vec![4u8; 2 * MIB]);
    drop(data);
    assert_eq!(c.reply().code, 552);
    let kept = server.read("u/a.txt").len();
    assert!(kept > 2 && kept <= 2 + 2 * MIB - MIB / 2, "{kept} bytes kept");
}

#[test]
fn a_group_quota_is_shared_by_its_members() {
    let toml = format!(
        r#"
[groups.team]
quota = {{ bytes = "100 KiB" }}
[groups.team.folders]
"/shared" = {{ path = "{{root}}/shared", rights = "all" }}
[users.a]
password = "{PW_HASH}"
groups = ["team"]
home = "{{root}}/a"
[users.b]
password = "{PW_HASH}"
groups = ["team"]
home = "{{root}}/b"
"#
    );
    let server = TestServer::from_toml(&toml, &["shared", "a", "b"]);
    let mut a = server.raw();
    a.login("a", PW);
    let mut b = server.raw();
    b.login("b", PW);
    assert_eq!(a.upload("STOR /shared/a.bin", &[0u8; 60 * 1024]).1.code, 226);
    let r = b.upload("STOR /shared/b.bin", &[0u8; 60 * 1024]).1;
    assert_eq!(r.code, 552, "b shares a's quota: {r:?}");
    assert!(r.text().contains("group team"), "{r:?}");
    // The group's quota does not count the members' own folders.
    assert_eq!(b.upload("STOR /own.bin", &[0u8; 200 * 1024]).1.code, 226);
}

#[test]
fn fxp_is_a_per_user_setting() {
    let toml = format!(
        r#"
[users.plain]
password = "{PW_HASH}"
home = "{{root}}"
[users.fxp]
password = "{PW_HASH}"
home = "{{root}}"
fxp = true
"#
    );
    let server = TestServer::from_toml(&toml, &[]);
    server.write("f.txt", b"server to server");
    let mut plain = server.raw();
    plain.login("plain", PW);
    let r = plain.cmd("PORT 127,0,0,2,200,10");
    assert_eq!(r.code, 500, "{r:?}");
    let mut fxp = server.raw();
    fxp.login("fxp", PW);
    fxp.expect("PORT 127,0,0,2,200,10", 200);
    fxp.expect("PORT 127,0,0,2,0,80", 504); // still never a privileged port
    // A passive connection from another address: accepted only with FXP.
    let other: std::net::IpAddr = "127.0.0.2".parse().unwrap();
    let r = fxp.expect("EPSV", 229);
    let port = ferroftp_proto::hostport::parse_epsv_reply(&r.text()).unwrap();
    let mut data = crate::common::connect_from(other, std::net::SocketAddr::new(server.v4.ip(), port)).unwrap();
    fxp.expect("RETR f.txt", 150);
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut data, &mut got).unwrap();
    assert_eq!(got, b"server to server");
    fxp.expect_final(226);
}

#[test]
fn tls_can_be_required_or_waived_per_user() {
    let toml = format!(
        r#"
[tls]
mode = "optional"
[users.strict]
password = "{PW_HASH}"
home = "{{root}}"
tls = "required"
[users.relaxed]
password = "{PW_HASH}"
home = "{{root}}"
"#
    );
    let (settings, cert) = crate::common::tls_settings();
    let server = TestServer::from_toml_with(&toml, &[], |c| c.tls = Some(settings));
    let tls = crate::common::tls_client(&cert);
    let mut c = server.raw();
    let r = c.expect("USER strict", 530);
    assert!(r.text().contains("TLS required"), "{r:?}");
    c.login("relaxed", PW);
    let mut c = server.raw();
    c.auth_tls(&tls);
    c.login("strict", PW);

    // The other way round: the server requires TLS, one user is exempt.
    let toml = format!(
        r#"
[tls]
mode = "required"
[users.strict]
password = "{PW_HASH}"
home = "{{root}}"
[users.legacy]
password = "{PW_HASH}"
home = "{{root}}"
tls = "optional"
"#
    );
    let (mut settings, _) = crate::common::tls_settings();
    settings.control = ferroftp_server::TlsPolicy::Required;
    let server = TestServer::from_toml_with(&toml, &[], |c| c.tls = Some(settings));
    let mut c = server.raw();
    c.expect("USER strict", 530);
    c.login("legacy", PW);
}

/// A folder that vanished is the server's problem, not a failed login: the
/// right password gets a clear 530 each time, never a delay or a ban, and
/// logs in once the folder is back.
#[test]
fn a_missing_folder_is_no_failed_login() {
    let toml = format!(
        r#"
[login]
failure_delay = "5s"
ban_after = 2

[users.u]
password = "{PW_HASH}"
home = "{{root}}/home"
"#
    );
    let server = TestServer::from_toml(&toml, &["home"]);
    std::fs::remove_dir(server.path("home")).unwrap();
    let mut c = server.raw();
    for _ in 0..4 {
        c.expect("USER u", 331);
        let start = std::time::Instant::now();
        let r = c.cmd(&format!("PASS {PW}"));
        assert_eq!(r.code, 530, "{r:?}");
        assert!(r.text().contains("folders are unavailable"), "{r:?}");
        assert!(start.elapsed() < std::time::Duration::from_secs(5), "no failure delay");
    }
    std::fs::create_dir(server.path("home")).unwrap();
    c.login("u", PW);
    assert!(server.handle().bans().is_empty());
}
