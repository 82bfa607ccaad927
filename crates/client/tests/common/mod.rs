//! Test harness: a ferroftp server on port 0 in its own thread and runtime,
//! and a scripted fake server for the behaviour real servers only show when
//! something goes wrong.
#![allow(dead_code)]

pub mod peers;

use ferroftp_server::{AnonymousAccess, LocalFs, Server, ServerConfig, ServerHandle, StaticAuthenticator};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

pub const USER: &str = "alice";
pub const PASS: &str = "secret";

pub struct TestServer {
    pub addr: SocketAddr,
    pub v6: Option<SocketAddr>,
    pub implicit: Option<SocketAddr>,
    pub fingerprint: Option<String>,
    root: tempfile::TempDir,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Anonymous read-only, and `alice:secret` with every right.
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let mut config = ServerConfig {
            listen: vec!["127.0.0.1:0".parse().expect("addr"), "[::1]:0".parse().expect("addr")],
            ..ServerConfig::default()
        };
        // Failed logins answer at once in tests.
        config.login.failure_delay = std::time::Duration::ZERO;
        tweak(&mut config);
        let root_path = root.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            rt.block_on(async move {
                let storage = Arc::new(LocalFs::open(&root_path).expect("open root"));
                let users = vec![(USER.to_string(), PASS.to_string())];
                let auth = Arc::new(StaticAuthenticator::new(storage, AnonymousAccess::Read, users));
                let server = Server::bind(config, auth).await.expect("bind");
                let fingerprint = server.tls_fingerprint().map(str::to_string);
                tx.send((server.local_addrs(), server.implicit_tls_addrs(), fingerprint, server.handle()))
                    .expect("send");
                server.run().await;
            });
        });
        let (addrs, implicit, fingerprint, handle) = rx.recv().expect("server started");
        TestServer {
            addr: *addrs.iter().find(|a| a.is_ipv4()).expect("IPv4 listener"),
            v6: addrs.iter().find(|a| a.is_ipv6()).copied(),
            implicit: implicit.first().copied(),
            fingerprint,
            root,
            handle,
            thread: Some(thread),
        }
    }

    /// With FTPS (explicit, and implicit on a second port) from a generated
    /// certificate; data connections must resume the control session.
    pub fn start_tls() -> Self {
        let (cert, key) =
            ferroftp_server::tls::generate_self_signed(&["127.0.0.1".into(), "localhost".into()]).expect("cert");
        let mut settings = ferroftp_server::TlsSettings::new(ferroftp_server::CertificateSource::Pem { cert, key });
        settings.require_session_reuse = true;
        settings.implicit_listen = vec!["127.0.0.1:0".parse().expect("addr")];
        Self::start_with(move |c| c.tls = Some(settings))
    }

    pub fn url(&self, path: &str) -> String {
        format!("ftp://{USER}:{PASS}@{}/{path}", self.addr)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, bytes).expect("write");
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    pub fn handle(&self) -> &ServerHandle {
        &self.handle
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Deterministic, incompressible test content.
pub fn content(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// One step of a [`FakeServer`] script: what to do when a command arrives.
pub enum Act {
    /// Reply with this text (CRLF added).
    Reply(&'static str),
    /// Reply `227` with a fresh passive listener, which the next data step uses.
    Pasv,
    /// Reply `150`, send these bytes on the data connection, close it, reply this.
    Send(Vec<u8>, &'static str),
    /// Reply `150`, send these bytes, then close the control connection.
    SendAndHangUp(Vec<u8>),
}

/// A scripted server: answers each command in turn by its verb, from a
/// table; verbs it does not know get `502`. Records the commands it saw.
pub struct FakeServer {
    pub addr: SocketAddr,
    pub seen: Arc<std::sync::Mutex<Vec<String>>>,
}

impl FakeServer {
    pub fn start(script: Vec<(&'static str, Act)>) -> Self {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let Ok((control, _)) = listener.accept() else { return };
            let mut writer = control.try_clone().expect("clone");
            let mut reader = BufReader::new(control);
            let _ = writer.write_all(b"220 fake server ready\r\n");
            let mut passive: Option<std::net::TcpListener> = None;
            let mut line = String::new();
            let mut script = script.into_iter().collect::<std::collections::VecDeque<_>>();
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let command = line.trim_end().to_string();
                log.lock().expect("log").push(command.clone());
                let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
                let position = script.iter().position(|(v, _)| *v == verb);
                let Some(act) = position.and_then(|i| script.remove(i)).map(|(_, a)| a) else {
                    let _ = writer.write_all(b"502 not implemented here\r\n");
                    continue;
                };
                match act {
                    Act::Reply(text) => {
                        let _ = writer.write_all(format!("{text}\r\n").as_bytes());
                    }
                    Act::Pasv => {
                        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind data");
                        let port = l.local_addr().expect("addr").port();
                        passive = Some(l);
                        let reply = format!("227 Entering Passive Mode (127,0,0,1,{},{})\r\n", port >> 8, port & 255);
                        let _ = writer.write_all(reply.as_bytes());
                    }
                    Act::Send(bytes, end) => {
                        let _ = writer.write_all(b"150 here it comes\r\n");
                        if let Some(l) = passive.take()
                            && let Ok((mut data, _)) = l.accept()
                        {
                            let _ = data.write_all(&bytes);
                        }
                        let _ = writer.write_all(format!("{end}\r\n").as_bytes());
                    }
                    Act::SendAndHangUp(bytes) => {
                        let _ = writer.write_all(b"150 here it comes\r\n");
                        if let Some(l) = passive.take()
                            && let Ok((mut data, _)) = l.accept()
                        {
                            let _ = data.write_all(&bytes);
                        }
                        return;
                    }
                }
            }
        });
        FakeServer { addr, seen }
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("log").clone()
    }
}

/// The usual opening of a fake session: login and a FEAT without extensions.
pub fn login_script() -> Vec<(&'static str, Act)> {
    vec![
        ("USER", Act::Reply("331 password please")),
        ("PASS", Act::Reply("230 welcome")),
        ("FEAT", Act::Reply("211 no features")),
        ("TYPE", Act::Reply("200 type set")),
    ]
}
