//! Real servers for the interoperability tests, started by the test itself
//! when `FERROFTP_INTEROP=1` (CI installs them; then a missing one is a
//! failure, not a skip):
//! - vsftpd in inetd mode: a thread here accepts on port 0 and hands each
//!   connection to a new vsftpd process as its standard input and output, so
//!   there is no port to guess and nothing to wait for. Anonymous login, with
//!   uploads allowed in `pub/`, FTPS offered with `require_ssl_reuse=YES`.
//! - pyftpdlib: a Python process that binds port 0 and prints the port.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Whether interop tests run; `FERROFTP_INTEROP=1` makes a missing program a failure.
pub fn enabled(what: &str) -> bool {
    let on = std::env::var("FERROFTP_INTEROP").ok().as_deref() == Some("1");
    if !on {
        eprintln!("FERROFTP_INTEROP is not 1: the {what} interop test is not run");
    }
    on
}

/// A program on `PATH` or in the sbin directories (vsftpd lives in /usr/sbin).
pub fn program(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("FERROFTP_INTEROP=1 but `{name}` is not installed (.ci/run installs it)"))
}

pub struct Vsftpd {
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Vsftpd {
    pub fn start() -> Self {
        let vsftpd = program("vsftpd");
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        let public = root.join("pub");
        std::fs::create_dir_all(&public).expect("mkdir");
        let as_root = effective_uid() == 0;
        // vsftpd chroots anonymous sessions into `root`, which must not be
        // writable by the `ftp` user; `pub` is, for uploads. Not as root,
        // vsftpd runs everything as the user that started it, without chroot.
        set_mode(dir.path(), 0o755);
        set_mode(&root, 0o755);
        if as_root {
            let out = Command::new("chown").arg("ftp").arg(&public).output().expect("chown");
            assert!(out.status.success(), "chown ftp: {}", String::from_utf8_lossy(&out.stderr));
        }
        let (cert, key) =
            ferroftp_server::tls::generate_self_signed(&["127.0.0.1".into(), "localhost".into()]).expect("cert");
        std::fs::write(dir.path().join("cert.pem"), cert).expect("write cert");
        std::fs::write(dir.path().join("key.pem"), key).expect("write key");
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).expect("mkdir");
        set_mode(&empty, 0o555);
        let d = dir.path().display();
        let conf = format!(
            "listen=NO\nlisten_ipv6=NO\nbackground=NO\n\
             anonymous_enable=YES\nlocal_enable=NO\nno_anon_password=YES\nanon_root={root}\n\
             write_enable=YES\nanon_upload_enable=YES\nanon_mkdir_write_enable=YES\n\
             anon_other_write_enable=YES\nanon_umask=022\n\
             ftp_username=ftp\nnopriv_user=ftp\nsecure_chroot_dir={d}/empty\nseccomp_sandbox=NO\n\
             {launching}\
             connect_from_port_20=NO\npasv_address=127.0.0.1\nport_enable=YES\npasv_enable=YES\n\
             ssl_enable=YES\nallow_anon_ssl=YES\nforce_anon_logins_ssl=NO\nforce_anon_data_ssl=NO\n\
             require_ssl_reuse=YES\nrsa_cert_file={d}/cert.pem\nrsa_private_key_file={d}/key.pem\n\
             xferlog_enable=YES\nvsftpd_log_file={d}/vsftpd.log\n",
            root = root.display(),
            launching = if as_root { "" } else { "run_as_launching_user=YES\n" },
        );
        let conf_path = dir.path().join("vsftpd.conf");
        std::fs::write(&conf_path, conf).expect("write config");

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut children: Vec<Child> = Vec::new();
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let out = conn.try_clone().expect("clone socket");
                let child = Command::new(&vsftpd)
                    .arg(&conf_path)
                    .stdin(Stdio::from(std::os::fd::OwnedFd::from(conn)))
                    .stdout(Stdio::from(std::os::fd::OwnedFd::from(out)))
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start vsftpd");
                children.push(child);
                children.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
            }
            for mut c in children {
                let _ = c.kill();
                let _ = c.wait();
            }
        });
        Vsftpd { addr, dir, stop, thread: Some(thread) }
    }

    /// A path in the anonymous root, e.g. `pub/a.bin`.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join("root").join(rel)
    }

    /// vsftpd's transfer log, to explain a failure.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("vsftpd.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("ftp://{}/{path}", self.addr)
    }
}

impl Drop for Vsftpd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stop`.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct Pyftpdlib {
    pub addr: SocketAddr,
    root: tempfile::TempDir,
    child: Child,
}

/// `alice:secret` with every right on the root given as argument; the bound
/// port printed on the first line.
const PYFTPDLIB: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
import logging
logging.basicConfig(level=logging.WARNING)
auth = DummyAuthorizer()
auth.add_user("alice", "secret", sys.argv[1], perm="elradfmwMT")
auth.add_anonymous(sys.argv[1])
FTPHandler.authorizer = auth
server = FTPServer(("127.0.0.1", 0), FTPHandler)
print(server.address[1], flush=True)
server.serve_forever()
"#;

impl Pyftpdlib {
    pub fn start() -> Self {
        let python = program("python3");
        let root = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(python)
            .arg("-c")
            .arg(PYFTPDLIB)
            .arg(root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start python3");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("read port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("FERROFTP_INTEROP=1 but pyftpdlib did not start (`pip install pyftpdlib`; .ci/run does): {line:?}")
        });
        Pyftpdlib { addr: SocketAddr::from(([127, 0, 0, 1], port)), root, child }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn url(&self, path: &str) -> String {
        format!("ftp://alice:secret@{}/{path}", self.addr)
    }
}

impl Drop for Pyftpdlib {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The effective user id, read without a libc dependency.
fn effective_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}
