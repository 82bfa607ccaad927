//! A logged-in FTP or FTPS session: connecting, logging in, and every command
//! that is one request and one reply. Transfers are in [`crate::transfer`].

use crate::control::{Control, Stream, Trace};
use crate::error::{ClientError, Result};
use crate::features::{ChecksumCommand, Features, HashAlgorithm, digest_in_reply};
use crate::tls::{self, Verify};
use crate::url::{FtpUrl, Security};
use ferroftp_proto::reply::Reply;
use ferroftp_proto::timeval;
use rustls_pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::net::TcpStream;

/// How data connections are opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataMode {
    /// The client connects: `EPSV` (RFC 2428), falling back to `PASV` when the
    /// server does not know it.
    #[default]
    Passive,
    /// The server connects back: `EPRT`, falling back to `PORT` (IPv4).
    Active,
}

/// The representation type (RFC 959 §3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    /// `TYPE A`: text, CRLF on the wire, the local convention on disk.
    Ascii,
    /// `TYPE I`: bytes as they are.
    Binary,
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub verify: Verify,
    pub connect_timeout: Duration,
    /// How long to wait for any reply or data before giving up.
    pub timeout: Duration,
    pub mode: DataMode,
    /// During a transfer longer than this, `NOOP` is sent on the control
    /// connection at this interval, so that firewalls and NAT do not drop it.
    pub keepalive: Option<Duration>,
}

impl ConnectOptions {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        ConnectOptions {
            host: host.into(),
            port,
            security: Security::None,
            verify: Verify::default(),
            connect_timeout: Duration::from_secs(30),
            timeout: Duration::from_secs(120),
            mode: DataMode::Passive,
            keepalive: Some(Duration::from_secs(60)),
        }
    }

    pub fn from_url(url: &FtpUrl) -> Self {
        ConnectOptions { security: url.security, ..ConnectOptions::new(url.host.clone(), url.port) }
    }
}

/// TLS state of a session whose control connection is protected.
pub(crate) struct TlsState {
    pub(crate) config: Arc<rustls::ClientConfig>,
    pub(crate) name: ServerName<'static>,
    /// `PROT P` is in force: data connections use TLS too.
    pub(crate) protect_data: bool,
}

/// One control connection to a server.
pub struct Session {
    pub(crate) control: Control,
    pub(crate) host: String,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    welcome: Reply,
    features: Features,
    pub(crate) tls: Option<TlsState>,
    pub(crate) mode: DataMode,
    pub(crate) epsv_refused: bool,
    pub(crate) eprt_refused: bool,
    pub(crate) transfer_type: Option<TransferType>,
    pub(crate) keepalive: Option<Duration>,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    /// `NOOP`s sent during transfers whose replies are still to be read.
    pub(crate) pending_noops: usize,
    noops_sent: u64,
    user: Option<String>,
}

impl Session {
    /// Connects and reads the greeting; with TLS, also negotiates it
    /// (implicitly, or with `AUTH TLS` per RFC 4217 §4). Does not log in.
    pub async fn connect(options: &ConnectOptions) -> Result<Session> {
        let host = options.host.clone();
        let tls_config = match options.security {
            Security::None => None,
            _ => Some((tls::client_config(&options.verify, &host)?, tls::server_name(&host)?)),
        };
        let tcp = connect_tcp(&host, options.port, options.connect_timeout).await?;
        let _ = tcp.set_nodelay(true);
        let peer = tcp.peer_addr().map_err(ClientError::Control)?;
        let local = tcp.local_addr().map_err(ClientError::Control)?;
        let stream = match (&options.security, &tls_config) {
            (Security::Implicit, Some((config, name))) => {
                match tokio::time::timeout(options.timeout, Stream::tls(tcp, config, name, &host)).await {
                    Ok(result) => result?,
                    Err(_) => return Err(ClientError::Timeout { what: "TLS handshake", after: options.timeout }),
                }
            }
            _ => Stream::Plain(tcp),
        };
        let mut control = Control::new(stream, options.timeout);
        let mut welcome = control.reply().await?;
        // RFC 959 §5.4: 120 "ready in nnn minutes" comes before the 220.
        while welcome.code.0 == 120 {
            welcome = control.reply().await?;
        }
        if welcome.code.0 != 220 {
            return Err(ClientError::Reply { command: "connect".into(), code: welcome.code.0, text: welcome.text() });
        }
        if options.security == Security::Explicit {
            let reply = control.command("AUTH TLS").await?;
            if !matches!(reply.code.0, 234 | 334) {
                return Err(ClientError::Tls {
                    host,
                    reason: format!(
                        "the server refused AUTH TLS ({} {}); not continuing in plain text",
                        reply.code,
                        reply.text()
                    ),
                });
            }
            if let Some((config, name)) = &tls_config {
                control = control.upgrade(config, name, &host).await?;
            }
        }
        let tls = tls_config.map(|(config, name)| TlsState { config, name, protect_data: false });
        Ok(Session {
            control,
            host,
            peer,
            local,
            welcome,
            features: Features::default(),
            tls,
            mode: options.mode,
            epsv_refused: false,
            eprt_refused: false,
            transfer_type: None,
            keepalive: options.keepalive,
            timeout: options.timeout,
            connect_timeout: options.connect_timeout,
            pending_noops: 0,
            noops_sent: 0,
            user: None,
        })
    }

