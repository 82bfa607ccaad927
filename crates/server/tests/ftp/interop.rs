//! Interoperability with real clients run as subprocesses: curl, lftp, tnftp and
//! Python's ftplib. Enabled by `FERROFTP_INTEROP=1` (CI sets it after installing
//! the clients); then a missing client is a failure, not a skip.

use crate::common::*;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The client's path, or `None` when interop tests are off.
fn client(name: &str) -> Option<PathBuf> {
    if std::env::var("FERROFTP_INTEROP").ok().as_deref() != Some("1") {
        eprintln!("FERROFTP_INTEROP is not 1: {name} interop test not run");
        return None;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file());
    Some(found.unwrap_or_else(|| panic!("FERROFTP_INTEROP=1 but `{name}` is not installed (.ci/run installs it)")))
}

#[track_caller]
fn check(cmd: &Command, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[track_caller]
fn run(cmd: &mut Command) -> Output {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    check(cmd, out)
}

#[track_caller]
fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write script");
    let out = child.wait_with_output().expect("wait");
    check(cmd, out)
}

/// Relative path → SHA-256 of every file under `dir` (directories as `/`-ended keys).
fn tree(dir: &Path) -> BTreeMap<String, [u8; 32]> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, [u8; 32]>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            // The server's staging folder (empty once uploads are done) is not the tree's.
            if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".ferroftp-")) {
                continue;
            }
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                out.insert(format!("{rel}/"), [0; 32]);
                walk(base, &p, out);
            } else {
                out.insert(rel, sha256(&std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// 200 files of assorted sizes in nested folders, some names with spaces and non-ASCII.
fn make_tree(dir: &Path) {
    for i in 0..200usize {
        let sub = match i % 5 {
            0 => String::new(),
            1 => "alpha/".into(),
            2 => "alpha/beta gamma/".into(),
            3 => format!("deep/{}/{}/", i % 3, i % 7),
            _ => "данные/".into(),
        };
        let p = dir.join(format!("{sub}file {i}.bin"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content((i * 977) % 70_000, i as u64)).unwrap();
    }
}

fn url(srv: &TestServer, userinfo: &str, path: &str) -> String {
    format!("ftp://{userinfo}127.0.0.1:{}/{path}", srv.v4.port())
}

#[test]
fn curl() {
    let Some(curl) = client("curl") else { return };
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let data = content(3 * 1024 * 1024 + 5, 11);
    srv.write("pub/file.bin", &data);
    let auth = format!("{USER}:{PASS}@");
    let base = || {
        let mut c = Command::new(&curl);
        c.args(["--silent", "--show-error", "--fail", "--max-time", "120"]);
        c
    };
    // Anonymous listing and download.
    let list = run(base().arg(url(&srv, "", "pub/")));
    assert!(String::from_utf8_lossy(&list.stdout).contains(" file.bin"));
    let out = work.path().join("dl.bin");
    run(base().arg(url(&srv, "", "pub/file.bin")).arg("-o").arg(&out));
    assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&data));
    // Upload into new folders, with PASV instead of EPSV, and active mode (EPRT/PORT).
    let local = work.path().join("up.bin");
    std::fs::write(&local, &data).unwrap();
    run(base().arg("--ftp-create-dirs").arg("-T").arg(&local).arg(url(&srv, &auth, "new/dir/up.bin")));
    assert_eq!(sha256(&srv.read("new/dir/up.bin")), sha256(&data));
    run(base().arg("--disable-epsv").arg("-T").arg(&local).arg(url(&srv, &auth, "pasv.bin")));
    assert_eq!(sha256(&srv.read("pasv.bin")), sha256(&data));
    run(base().args(["--ftp-port", "127.0.0.1"]).arg(url(&srv, &auth, "pasv.bin")).arg("-o").arg(&out));
    assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&data));
    // Resume both ways (-C -): REST+RETR and SIZE+APPE.
    std::fs::write(&out, &data[..1_000_000]).unwrap();
    run(base().args(["-C", "-"]).arg(url(&srv, &auth, "pasv.bin")).arg("-o").arg(&out));
    assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&data));
    srv.write("resume.bin", &data[..2_000_000]);
    run(base().args(["-C", "-", "-T"]).arg(&local).arg(url(&srv, &auth, "resume.bin")));
    assert_eq!(sha256(&srv.read("resume.bin")), sha256(&data));
    // IPv6.
    if let Some(v6) = srv.v6 {
        let list = run(base().arg("-g").arg(format!("ftp://[::1]:{}/pub/", v6.port())));
        assert!(String::from_utf8_lossy(&list.stdout).contains(" file.bin"));
        run(base()
            .args(["-g", "--ftp-port", "::1"])
            .arg(format!("ftp://{auth}[::1]:{}/pasv.bin", v6.port()))
            .arg("-o")
            .arg(&out));
        assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&data));
    }
    // Names only, and commands sent with -Q.
    let names = run(base().arg("--list-only").arg(url(&srv, &auth, "new/dir/")));
    // curl turns the CRLF of an ASCII listing into the local line end.
    assert_eq!(String::from_utf8_lossy(&names.stdout), "up.bin\n");
    run(base().args(["-Q", "-DELE pasv.bin"]).arg(url(&srv, &auth, "")));
    assert!(!srv.path("pasv.bin").exists());
    // ASCII mode (;type=a). curl turns each CRLF, and each lone CR, into LF. The server
    // sends the stored "a CR LF" as "a CR CR LF" (every LF becomes CRLF), which curl
    // shows as two line ends; without the server's conversion it would show one.
    srv.write("text.txt", b"a\r\nb\n");
    let text = run(base().arg(url(&srv, "", "text.txt;type=a")));
    assert_eq!(text.stdout, b"a\n\nb\n");
    // Upload with --use-ascii: curl sends CRLF, the server stores LF.
    let lf = work.path().join("lf.txt");
    std::fs::write(&lf, b"x\ny\n").unwrap();
    run(base().arg("--use-ascii").arg("-T").arg(&lf).arg(url(&srv, &auth, "ascii.txt")));
    assert_eq!(srv.read("ascii.txt"), b"x\ny\n");
    // Anonymous upload is refused in the default mode.
    let refused = base().arg("-T").arg(&local).arg(url(&srv, "", "x.bin")).stdin(Stdio::null()).output().unwrap();
    assert!(!refused.status.success());
    assert!(!srv.path("x.bin").exists());
}

