//! Data connections (RFC 959 §3.2, RFC 2428) and the commands that use them:
//! `RETR`, `STOR`/`APPE`, `LIST`, `NLST`, `MLSD`.
//!
//! Passive mode connects before the command is sent; active mode listens,
//! announces the port, and accepts only a connection from the server's
//! address (RFC 2577 §5, port stealing). With `PROT P`, the client runs the
//! TLS handshake on the data connection with its control connection's
//! configuration, so the server sees the control session resumed.

use crate::control::Stream;
use crate::error::{ClientError, Result};
use crate::listing::{Listing, parse_listing};
use crate::session::{DataMode, Session, TransferType, reply_error};
use ferroftp_proto::ascii;
use ferroftp_proto::hostport::{format_eprt, format_port, parse_epsv_reply, parse_pasv_reply};
use ferroftp_proto::listing::{Entry, entry_from_facts, parse_mlsx_line};
use ferroftp_proto::reply::Reply;
use std::io;
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

/// Size of the copy buffer of a transfer.
const CHUNK: usize = 1024 * 1024;

/// How long [`Session::fill`] gathers a chunk before handing it on anyway.
const FILL_WAIT: std::time::Duration = std::time::Duration::from_millis(50);

/// The largest listing read into memory.
const MAX_LISTING: usize = 512 * 1024 * 1024;

/// How a file is written on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `STOR`: create or replace.
    Replace,
    /// `APPE`: add to the end (a resumed upload sends the rest this way).
    Append,
}

/// An open data connection, before or after its command's preliminary reply.
enum Pending {
    Connected(tokio::net::TcpStream),
    Listening(TcpListener),
}

