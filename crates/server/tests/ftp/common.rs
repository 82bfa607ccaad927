//! Test harness: a real server on port 0 in its own thread, and clients to drive it.

use ferroftp_proto::reply::ReplyParser;
use ferroftp_server::config::{self, BuildOptions, Loaded, Source};
use ferroftp_server::{
    AnonymousAccess, Authenticator, LocalFs, Server, ServerConfig, ServerHandle, StaticAuthenticator,
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

/// Parses and builds a TOML configuration with `{root}` replaced by `root`.
pub fn load_toml(toml: &str, root: &std::path::Path) -> Loaded {
    load_toml_with_users(toml, root, &[])
}

/// As [`load_toml`], plus `--user NAME:PASSWORD` logins on `server.root`.
pub fn load_toml_with_users(toml: &str, root: &std::path::Path, users: &[(&str, &str)]) -> Loaded {
    let text = toml.replace("{root}", &root.display().to_string());
    let source = Source::new("test.toml", text);
    let file = config::parse(&source).unwrap_or_else(|e| panic!("{e}"));
    let flag_users = users.iter().map(|(u, p)| (u.to_string(), p.to_string())).collect();
    let options = BuildOptions { check_paths: true, flag_users, ..BuildOptions::default() };
    config::build(&file, &source, &options).unwrap_or_else(|e| panic!("{e}"))
}

/// The password of users configured with [`PW_HASH`].
pub const PW: &str = "alice-example";

/// The argon2id hash of [`PW`] (from `ferroftp passwd`).
pub const PW_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$E2wou/Di4kobaT7yrREdGA$Cln0qksjjN2V2wPwrElNtJUeC4RdUbCtz42FsScCOoE";

/// Generous read timeout so a broken server fails a test instead of hanging it.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);

pub const USER: &str = "alice";
pub const PASS: &str = "secret";

pub struct TestServer {
    pub v4: SocketAddr,
    pub v6: Option<SocketAddr>,
    /// The first implicit-FTPS listener, when configured.
    pub implicit: Option<SocketAddr>,
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
        Self::start_with_auth(anonymous, tweak, |a| a)
    }

    /// As [`start_with`](Self::start_with), with a change to the authenticator.
    pub fn start_with_auth(
        anonymous: AnonymousAccess,
        tweak: impl FnOnce(&mut ServerConfig),
        auth_tweak: impl FnOnce(StaticAuthenticator) -> StaticAuthenticator + Send + 'static,
    ) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        let mut config = ServerConfig {
            listen: vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()],
            ..ServerConfig::default()
        };
        tweak(&mut config);
        let root_path = root.path().to_path_buf();
        Self::start_inner(root, config, move || {
            let storage = Arc::new(LocalFs::open(&root_path).expect("open root"));
            let users = vec![(USER.to_string(), PASS.to_string())];
            Arc::new(auth_tweak(StaticAuthenticator::new(storage, anonymous, users)))
        })
    }

    /// A server configured by a TOML text, in which `{root}` stands for the
    /// served temporary directory (created with `dirs` inside). It listens on
    /// 127.0.0.1 and ::1, port 0, whatever the text says.
    pub fn from_toml(toml: &str, dirs: &[&str]) -> Self {
        Self::from_toml_with(toml, dirs, |_| {})
    }

    /// As [`from_toml`](Self::from_toml), with a change to the built configuration
    /// (TLS settings, which the command line builds from `[tls]`).
    pub fn from_toml_with(toml: &str, dirs: &[&str], tweak: impl FnOnce(&mut ServerConfig)) -> Self {
        Self::from_toml_with_users(toml, dirs, &[], tweak)
    }

    /// As [`from_toml_with`](Self::from_toml_with), plus `--user NAME:PASSWORD`
    /// logins (the text must set `server.root`).
    pub fn from_toml_with_users(
        toml: &str,
        dirs: &[&str],
        users: &[(&str, &str)],
        tweak: impl FnOnce(&mut ServerConfig),
    ) -> Self {
        let root = tempfile::tempdir().expect("tempdir");
        for d in dirs {
            std::fs::create_dir_all(root.path().join(d)).expect("create dir");
        }
        let loaded = load_toml_with_users(toml, root.path(), users);
        let mut config = loaded.server;
        config.listen = vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
        tweak(&mut config);
        let directory = loaded.directory;
        Self::start_inner(root, config, move || Arc::new(directory))
    }

    /// Replaces the running configuration with another TOML text (as SIGHUP does).
    pub fn reload_toml(&self, toml: &str) {
        let loaded = load_toml(toml, self.root.path());
        let mut config = loaded.server;
        config.listen = vec!["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()];
        self.handle.reload(config, Arc::new(loaded.directory)).expect("reload");
    }

    fn start_inner(
        root: tempfile::TempDir,
        config: ServerConfig,
        make_auth: impl FnOnce() -> Arc<dyn Authenticator> + Send + 'static,
    ) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            rt.block_on(async move {
                let auth = make_auth();
                let server = Server::bind(config, auth).await.expect("bind");
                tx.send((server.local_addrs(), server.implicit_tls_addrs(), server.handle())).expect("send addrs");
                server.run().await;
            });
        });
        let (addrs, implicit, handle) = rx.recv().expect("server started");
        let v4 = *addrs.iter().find(|a| a.is_ipv4()).expect("an IPv4 listener");
        let v6 = addrs.iter().find(|a| a.is_ipv6()).copied();
        TestServer { v4, v6, implicit: implicit.first().copied(), root, handle, thread: Some(thread) }
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

    /// Names in a server directory on disk, without the server's staging
    /// folder (which stays, empty, for a while after uploads).
    pub fn visible_names(&self, rel: &str) -> Vec<String> {
        let mut v = self.disk_names(rel);
        v.retain(|n| !n.starts_with(".ferroftp-"));
        v
    }

    /// Files staged in a server directory: uploads running or interrupted.
    pub fn staged(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path(rel).join(".ferroftp-staging"))
            .into_iter()
            .flatten()
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

    pub fn handle(&self) -> &ServerHandle {
        &self.handle
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

/// Waits (at most 30 s) until no upload holds a staged file in the folder
/// `dir` (`.ferroftp-staging` in it): every upload into it has ended,
/// committed or not. Panics at the deadline.
pub fn wait_uploads_ended(dir: &std::path::Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let held = std::fs::read_dir(dir.join(".ferroftp-staging")).into_iter().flatten().flatten().any(|e| {
            let Ok(f) = std::fs::File::open(e.path()) else { return false };
            rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err()
        });
        if !held {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "an upload in {} did not end", dir.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits (at most 30 s) until an upload running into the folder `dir` has
/// written at least `bytes` bytes to its staged file: the server has received
/// them. (A staged file no upload holds is an earlier, interrupted one.)
pub fn wait_staged_bytes(dir: &std::path::Path, bytes: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let running = |e: &std::fs::DirEntry| {
        let Ok(f) = std::fs::File::open(e.path()) else { return false };
        let held = rustix::fs::flock(&f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_err();
        held && f.metadata().is_ok_and(|m| m.len() >= bytes)
    };
    while !std::fs::read_dir(dir.join(".ferroftp-staging")).into_iter().flatten().flatten().any(|e| running(&e)) {
        assert!(std::time::Instant::now() < deadline, "no upload staged {bytes} bytes in {}", dir.display());
        std::thread::sleep(Duration::from_millis(5));
    }
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

/// A byte stream a [`Raw`] session can run over: plain TCP or TLS.
pub trait Wire: Read + Write + Send {
    /// Ends TLS (close_notify both ways) so clear text can follow (CCC).
    fn close_tls(&mut self) {}
}

impl Wire for TcpStream {}

impl Wire for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn close_tls(&mut self) {
        self.conn.send_close_notify();
        self.flush().unwrap();
        // Consume the server's close_notify so no TLS bytes are left for the clear text.
        let mut buf = [0u8; 64];
        while self.read(&mut buf).unwrap() > 0 {}
    }
}

/// A control connection driven byte by byte, in clear text or over TLS.
pub struct Raw {
    inner: BufReader<Box<dyn Wire>>,
    /// The plain TCP stream, kept until the connection is upgraded to TLS.
    tcp: Option<TcpStream>,
    peer: SocketAddr,
    pub greeting: Reply,
}

/// A TCP connection to `to` from the local address `from` (127.0.0.2 and
/// so on play other hosts on loopback).
pub fn connect_from(from: std::net::IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(to), socket2::Type::STREAM, None)?;
    socket.bind(&SocketAddr::new(from, 0).into())?;
    socket.connect(&to.into())?;
    let s: TcpStream = socket.into();
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

impl Raw {
    pub fn connect(addr: SocketAddr) -> Raw {
        let r = Raw::connect_any(addr);
        assert_eq!(r.greeting.code, 220, "greeting: {:?}", r.greeting);
        r
    }

    /// Connects and reads the first reply, whatever it is (a refusal too).
    pub fn connect_any(addr: SocketAddr) -> Raw {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        Raw::over(s, addr)
    }

    /// Connects from another local address (`127.0.0.2`, ...) and reads the
    /// first reply, whatever it is.
    pub fn connect_from(from: &str, addr: SocketAddr) -> Raw {
        let s = connect_from(from.parse().expect("address"), addr).expect("connect");
        Raw::over(s, addr)
    }

    fn over(s: TcpStream, addr: SocketAddr) -> Raw {
        let mut r = Raw {
            inner: BufReader::new(Box::new(s.try_clone().unwrap())),
            tcp: Some(s),
            peer: addr,
            greeting: Reply { code: 0, lines: vec![] },
        };
        r.greeting = r.reply();
        r
    }

    /// Connects to an implicit-FTPS listener: TLS from the first byte.
    pub fn connect_implicit(addr: SocketAddr, tls: &Arc<rustls::ClientConfig>) -> Raw {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let conn = rustls::ClientConnection::new(Arc::clone(tls), server_name()).unwrap();
        let mut r = Raw {
            inner: BufReader::new(Box::new(rustls::StreamOwned::new(conn, s))),
            tcp: None,
            peer: addr,
            greeting: Reply { code: 0, lines: vec![] },
        };
        r.greeting = r.reply();
        assert_eq!(r.greeting.code, 220, "greeting: {:?}", r.greeting);
        r
    }

    /// `AUTH TLS`, then the handshake on the control connection.
    pub fn auth_tls(&mut self, tls: &Arc<rustls::ClientConfig>) {
        self.expect("AUTH TLS", 234);
        self.upgrade_after_234(tls);
    }

    /// Starts TLS on the control connection (the 234 reply was read).
    pub fn upgrade_after_234(&mut self, tls: &Arc<rustls::ClientConfig>) {
        assert!(self.inner.buffer().is_empty(), "bytes after the 234 reply");
        let tcp = self.tcp.as_ref().expect("plain connection").try_clone().unwrap();
        let conn = rustls::ClientConnection::new(Arc::clone(tls), server_name()).unwrap();
        self.inner = BufReader::new(Box::new(rustls::StreamOwned::new(conn, tcp)));
    }

    /// After `200` to `CCC`: ends TLS and goes on in clear text.
    pub fn end_tls(&mut self) {
        assert!(self.inner.buffer().is_empty(), "bytes after the CCC reply");
        self.inner.get_mut().close_tls();
        let tcp = self.tcp.as_ref().expect("plain connection").try_clone().unwrap();
        self.inner = BufReader::new(Box::new(tcp));
    }

    /// `AUTH TLS`, `PBSZ 0`, `PROT P`.
    pub fn protect(&mut self, tls: &Arc<rustls::ClientConfig>) {
        self.auth_tls(tls);
        self.expect("PBSZ 0", 200);
        self.expect("PROT P", 200);
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Reads raw bytes up to and including `end`.
    pub fn read_until_suffix(&mut self, end: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        while !out.ends_with(end) {
            let mut byte = [0u8; 1];
            self.inner.read_exact(&mut byte).expect("read");
            out.push(byte[0]);
        }
        out
    }

    pub fn send_bytes(&mut self, b: &[u8]) {
        let w = self.inner.get_mut();
        w.write_all(b).unwrap();
        w.flush().unwrap();
    }

    /// Sends bytes; an error (the server closed) is returned, not a panic.
    pub fn try_send_bytes(&mut self, b: &[u8]) -> std::io::Result<()> {
        let w = self.inner.get_mut();
        w.write_all(b)?;
        w.flush()
    }

    /// Reads the first MiB of a running download `d`, sends `ABOR`, expects
    /// 426 then 226, and returns how many bytes the download delivered in all.
    pub fn abort_after_first_mib(&mut self, d: &mut impl Read) -> usize {
        let mut first = vec![0u8; 1 << 20];
        d.read_exact(&mut first).unwrap();
        self.send("ABOR");
        assert_eq!(self.reply().code, 426);
        assert_eq!(self.reply().code, 226);
        let mut rest = Vec::new();
        let _ = d.read_to_end(&mut rest);
        first.len() + rest.len()
    }

    /// Closes the sending side of the control connection (what a client
    /// that has nothing more to say does), keeping the receiving side.
    pub fn shutdown_write(&mut self) {
        let tcp = self.tcp.as_ref().expect("plain connection");
        tcp.shutdown(std::net::Shutdown::Write).unwrap();
    }

    pub fn send(&mut self, line: &str) {
        self.send_bytes(format!("{line}\r\n").as_bytes());
    }

    /// Reads one complete reply; panics on EOF.
    pub fn reply(&mut self) -> Reply {
        self.try_reply().expect("connection closed while waiting for a reply")
    }

    /// Reads one complete reply, or `None` at end of stream.
    pub fn try_reply(&mut self) -> Option<Reply> {
        let mut parser = ReplyParser::new();
        loop {
            let mut line = Vec::new();
            let n = match self.inner.read_until(b'\n', &mut line) {
                Ok(n) => n,
                // A TLS peer closing without close_notify has closed all the same.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(e) => panic!("read reply: {e}"),
            };
            if n == 0 {
                return None;
            }
            assert!(line.ends_with(b"\r\n"), "reply line without CRLF: {:?}", String::from_utf8_lossy(&line));
            line.truncate(line.len() - 2);
            let text = String::from_utf8(line).expect("reply is UTF-8");
            if let Some(r) = parser.feed(&text).expect("well-formed reply") {
                return Some(Reply { code: r.code.0, lines: r.lines });
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

    /// Reads the next reply and asserts its code.
    #[track_caller]
    pub fn expect_final(&mut self, code: u16) -> Reply {
        let r = self.reply();
        assert_eq!(r.code, code, "{r:?}");
        r
    }

    /// Reads until the server closes the connection.
    pub fn wait_closed(&mut self) {
        let mut rest = Vec::new();
        let _ = self.inner.read_to_end(&mut rest);
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
        text.split("\r\n").filter(|l| !l.is_empty()).map(str::to_string).collect()
    }

    /// Uploads bytes with a command (STOR/APPE/STOU) over EPSV; returns the 150 and final
    /// replies (a refusal instead of 150 is returned as both).
    pub fn upload(&mut self, line: &str, bytes: &[u8]) -> (Reply, Reply) {
        let mut data = self.epsv();
        let opened = self.cmd(line);
        if opened.code != 150 {
            return (opened.clone(), opened);
        }
        data.write_all(bytes).unwrap();
        drop(data);
        (opened, self.reply())
    }
}

/// The name the test certificate is issued for.
pub fn server_name() -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from("localhost").unwrap()
}

/// A self-signed certificate for localhost, as PEM (certificate, key).
pub fn test_certificate() -> (String, String) {
    ferroftp_server::tls::generate_self_signed(&["localhost".into(), "127.0.0.1".into(), "::1".into()]).unwrap()
}

/// Server TLS settings with a fresh self-signed certificate.
pub fn tls_settings() -> (ferroftp_server::TlsSettings, String) {
    let (cert, key) = test_certificate();
    let source = ferroftp_server::CertificateSource::Pem { cert: cert.clone(), key };
    (ferroftp_server::TlsSettings::new(source), cert)
}

/// Trusts exactly one certificate, by its SHA-256 fingerprint (what users of a
/// self-signed server do: pin the fingerprint it printed).
#[derive(Debug)]
struct Pinned {
    fingerprint: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if ferroftp_server::tls::fingerprint(end_entity) == self.fingerprint {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("certificate fingerprint mismatch".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration that trusts `cert_pem` by fingerprint. Each call makes
/// a new session store, so two configurations never resume each other's sessions.
pub fn tls_client(cert_pem: &str) -> Arc<rustls::ClientConfig> {
    tls_client_presenting(cert_pem, None)
}

/// As [`tls_client`], presenting a client certificate `(cert, key)` PEM if given.
pub fn tls_client_presenting(cert_pem: &str, identity: Option<(&str, &str)>) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Pinned { fingerprint: ferroftp_server::tls::fingerprint(&der), provider: Arc::clone(&provider) };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let config = match identity {
        Some((cert, key)) => {
            let chain = vec![rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()];
            let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            config.with_client_auth_cert(chain, key).unwrap()
        }
        None => config.with_no_client_auth(),
    };
    Arc::new(config)
}

/// A protected data connection to `port`. The handshake happens on first use,
/// after the 150 reply, as real clients do it.
pub fn tls_data(
    addr: SocketAddr,
    tls: &Arc<rustls::ClientConfig>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let conn = rustls::ClientConnection::new(Arc::clone(tls), server_name()).unwrap();
    rustls::StreamOwned::new(conn, s)
}