    /// Connects to the server a URL names and logs in with its user and
    /// password (anonymous when it has none), then switches to binary type.
    pub async fn open(url: &FtpUrl, options: &ConnectOptions) -> Result<Session> {
        let mut session = Session::connect(options).await?;
        let user = url.user.as_deref().unwrap_or("anonymous");
        let password = url.password.as_deref().unwrap_or(if url.is_anonymous() { "ferroftp@" } else { "" });
        session.login(user, password).await?;
        session.set_type(TransferType::Binary).await?;
        Ok(session)
    }

    /// Logs in (RFC 959 §4.1.1 USER/PASS; `anonymous` with an e-mail address
    /// as password for anonymous archives), then protects data connections
    /// when the control connection is TLS (RFC 4217 §8, `PBSZ 0` and
    /// `PROT P`), reads `FEAT` and turns on UTF-8 names where offered (RFC 2640).
    pub async fn login(&mut self, user: &str, password: &str) -> Result<()> {
        let reply = self.control.command(&format!("USER {user}")).await?;
        let reply = match reply.code.0 {
            230 => reply,
            331 => self.control.command(&format!("PASS {password}")).await?,
            _ => return Err(ClientError::Login { code: reply.code.0, text: reply.text() }),
        };
        match reply.code.0 {
            230 | 202 => {}
            _ => return Err(ClientError::Login { code: reply.code.0, text: reply.text() }),
        }
        self.user = Some(user.to_string());
        if self.tls.is_some() {
            self.expect("PBSZ 0", |c| c == 200).await?;
            self.expect("PROT P", |c| c == 200).await?;
            if let Some(tls) = &mut self.tls {
                tls.protect_data = true;
            }
        }
        self.refresh_features().await?;
        if self.features.has("UTF8") {
            // Some servers need it, others answer 202 or 502: none of it matters.
            let _ = self.control.command("OPTS UTF8 ON").await?;
        }
        Ok(())
    }

    /// Reads `FEAT` again (servers may offer more after login).
    pub async fn refresh_features(&mut self) -> Result<&Features> {
        let reply = self.control.command("FEAT").await?;
        self.features = if reply.code.0 == 211 { Features::parse(&reply) } else { Features::default() };
        Ok(&self.features)
    }

    pub fn features(&self) -> &Features {
        &self.features
    }

    /// The server's greeting.
    pub fn welcome(&self) -> &Reply {
        &self.welcome
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The logged-in user.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// Whether the control connection is TLS, and whether data connections are.
    pub fn tls(&self) -> (bool, bool) {
        match &self.tls {
            Some(t) => (true, t.protect_data),
            None => (false, false),
        }
    }

    pub fn data_mode(&self) -> DataMode {
        self.mode
    }

    pub fn set_data_mode(&mut self, mode: DataMode) {
        self.mode = mode;
    }

    pub fn transfer_type(&self) -> Option<TransferType> {
        self.transfer_type
    }

    /// Receives every command and reply from now on (`None` to stop).
    pub fn set_trace(&mut self, trace: Option<Trace>) {
        self.control.trace = trace;
    }

    /// How long to wait for replies and data.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
        self.control.set_timeout(timeout);
    }

    pub fn set_keepalive(&mut self, every: Option<Duration>) {
        self.keepalive = every;
    }