impl Session {
    /// Opens the data connection for `command` and returns it once the server
    /// has answered `150`/`125`. A restart offset is sent last, right before
    /// the command (RFC 959 §4.1.3: REST is followed by the service command;
    /// servers forget it after any other command).
    async fn start_data(&mut self, command: &str, offset: u64) -> Result<Stream> {
        let pending = match self.mode {
            DataMode::Passive => Pending::Connected(self.passive().await?),
            DataMode::Active => Pending::Listening(self.active().await?),
        };
        if offset > 0 {
            self.expect(&format!("REST {offset}"), |c| c == 350).await?;
        }
        let reply = self.control.command(command).await?;
        if !matches!(reply.code.0, 125 | 150) {
            return Err(reply_error(command, &reply));
        }
        let tcp = match pending {
            Pending::Connected(tcp) => tcp,
            Pending::Listening(listener) => self.accept_from_server(listener).await?,
        };
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some(tls) if tls.protect_data => {
                let handshake = Stream::tls(tcp, &tls.config, &tls.name, &self.host);
                match tokio::time::timeout(self.timeout, handshake).await {
                    Ok(result) => result,
                    Err(_) => Err(ClientError::Timeout { what: "data connection TLS handshake", after: self.timeout }),
                }
            }
            _ => Ok(Stream::Plain(tcp)),
        }
    }

    /// `EPSV`, or `PASV` once the server has refused `EPSV`; connects to the
    /// port. The address in a `227` reply is ignored in favour of the control
    /// connection's (as curl does): it is often a private address behind NAT,
    /// and honouring it lets a server aim the client at a third host.
    async fn passive(&mut self) -> Result<tokio::net::TcpStream> {
        let ip = self.peer.ip();
        let port = match self.epsv().await? {
            Some(port) => port,
            None => {
                let reply = self.control.command("PASV").await?;
                if reply.code.0 != 227 {
                    return Err(reply_error("PASV", &reply));
                }
                parse_pasv_reply(&reply.text())
                    .map_err(|e| ClientError::Protocol { command: "PASV".into(), reply: e.to_string() })?
                    .port()
            }
        };
        let addr = SocketAddr::new(ip, port);
        match tokio::time::timeout(self.connect_timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => Ok(tcp),
            Ok(Err(e)) => Err(ClientError::Data(io::Error::new(e.kind(), format!("connecting to {addr}: {e}")))),
            Err(_) => Err(ClientError::Timeout { what: "connecting the data connection", after: self.connect_timeout }),
        }
    }

    /// The port of `EPSV`, or `None` when the server does not know the
    /// command (remembered: the next transfer goes straight to `PASV`).
    async fn epsv(&mut self) -> Result<Option<u16>> {
        if self.epsv_refused {
            return Ok(None);
        }
        let reply = self.control.command("EPSV").await?;
        if reply.code.0 == 229 {
            return parse_epsv_reply(&reply.text())
                .map(Some)
                .map_err(|e| ClientError::Protocol { command: "EPSV".into(), reply: e.to_string() });
        }
        // PASV cannot describe an IPv6 address: no fallback there.
        if !(500..600).contains(&reply.code.0) || self.peer.is_ipv6() {
            return Err(reply_error("EPSV", &reply));
        }
        self.epsv_refused = true;
        Ok(None)
    }

    /// Listens on the control connection's local address and tells the
    /// server with `EPRT` (or `PORT` for IPv4 once `EPRT` was refused).
    async fn active(&mut self) -> Result<TcpListener> {
        let local = SocketAddr::new(self.local.ip(), 0);
        let socket =
            if local.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(ClientError::Data)?;
        socket.bind(local).map_err(ClientError::Data)?;
        let listener = socket.listen(1).map_err(ClientError::Data)?;
        let addr = listener.local_addr().map_err(ClientError::Data)?;
        if !self.eprt_refused {
            let line = format!("EPRT {}", format_eprt(addr));
            let reply = self.control.command(&line).await?;
            if reply.code.0 == 200 {
                return Ok(listener);
            }
            if !(500..=502).contains(&reply.code.0) || addr.is_ipv6() {
                return Err(reply_error(&line, &reply));
            }
            self.eprt_refused = true;
        }
        let SocketAddr::V4(v4) = addr else {
            return Err(ClientError::Unsupported("EPRT, needed for active mode over IPv6"));
        };
        let line = format!("PORT {}", format_port(v4));
        self.expect(&line, |c| c == 200).await?;
        Ok(listener)
    }

    /// Accepts the server's data connection, refusing any from another address.
    async fn accept_from_server(&mut self, listener: TcpListener) -> Result<tokio::net::TcpStream> {
        let server_ip = canonical(self.peer.ip());
        let deadline = tokio::time::Instant::now() + self.connect_timeout;
        loop {
            let accepted = tokio::time::timeout_at(deadline, listener.accept()).await;
            match accepted {
                Ok(Ok((tcp, from))) if canonical(from.ip()) == server_ip => return Ok(tcp),
                Ok(Ok((_, from))) => {
                    tracing::warn!(%from, "refused a data connection from an address other than the server's");
                }
                Ok(Err(e)) => return Err(ClientError::Data(e)),
                Err(_) => {
                    return Err(ClientError::Timeout {
                        what: "waiting for the server's data connection (active mode; try passive)",
                        after: self.connect_timeout,
                    });
                }
            }
        }
    }

    /// Reads the reply that ends a transfer (`226`/`250`), skipping replies to
    /// keep-alive `NOOP`s sent meanwhile, whichever order they come in.
    async fn finish(&mut self, command: &str) -> Result<Reply> {
        loop {
            let reply = self.control.reply().await?;
            if reply.code.0 == 200 && self.pending_noops > 0 {
                self.pending_noops -= 1;
                continue;
            }
            self.drain_noops().await?;
            return if matches!(reply.code.0, 226 | 250) { Ok(reply) } else { Err(reply_error(command, &reply)) };
        }
    }

    /// Sends `NOOP` when the control connection has been quiet for the
    /// keep-alive interval during a transfer.
    async fn keepalive_tick(&mut self) -> Result<()> {
        if let Some(every) = self.keepalive
            && self.control.last_sent.elapsed() >= every
        {
            self.control.send("NOOP").await?;
            self.count_noop();
        }
        Ok(())
    }

    /// Reads the next chunk of a data connection; 0 at its end. A server that
    /// closes without a TLS close_notify has ended too: the final reply says
    /// whether everything came.
    async fn read_data(&mut self, data: &mut Stream, buf: &mut [u8], what: &'static str) -> Result<usize> {
        match tokio::time::timeout(self.timeout, data.read(buf)).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
            Ok(Err(e)) => Err(ClientError::Data(e)),
            Err(_) => Err(ClientError::Timeout { what, after: self.timeout }),
        }
    }

    /// Reads into `buf` until it is full, the data ends, or [`FILL_WAIT`]
    /// has passed since the first bytes arrived. A socket read returns what
    /// has arrived, often 64 KiB or less; writing each such piece to a file
    /// costs a hand-over to a blocking thread, so pieces are gathered first
    /// (a GiB in 1,024 writes instead of 16,000 or more), but never held back
    /// long enough to make a progress bar stutter on a slow link.
    async fn fill(&mut self, data: &mut Stream, buf: &mut [u8]) -> Result<usize> {
        let mut n = self.read_data(data, buf, "receiving data").await?;
        if n == 0 {
            return Ok(0);
        }
        // One timer for the whole buffer, not one per read that has to wait.
        let wait = tokio::time::sleep(FILL_WAIT);
        tokio::pin!(wait);
        while n < buf.len() {
            tokio::select! {
                biased;
                read = data.read(&mut buf[n..]) => match read {
                    Ok(0) => break,
                    Ok(more) => n += more,
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(ClientError::Data(e)),
                },
                () = &mut wait => break,
            }
        }
        Ok(n)
    }

    /// After a failed transfer: `ABOR` (RFC 959 §4.1.3) and the replies it
    /// brings, so that the session can go on. Best effort.
    pub(crate) async fn abort(&mut self, data: Option<Stream>) {
        drop(data);
        if self.control.send("ABOR").await.is_err() {
            return;
        }
        // 426 for the transfer, then 226 for ABOR; or just 226/225.
        for _ in 0..2 + self.pending_noops {
            match self.control.reply().await {
                Ok(r) if matches!(r.code.0, 225 | 226) => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        self.pending_noops = 0;
    }

    /// Downloads `path` from byte `offset` (`REST`, RFC 3659 §5) into `out`.
    /// Calls `progress` with the bytes received so far. Returns that count.
    /// In ASCII type the CRLFs of the wire become LFs.
    pub async fn retrieve<W>(
        &mut self,
        path: &str,
        offset: u64,
        out: &mut W,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let command = format!("RETR {path}");
        let mut data = self.start_data(&command, offset).await?;
        let ascii = self.transfer_type == Some(TransferType::Ascii);
        let mut decoder = ascii::Decoder::new();
        let mut decoded = Vec::new();
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = match self.fill(&mut data, &mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    self.abort(Some(data)).await;
                    return Err(e);
                }
            };
            if n == 0 {
                break;
            }
            let written = if ascii {
                decoded.clear();
                decoder.decode(&buf[..n], &mut decoded);
                out.write_all(&decoded).await
            } else {
                out.write_all(&buf[..n]).await
            };
            if let Err(e) = written {
                self.abort(Some(data)).await;
                return Err(ClientError::Local { path: "(output)".into(), cause: e });
            }
            total += n as u64;
            progress(total);
            self.keepalive_tick().await?;
        }
        if ascii {
            decoded.clear();
            decoder.finish(&mut decoded);
            out.write_all(&decoded).await.map_err(|e| ClientError::Local { path: "(output)".into(), cause: e })?;
        }
        out.flush().await.map_err(|e| ClientError::Local { path: "(output)".into(), cause: e })?;
        drop(data);
        self.finish(&command).await?;
        Ok(total)
    }

    /// Uploads everything `input` yields to `path`. Calls `progress` with the
    /// bytes sent so far. In ASCII type LFs go out as CRLF.
    pub async fn store<R>(
        &mut self,
        path: &str,
        mode: StoreMode,
        input: &mut R,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64>
    where
        R: AsyncRead + Unpin + ?Sized,
    {
        let command = match mode {
            StoreMode::Replace => format!("STOR {path}"),
            StoreMode::Append => format!("APPE {path}"),
        };
        let mut data = self.start_data(&command, 0).await?;
        let ascii = self.transfer_type == Some(TransferType::Ascii);
        let mut encoder = ascii::Encoder::new();
        let mut encoded = Vec::new();
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = match input.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    self.abort(Some(data)).await;
                    return Err(ClientError::Local { path: "(input)".into(), cause: e });
                }
            };
            if n == 0 {
                break;
            }
            let chunk = if ascii {
                encoded.clear();
                encoder.encode(&buf[..n], &mut encoded);
                &encoded[..]
            } else {
                &buf[..n]
            };
            match tokio::time::timeout(self.timeout, data.write_all(chunk)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    // The server may have said why it stopped reading.
                    return Err(self.failed_upload(&command, data, ClientError::Data(e)).await);
                }
                Err(_) => {
                    let e = ClientError::Timeout { what: "sending data", after: self.timeout };
                    return Err(self.failed_upload(&command, data, e).await);
                }
            }
            total += n as u64;
            progress(total);
            self.keepalive_tick().await?;
        }
        match tokio::time::timeout(self.timeout, data.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(self.failed_upload(&command, data, ClientError::Data(e)).await),
            Err(_) => {
                let e = ClientError::Timeout { what: "closing the data connection", after: self.timeout };
                return Err(self.failed_upload(&command, data, e).await);
            }
        }
        // Wait for the server to close its side before closing ours. A TLS
        // server may have sent session tickets that were never read, and
        // closing a socket with unread input makes the kernel answer with a
        // reset that discards whatever was still queued to send: vsftpd then
        // sees a truncated upload and answers 426. What arrives is discarded;
        // an error only means the server closed abruptly, which is its way.
        let _ = tokio::time::timeout(self.timeout, drain(&mut data, &mut buf)).await;
        drop(data);
        self.finish(&command).await?;
        Ok(total)
    }

    /// An upload whose data connection broke: the server's reply (a quota or
    /// disk-full refusal) explains it better than the socket error.
    async fn failed_upload(&mut self, command: &str, data: Stream, error: ClientError) -> ClientError {
        drop(data);
        match self.finish(command).await {
            Err(reply @ ClientError::Reply { .. }) => reply,
            _ => error,
        }
    }

    /// Runs a listing command and returns its lines (CR LF or LF ended).
    async fn listing_lines(&mut self, command: &str) -> Result<Vec<String>> {
        let mut data = self.start_data(command, 0).await?;
        let mut bytes = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match self.read_data(&mut data, &mut buf, "receiving a listing").await {
                Ok(n) => n,
                Err(e) => {
                    self.abort(Some(data)).await;
                    return Err(e);
                }
            };
            if n == 0 {
                break;
            }
            if bytes.len() + n > MAX_LISTING {
                self.abort(Some(data)).await;
                return Err(ClientError::Protocol {
                    command: command.to_string(),
                    reply: format!("a listing larger than {} MiB", MAX_LISTING >> 20),
                });
            }
            bytes.extend_from_slice(&buf[..n]);
            self.keepalive_tick().await?;
        }
        drop(data);
        self.finish(command).await?;
        Ok(String::from_utf8_lossy(&bytes)
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
            .filter(|l| !l.is_empty())
            .collect())
    }

    fn with_path(verb: &str, path: Option<&str>) -> String {
        match path {
            Some(p) if !p.is_empty() => format!("{verb} {p}"),
            _ => verb.to_string(),
        }
    }

    /// `LIST`: the server's human-readable lines, as sent.
    pub async fn list(&mut self, path: Option<&str>) -> Result<Vec<String>> {
        self.listing_lines(&Self::with_path("LIST", path)).await
    }

    /// `NLST`: names only.
    pub async fn nlst(&mut self, path: Option<&str>) -> Result<Vec<String>> {
        self.listing_lines(&Self::with_path("NLST", path)).await
    }

    /// `MLSD` (RFC 3659 §7): entries with exact sizes and times. The
    /// directory itself and its parent (`cdir`, `pdir`) are left out.
    pub async fn mlsd(&mut self, path: Option<&str>) -> Result<Listing> {
        let lines = self.listing_lines(&Self::with_path("MLSD", path)).await?;
        let mut listing = Listing::default();
        for line in lines {
            match parse_mlsx_line(&line) {
                Some(p) if matches!(p.get("type").map(str::to_ascii_lowercase).as_deref(), Some("cdir" | "pdir")) => {}
                Some(p) => match entry_from_facts(&p) {
                    Some(entry) => listing.entries.push(entry),
                    None => listing.unparsed.push(line),
                },
                None => listing.unparsed.push(line),
            }
        }
        Ok(listing)
    }

    /// `MLST` (RFC 3659 §7): the facts of one file or directory.
    pub async fn mlst(&mut self, path: &str) -> Result<Entry> {
        let line = format!("MLST {path}");
        let reply = self.expect(&line, |c| c == 250).await?;
        reply
            .lines
            .iter()
            .skip(1)
            .find_map(|l| parse_mlsx_line(l.strip_prefix(' ').unwrap_or(l)).and_then(|p| entry_from_facts(&p)))
            .ok_or_else(|| ClientError::Protocol { command: line, reply: reply.text() })
    }

    /// The entries of a directory: `MLSD` where the server offers it, else
    /// `LIST` read by the Unix and DOS parsers. Lines no parser understands
    /// are kept in [`Listing::unparsed`].
    pub async fn read_dir(&mut self, path: Option<&str>) -> Result<Listing> {
        if self.features().has("MLST") {
            return self.mlsd(path).await;
        }
        let lines = self.list(path).await?;
        Ok(parse_listing(&lines, std::time::SystemTime::now()))
    }
}

/// An IPv4-mapped IPv6 address as IPv4, so both forms of one address compare equal.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Reads and discards until end of stream or an error.
async fn drain(data: &mut Stream, buf: &mut [u8]) {
    while let Ok(n) = data.read(buf).await {
        if n == 0 {
            break;
        }
    }
}