fn lftp_cmd(lftp: &Path, srv: &TestServer, script: &str) -> Output {
    let settings = "set ftp:ssl-allow no; set net:max-retries 1; set net:timeout 20; set net:reconnect-interval-base 1; set xfer:clobber on; set cmd:fail-exit yes";
    run(Command::new(lftp)
        .args(["-u", &format!("{USER},{PASS}"), "-p", &srv.v4.port().to_string(), "-e"])
        .arg(format!("{settings}; {script}; bye"))
        .arg("127.0.0.1"))
}

#[test]
fn lftp_mirror_both_ways() {
    let Some(lftp) = client("lftp") else { return };
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("local");
    make_tree(&local);
    let expected = tree(&local);
    assert_eq!(expected.keys().filter(|k| !k.ends_with('/')).count(), 200);
    // Upload the tree (mirror -R), then download it back (mirror), then again in active mode.
    lftp_cmd(&lftp, &srv, &format!("mirror -R --parallel=3 '{}' up", local.display()));
    assert_eq!(tree(&srv.path("up")), expected, "mirror -R result differs");
    let back = work.path().join("back");
    lftp_cmd(&lftp, &srv, &format!("mirror --parallel=3 up '{}'", back.display()));
    assert_eq!(tree(&back), expected, "mirror result differs");
    let active = work.path().join("active");
    lftp_cmd(&lftp, &srv, &format!("set ftp:passive-mode off; mirror up '{}'", active.display()));
    assert_eq!(tree(&active), expected, "active-mode mirror result differs");
    // Single commands.
    let out =
        lftp_cmd(&lftp, &srv, "cd up/alpha; ls; mkdir made; rm 'file 1.bin'; mv 'file 6.bin' renamed.bin; cls -1");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("renamed.bin") && text.contains("made"), "{text}");
    assert!(!srv.path("up/alpha/file 1.bin").exists());
    assert!(srv.path("up/alpha/renamed.bin").exists());
}