    /// Keep-alive `NOOP`s sent during transfers so far.
    pub fn keepalives_sent(&self) -> u64 {
        self.noops_sent
    }

    pub(crate) fn count_noop(&mut self) {
        self.noops_sent += 1;
        self.pending_noops += 1;
    }

    /// Sends any command line and returns the reply, whatever its code
    /// (`quote` in the shell).
    pub async fn quote(&mut self, line: &str) -> Result<Reply> {
        self.control.command(line).await
    }

    /// Sends a command and returns its reply if its code passes `ok`, or the
    /// error reply as [`ClientError::Reply`].
    pub async fn expect(&mut self, line: &str, ok: impl Fn(u16) -> bool) -> Result<Reply> {
        let reply = self.control.command(line).await?;
        if ok(reply.code.0) { Ok(reply) } else { Err(reply_error(line, &reply)) }
    }

    /// `TYPE A` or `TYPE I`, sent only when it changes.
    pub async fn set_type(&mut self, t: TransferType) -> Result<()> {
        if self.transfer_type == Some(t) {
            return Ok(());
        }
        let line = match t {
            TransferType::Ascii => "TYPE A",
            TransferType::Binary => "TYPE I",
        };
        self.expect(line, |c| c == 200).await?;
        self.transfer_type = Some(t);
        Ok(())
    }

    /// The current directory (`PWD`, RFC 959 §4.1.3; the name is quoted, with
    /// `""` standing for `"` as in §7 of the RFC's appendix).
    pub async fn pwd(&mut self) -> Result<String> {
        let reply = self.expect("PWD", |c| c == 257).await?;
        quoted_path(&reply.text()).ok_or_else(|| ClientError::Protocol { command: "PWD".into(), reply: reply.text() })
    }

    pub async fn cwd(&mut self, path: &str) -> Result<()> {
        self.expect(&format!("CWD {path}"), |c| (200..300).contains(&c)).await.map(drop)
    }

    pub async fn cdup(&mut self) -> Result<()> {
        self.expect("CDUP", |c| (200..300).contains(&c)).await.map(drop)
    }

    /// Creates a directory; returns the name the server reports.
    pub async fn mkdir(&mut self, path: &str) -> Result<String> {
        let reply = self.expect(&format!("MKD {path}"), |c| c == 257 || c == 250).await?;
        Ok(quoted_path(&reply.text()).unwrap_or_else(|| path.to_string()))
    }

    pub async fn rmdir(&mut self, path: &str) -> Result<()> {
        self.expect(&format!("RMD {path}"), |c| c == 250 || c == 200).await.map(drop)
    }

    pub async fn delete(&mut self, path: &str) -> Result<()> {
        self.expect(&format!("DELE {path}"), |c| c == 250 || c == 200).await.map(drop)
    }

