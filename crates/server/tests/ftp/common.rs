//! Test harness: a real server on port 0 in its own thread, and clients to drive it.

use ferroftp_proto::reply::ReplyParser;
use ferroftp_server::{
    AnonymousAccess, LocalFs, Server, ServerConfig, ServerHandle, StaticAuthenticator,
};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use suppaftp::FtpStream;
use suppaftp::types::FileType;

/// Generous read timeout so a broken server fails a test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

pub const USER: &str = "alice";
pub const PASS: &str = "secret";

pub struct TestServer {
    pub v4: SocketAddr,
    pub v6: Option<SocketAddr>,
    root: tempfile::TempDir,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Anonymous read-only plus `alice:secret` with full rights.
    pub fn start() -> Self {
        Self::start_with(AnonymousAccess::Read, |_| {})
    }

    pub fn start_with(anonymous: AnonymousAccess, tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let mut config = ServerConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()],
            ..ServerConfig::default()
        };
        tweak(&mut config);
        let root_path = root.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let storage = Arc::new(LocalFs::open(&root_path).expect("open root"));
                let users = vec![(USER.to_string(), PASS.to_string())];
                let auth = Arc::new(StaticAuthenticator::new(storage, anonymous, users));
                let server = Server::bind(config, auth).await.expect("bind");
                tx.send((server.local_addrs(), server.handle()))
                    .expect("send addrs");
                server.run().await;
            });
        });
        let (addrs, handle) = rx.recv().expect("server started");
        let v4 = *addrs
            .iter()
            .find(|a| a.is_ipv4())
            .expect("an IPv4 listener");
        let v6 = addrs.iter().find(|a| a.is_ipv6()).copied();
        TestServer {
            v4,
            v6,
            root,
            handle,
            thread: Some(thread),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, bytes).unwrap();
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
    }

    /// Names in a server directory, on disk (hidden upload files included).
    pub fn disk_names(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// suppaftp logged in as alice, binary type.
    pub fn ftp(&self) -> FtpStream {
        ftp_login(self.v4, USER, PASS)
    }

    pub fn raw(&self) -> Raw {
        Raw::connect(self.v4)
    }

    /// A raw session logged in as alice.
    pub fn raw_alice(&self) -> Raw {
        let mut r = self.raw();
        r.login(USER, PASS);
        r
    }

    pub fn shutdown(&self) {
        self.handle.shutdown();
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

pub fn ftp_login(addr: SocketAddr, user: &str, pass: &str) -> FtpStream {
    let mut ftp = FtpStream::connect(addr).expect("connect");
    ftp.get_ref().set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    ftp.login(user, pass).expect("login");
    ftp.transfer_type(FileType::Binary).expect("TYPE I");
    ftp
}

pub fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// Deterministic test content of `n` bytes (not compressible, not all zeros).
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

/// A reply read by [`Raw`].
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

/// A control connection driven byte by byte.
pub struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    pub greeting: Reply,
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut r = Raw {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
            greeting: Reply {
                code: 0,
                lines: vec![],
            },
        };
        r.greeting = r.reply();
        assert_eq!(r.greeting.code, 220, "greeting: {:?}", r.greeting);
        r
    }

    pub fn peer(&self) -> SocketAddr {
        self.writer.peer_addr().unwrap()
    }

    pub fn stream(&self) -> &TcpStream {
        &self.writer
    }

    pub fn send_bytes(&mut self, b: &[u8]) {
        self.writer.write_all(b).unwrap();
    }

    pub fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\r\n").as_bytes());
    }

    /// Reads one complete reply; panics on EOF.
    pub fn reply(&mut self) -> Reply {
        self.try_reply()
            .expect("connection closed while waiting for a reply")
    }

    /// Reads one complete reply, or `None` at end of stream.
    pub fn try_reply(&mut self) -> Option<Reply> {
        let mut parser = ReplyParser::new();
        loop {
            let mut line = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut line)
                .expect("read reply");
            if n == 0 {
                return None;
            }
            assert!(
                line.ends_with(b"\r\n"),
                "reply line without CRLF: {:?}",
                String::from_utf8_lossy(&line)
            );
            line.truncate(line.len() - 2);
            let text = String::from_utf8(line).expect("reply is UTF-8");
            if let Some(r) = parser.feed(&text).expect("well-formed reply") {
                return Some(Reply {
                    code: r.code.0,
                    lines: r.lines,
                });
            }
        }
    }

    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send(line);
        self.reply()
    }

    /// Sends a command and asserts the reply code.
    #[track_caller]
    pub fn expect(&mut self, line: &str, code: u16) -> Reply {
        let r = self.cmd(line);
        assert_eq!(r.code, code, "{line:?} -> {r:?}");
        r
    }

    pub fn login(&mut self, user: &str, pass: &str) {
        self.expect(&format!("USER {user}"), 331);
        self.expect(&format!("PASS {pass}"), 230);
    }

    /// EPSV, then connects the data connection.
    pub fn epsv(&mut self) -> TcpStream {
        let r = self.expect("EPSV", 229);
        let port = ferroftp_proto::hostport::parse_epsv_reply(&r.text()).unwrap();
        let s = TcpStream::connect(SocketAddr::new(self.peer().ip(), port)).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s
    }

    /// Runs a data command over EPSV and returns the 150 reply, the bytes and the final reply.
    pub fn data_cmd(&mut self, line: &str) -> (Reply, Vec<u8>, Reply) {
        let mut data = self.epsv();
        let opened = self.cmd(line);
        assert_eq!(opened.code, 150, "{line:?} -> {opened:?}");
        let mut bytes = Vec::new();
        data.read_to_end(&mut bytes).unwrap();
        let done = self.reply();
        (opened, bytes, done)
    }

    /// A listing as text lines.
    pub fn listing(&mut self, line: &str) -> Vec<String> {
        let (_, bytes, done) = self.data_cmd(line);
        assert_eq!(done.code, 226, "{line:?} -> {done:?}");
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.is_empty() || text.ends_with("\r\n"));
        text.split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Uploads bytes with a command (STOR/APPE/STOU) over EPSV; returns the 150 and final replies.
    pub fn upload(&mut self, line: &str, bytes: &[u8]) -> (Reply, Reply) {
        let mut data = self.epsv();
        let opened = self.cmd(line);
        assert_eq!(opened.code, 150, "{line:?} -> {opened:?}");
        data.write_all(bytes).unwrap();
        drop(data);
        (opened, self.reply())
    }
}