#[test]
fn tnftp_scripted_get_put_mget_mput() {
    let Some(tnftp) = client("tnftp") else { return };
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let up = work.path().join("up");
    let down = work.path().join("down");
    std::fs::create_dir_all(&up).unwrap();
    std::fs::create_dir_all(&down).unwrap();
    for i in 0..5 {
        std::fs::write(up.join(format!("m{i}.txt")), content(10_000 + i, i as u64)).unwrap();
    }
    let big = content(2 * 1024 * 1024, 99);
    std::fs::write(up.join("single.bin"), &big).unwrap();
    srv.write("remote/r1.dat", b"first remote");
    srv.write("remote/r2.dat", b"second remote");
    let script = format!(
        "user {USER} {PASS}\nbinary\nprompt\nlcd {up}\nmkdir incoming\ncd incoming\nput single.bin\nmput m*.txt\ncd /remote\nlcd {down}\nget r1.dat\nmget *.dat\ncd /incoming\nget single.bin copy.bin\nls\nquit\n",
        up = up.display(),
        down = down.display()
    );
    let out = run_with_stdin(Command::new(&tnftp).args(["-n", "-v", "127.0.0.1", &srv.v4.port().to_string()]), &script);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(srv.read("incoming/single.bin"), big, "put");
    for i in 0..5 {
        assert_eq!(
            srv.read(&format!("incoming/m{i}.txt")),
            std::fs::read(up.join(format!("m{i}.txt"))).unwrap(),
            "mput m{i}"
        );
    }
    assert_eq!(std::fs::read(down.join("r1.dat")).unwrap(), b"first remote", "get");
    assert_eq!(std::fs::read(down.join("r2.dat")).unwrap(), b"second remote", "mget");
    assert_eq!(std::fs::read(down.join("copy.bin")).unwrap(), big, "get to a new name");
    assert!(text.contains("m4.txt"), "ls output: {text}");
}

const FTPLIB_SCRIPT: &str = r#"
import ftplib, hashlib, io, sys
host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ftp = ftplib.FTP()
ftp.connect(host, port, timeout=30)
ftp.login(user, password)
data = bytes((i * 7919) % 251 for i in range(1_500_000))
ftp.mkd("py")
ftp.cwd("py")
ftp.storbinary("STOR blob.bin", io.BytesIO(data))
assert ftp.size("blob.bin") == len(data), ftp.size("blob.bin")
got = io.BytesIO()
ftp.retrbinary("RETR blob.bin", got.write)
assert hashlib.sha256(got.getvalue()).digest() == hashlib.sha256(data).digest()
tail = io.BytesIO()
ftp.retrbinary("RETR blob.bin", tail.write, rest=1_000_000)
assert tail.getvalue() == data[1_000_000:]
ftp.storlines("STOR lines.txt", io.BytesIO(b"one\ntwo\n"))
lines = []
ftp.retrlines("RETR lines.txt", lines.append)
assert lines == ["one", "two"], lines
assert sorted(ftp.nlst()) == ["blob.bin", "lines.txt"], ftp.nlst()
facts = dict(ftp.mlsd())
assert facts["blob.bin"]["type"] == "file" and facts["blob.bin"]["size"] == str(len(data)), facts
listing = []
ftp.dir(listing.append)
assert any(l.endswith(" blob.bin") for l in listing), listing
assert ftp.sendcmd("MDTM blob.bin").startswith("213 ")
ftp.rename("lines.txt", "renamed.txt")
ftp.delete("renamed.txt")
assert ftp.pwd() == "/py"
ftp.cwd("..")
try:
    ftp.rmd("py")
    raise SystemExit("RMD of a non-empty directory succeeded")
except ftplib.error_perm as e:
    assert str(e).startswith("550"), e
ftp.set_pasv(False)
active = io.BytesIO()
ftp.retrbinary("RETR py/blob.bin", active.write)
assert active.getvalue() == data
ftp.quit()

v6 = ftplib.FTP()
try:
    v6.connect("::1", int(sys.argv[5]), timeout=30)
except OSError:
    print("no IPv6")
    sys.exit(0)
v6.login(user, password)
got6 = io.BytesIO()
v6.retrbinary("RETR py/blob.bin", got6.write)
assert got6.getvalue() == data
v6.set_pasv(False)
got6a = io.BytesIO()
v6.retrbinary("RETR py/blob.bin", got6a.write)
assert got6a.getvalue() == data
v6.quit()
print("ftplib ok")
"#;