    /// `RNFR` then `RNTO` (RFC 959 §4.1.3).
    pub async fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        self.expect(&format!("RNFR {from}"), |c| c == 350).await?;
        self.expect(&format!("RNTO {to}"), |c| c == 250 || c == 200).await.map(drop)
    }

    /// The size of a file in the current type (RFC 3659 §4).
    pub async fn size(&mut self, path: &str) -> Result<u64> {
        let line = format!("SIZE {path}");
        let reply = self.expect(&line, |c| c == 213).await?;
        reply.text().trim().parse().map_err(|_| ClientError::Protocol { command: line, reply: reply.text() })
    }

    /// The modification time of a file (RFC 3659 §3).
    pub async fn mdtm(&mut self, path: &str) -> Result<SystemTime> {
        let line = format!("MDTM {path}");
        let reply = self.expect(&line, |c| c == 213).await?;
        timeval::parse(reply.text().trim()).ok_or_else(|| ClientError::Protocol { command: line, reply: reply.text() })
    }

    /// Sets a file's modification time with `MFMT` (draft-somers-ftp-mfxx),
    /// as FileZilla, ProFTPD, pure-ftpd and ferroftp implement it.
    pub async fn set_mtime(&mut self, path: &str, time: SystemTime) -> Result<()> {
        if !self.features.has("MFMT") {
            return Err(ClientError::Unsupported("MFMT (setting modification times)"));
        }
        self.expect(&format!("MFMT {} {path}", timeval::format(time)), |c| c == 213).await.map(drop)
    }

    /// `SITE` with its arguments (`CHMOD 644 file`).
    pub async fn site(&mut self, args: &str) -> Result<Reply> {
        self.expect(&format!("SITE {args}"), |c| (200..300).contains(&c)).await
    }

    pub async fn noop(&mut self) -> Result<()> {
        self.expect("NOOP", |c| c == 200).await.map(drop)
    }

    /// The server's system type (`SYST`, `215 UNIX Type: L8`).
    pub async fn system(&mut self) -> Result<String> {
        Ok(self.expect("SYST", |c| c == 215).await?.text())
    }

    /// `STAT`, or `STAT path` (a listing over the control connection).
    pub async fn status(&mut self, path: Option<&str>) -> Result<Reply> {
        let line = path.map_or_else(|| "STAT".to_string(), |p| format!("STAT {p}"));
        self.expect(&line, |c| (200..300).contains(&c)).await
    }

    /// The server's checksum of a file with the best algorithm it offers,
    /// or `None` when it offers none.
    pub async fn checksum(&mut self, path: &str) -> Result<Option<(HashAlgorithm, String)>> {
        let Some(how) = self.features.best_checksum() else {
            return Ok(None);
        };
        let algorithm = how.algorithm();
        let line = match how {
            ChecksumCommand::Hash { selected, .. } => {
                if !selected {
                    self.expect(&format!("OPTS HASH {}", algorithm.name()), |c| c == 200).await?;
                }
                format!("HASH {path}")
            }
            ChecksumCommand::XCommand(alg) => format!("{} {path}", alg.x_command()),
        };
        let reply = self.expect(&line, |c| (200..300).contains(&c)).await?;
        match digest_in_reply(&reply.text(), algorithm) {
            Some(digest) => Ok(Some((algorithm, digest))),
            None => Err(ClientError::Protocol { command: line, reply: reply.text() }),
        }
    }

    /// `QUIT`, and closes the connection.
    pub async fn quit(mut self) -> Result<()> {
        let result = self.control.command("QUIT").await;
        self.control.shutdown().await;
        result.map(drop)
    }

    /// Reads replies to keep-alive `NOOP`s still outstanding.
    pub(crate) async fn drain_noops(&mut self) -> Result<()> {
        while self.pending_noops > 0 {
            self.control.reply().await?;
            self.pending_noops -= 1;
        }
        Ok(())
    }
}

/// An error reply to `line`, with `PASS` hidden.
pub(crate) fn reply_error(line: &str, reply: &Reply) -> ClientError {
    let command = if line.len() >= 5 && line[..5].eq_ignore_ascii_case("PASS ") { "PASS ****" } else { line };
    ClientError::Reply { command: command.to_string(), code: reply.code.0, text: reply.text() }
}

/// The first `"…"` in a reply, with `""` read as `"`.
pub fn quoted_path(text: &str) -> Option<String> {
    let start = text.find('"')? + 1;
    let mut out = String::new();
    let mut chars = text[start..].chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            if chars.peek() == Some(&'"') {
                chars.next();
                out.push('"');
            } else {
                return Some(out);
            }
        } else {
            out.push(c);
        }
    }
    None
}

/// Resolves `host` and connects to the first address that answers.
pub(crate) async fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
    let addrs: Vec<SocketAddr> = match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addrs)) => addrs.collect(),
        Ok(Err(source)) => return Err(ClientError::Resolve { host: host.to_string(), cause: source }),
        Err(_) => return Err(ClientError::Timeout { what: "resolving the host name", after: timeout }),
    };
    let mut last = None;
    for addr in &addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = Some((addr, e)),
            Err(_) => {
                last = Some((addr, std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out")));
            }
        }
    }
    match last {
        Some((addr, source)) => Err(ClientError::Connect { addr: addr.to_string(), cause: source }),
        None => Err(ClientError::Resolve {
            host: host.to_string(),
            cause: std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_paths() {
        assert_eq!(quoted_path("\"/a b\" is the current directory").as_deref(), Some("/a b"));
        assert_eq!(quoted_path("\"/say \"\"hi\"\"\" created").as_deref(), Some("/say \"hi\""));
        assert_eq!(quoted_path("no quotes"), None);
        assert_eq!(quoted_path("\"unterminated"), None);
    }
}