#[test]
fn python_ftplib() {
    let Some(python) = client("python3") else {
        return;
    };
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("ftplib_check.py");
    std::fs::write(&script, FTPLIB_SCRIPT).unwrap();
    let v6_port = srv.v6.map_or(0, |a| a.port());
    let out = run(Command::new(python).arg(&script).args([
        "127.0.0.1",
        &srv.v4.port().to_string(),
        USER,
        PASS,
        &v6_port.to_string(),
    ]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ftplib ok"), "{out:?}");
}

/// A server offering explicit FTPS and an implicit listener.
fn ftps_server(require_reuse: bool) -> TestServer {
    let (mut settings, _) = tls_settings();
    settings.require_session_reuse = require_reuse;
    settings.implicit_listen = vec!["127.0.0.1:0".parse().unwrap()];
    TestServer::start_with(ferroftp_server::AnonymousAccess::Read, move |c| c.tls = Some(settings))
}

#[test]
fn curl_ftps_explicit_and_implicit() {
    let Some(curl) = client("curl") else { return };
    let srv = ftps_server(true);
    let work = tempfile::tempdir().unwrap();
    let data = content(100 * 1024 * 1024, 21);
    let local = work.path().join("big.bin");
    std::fs::write(&local, &data).unwrap();
    let out = work.path().join("out.bin");
    let auth = format!("{USER}:{PASS}@");
    let base = || {
        let mut c = Command::new(&curl);
        c.args(["--silent", "--show-error", "--fail", "--max-time", "300", "-k"]);
        c
    };
    // Explicit: AUTH TLS, PROT P, session reuse on every data connection.
    run(base().arg("--ssl-reqd").arg("-T").arg(&local).arg(url(&srv, &auth, "big.bin")));
    assert_eq!(sha256(&srv.read("big.bin")), sha256(&data));
    run(base().arg("--ssl-reqd").arg(url(&srv, &auth, "big.bin")).arg("-o").arg(&out));
    assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&data));
    let list = run(base().arg("--ssl-reqd").arg(url(&srv, &auth, "")));
    assert!(String::from_utf8_lossy(&list.stdout).contains(" big.bin"));
    // Active mode under TLS is driven by lftp and ftplib below: curl 7.88 (Debian 12)
    // accepts the server's data connection but never starts its TLS handshake.
    // Implicit: ftps://.
    let implicit = srv.implicit.unwrap();
    let ftps = |path: &str| format!("ftps://{auth}127.0.0.1:{}/{path}", implicit.port());
    run(base().arg(ftps("big.bin")).arg("-o").arg(&out));
    assert_eq!(sha256(&std::fs::read(&out).unwrap()), sha256(&data));
    run(base().arg("-T").arg(&local).arg(ftps("implicit.bin")));
    assert_eq!(sha256(&srv.read("implicit.bin")), sha256(&data));
}

#[test]
fn lftp_ftps() {
    let Some(lftp) = client("lftp") else { return };
    let srv = ftps_server(true);
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("tree");
    make_tree(&local);
    let big = content(20 * 1024 * 1024, 22);
    std::fs::write(work.path().join("big.bin"), &big).unwrap();
    let tls = "set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate no";
    lftp_cmd(
        &lftp,
        &srv,
        &format!(
            "{tls}; mirror -R '{}' tree; put '{}' -o big.bin",
            local.display(),
            work.path().join("big.bin").display()
        ),
    );
    assert_eq!(tree(&srv.path("tree")), tree(&local));
    assert_eq!(sha256(&srv.read("big.bin")), sha256(&big));
    // Active mode (EPRT/PORT) under TLS.
    lftp_cmd(
        &lftp,
        &srv,
        &format!("{tls}; set ftp:passive-mode off; get big.bin -o '{}'", work.path().join("active.bin").display()),
    );
    assert_eq!(sha256(&std::fs::read(work.path().join("active.bin")).unwrap()), sha256(&big));
    let back = work.path().join("back");
    lftp_cmd(
        &lftp,
        &srv,
        &format!("{tls}; mirror tree '{}'; get big.bin -o '{}'", back.display(), work.path().join("got.bin").display()),
    );
    assert_eq!(tree(&back), tree(&local));
    assert_eq!(sha256(&std::fs::read(work.path().join("got.bin")).unwrap()), sha256(&big));
}

const FTPLIB_TLS_SCRIPT: &str = r#"
import ftplib, hashlib, io, ssl, sys
port, user, password, reuse = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "reuse"

class ReusingFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS that resumes the control connection's TLS session on data
    connections, as servers with session reuse required (vsftpd, ferroftp) need."""
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ftp = (ReusingFTP_TLS if reuse else ftplib.FTP_TLS)(context=ctx)
ftp.connect("127.0.0.1", port, timeout=60)
ftp.login(user, password)
ftp.prot_p()
data = bytes((i * 7919) % 251 for i in range(30 * 1024 * 1024))
name = "tls-%s.bin" % sys.argv[4]
ftp.storbinary("STOR " + name, io.BytesIO(data))
got = io.BytesIO()
ftp.retrbinary("RETR " + name, got.write)
assert hashlib.sha256(got.getvalue()).digest() == hashlib.sha256(data).digest()
assert name in ftp.nlst()
ftp.set_pasv(False)
active = io.BytesIO()
ftp.retrbinary("RETR " + name, active.write)
assert active.getvalue() == data
ftp.set_pasv(True)
facts = dict(ftp.mlsd())
assert facts[name]["size"] == str(len(data)), facts[name]
ftp.quit()
print("ftplib tls ok")
"#;

#[test]
fn python_ftplib_tls() {
    let Some(python) = client("python3") else { return };
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("ftplib_tls.py");
    std::fs::write(&script, FTPLIB_TLS_SCRIPT).unwrap();
    // Stock FTP_TLS does not resume sessions: it works when reuse is not required,
    // and the usual subclass works when it is.
    for (require_reuse, mode) in [(false, "plain"), (true, "reuse")] {
        let srv = ftps_server(require_reuse);
        let out = run(Command::new(&python).arg(&script).args([&srv.v4.port().to_string(), USER, PASS, mode]));
        assert!(String::from_utf8_lossy(&out.stdout).contains("ftplib tls ok"), "{out:?}");
    }
}

/// curl killed (-9) during `curl -T` over an existing 4 MiB file, twenty
/// times: the file is never replaced by what arrived (16 of 60 such deaths
/// once committed a partial file), and `curl -C - -T` then resumes the
/// upload where the server stopped (SIZE answers the staged size, APPE
/// continues it), as with vsftpd.
#[test]
fn curl_killed_mid_upload_never_replaces_the_file_and_resumes() {
    let Some(curl) = client("curl") else { return };
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let original = content(4 << 20, 20);
    let new = content(6 << 20, 21);
    srv.write("victim.bin", &original);
    let local = work.path().join("new.bin");
    std::fs::write(&local, &new).unwrap();
    let auth = format!("{USER}:{PASS}@");
    let target = url(&srv, &auth, "victim.bin");
    for round in 0..20 {
        kill_mid_upload(
            &srv,
            Command::new(&curl).args(["--silent", "--limit-rate", "4M", "-T"]).arg(&local).arg(&target),
        );
        assert!(srv.read("victim.bin") == original, "round {round}: the killed upload replaced the file");
    }
    run(Command::new(&curl)
        .args(["--silent", "--show-error", "--fail", "--max-time", "120", "-C", "-", "-T"])
        .arg(&local)
        .arg(&target));
    assert!(srv.read("victim.bin") == new, "the resumed upload differs");
    assert_eq!(srv.visible_names(""), ["victim.bin"]);
    assert!(srv.staged("").is_empty(), "left staged: {:?}", srv.staged(""));
}

/// lftp killed during `put`, then `put -c` (REST + STOR from the size SIZE
/// reports): the file is complete and correct, and was never there half.
#[test]
fn lftp_put_c_resumes_an_interrupted_upload() {
    let Some(lftp) = client("lftp") else { return };
    let srv = TestServer::start();
    let work = tempfile::tempdir().unwrap();
    let data = content(6 << 20, 22);
    let local = work.path().join("big.bin");
    std::fs::write(&local, &data).unwrap();
    kill_mid_upload(
        &srv,
        Command::new(&lftp)
            .args(["-u", &format!("{USER},{PASS}"), "-p", &srv.v4.port().to_string(), "-e"])
            .arg(format!("set ftp:ssl-allow no; set net:limit-rate 2000000; put '{}' -o big.bin; bye", local.display()))
            .arg("127.0.0.1"),
    );
    assert!(!srv.path("big.bin").exists(), "a partial upload appeared under its name");
    lftp_cmd(&lftp, &srv, &format!("put -c '{}' -o big.bin", local.display()));
    assert!(srv.read("big.bin") == data, "the resumed upload differs");
}

/// Runs a client's upload, kills it once 1 MiB has arrived, and waits until
/// the server has ended the upload.
fn kill_mid_upload(srv: &TestServer, command: &mut Command) {
    let mut child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_staged_bytes(&srv.path(""), 1 << 20);
    child.kill().unwrap();
    child.wait().unwrap();
    wait_uploads_ended(&srv.path(""));
}
