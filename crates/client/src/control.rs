//! The control connection: a byte stream (plain or TLS) that owns the framing
//! of commands and replies (RFC 959 §4.2), with a timeout on every read and
//! an optional trace of what crosses it.

use crate::error::{ClientError, Result};
use ferroftp_proto::reply::{Reply, ReplyParser};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The longest reply line accepted, and the most lines in one reply.
const MAX_LINE: usize = 64 * 1024;
const MAX_LINES: usize = 100_000;

/// A TCP connection, with or without TLS.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Whether a TLS connection resumed an earlier session.
    pub fn resumed(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(s) => s.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
        }
    }

    /// Runs the TLS handshake as the client over `tcp`.
    pub(crate) async fn tls(
        tcp: TcpStream,
        config: &Arc<rustls::ClientConfig>,
        name: &rustls_pki_types::ServerName<'static>,
        host: &str,
    ) -> Result<Stream> {
        let stream = TlsConnector::from(config.clone())
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| ClientError::Tls { host: host.to_string(), reason: e.to_string() })?;
        Ok(Stream::Tls(Box::new(stream)))
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// What crossed the control connection, for `-v`/`-d` output and logs.
#[derive(Debug)]
pub enum TraceEvent<'a> {
    /// A command sent (a password shown as `PASS ****`).
    Sent(&'a str),
    /// A complete reply received.
    Received(&'a Reply),
}

/// Receives every [`TraceEvent`] of a session.
pub type Trace = Box<dyn FnMut(TraceEvent<'_>) + Send>;

pub(crate) struct Control {
    io: BufReader<Stream>,
    parser: ReplyParser,
    timeout: Duration,
    pub(crate) trace: Option<Trace>,
    pub(crate) last_sent: Instant,
}

impl Control {
    pub(crate) fn new(stream: Stream, timeout: Duration) -> Self {
        Control {
            io: BufReader::new(stream),
            parser: ReplyParser::new(),
            timeout,
            trace: None,
            last_sent: Instant::now(),
        }
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends one command line (CRLF added). A line containing CR or LF is
    /// refused: it would be two commands.
    pub(crate) async fn send(&mut self, line: &str) -> Result<()> {
        if line.contains(['\r', '\n']) {
            return Err(ClientError::Protocol {
                command: line.replace(['\r', '\n'], " "),
                reply: "refused to send: the command contains a line break".into(),
            });
        }
        if let Some(trace) = &mut self.trace {
            let shown = match line.get(..5) {
                Some(p) if p.eq_ignore_ascii_case("PASS ") => "PASS ****",
                _ => line,
            };
            trace(TraceEvent::Sent(shown));
        }
        let mut wire = Vec::with_capacity(line.len() + 2);
        wire.extend_from_slice(line.as_bytes());
        wire.extend_from_slice(b"\r\n");
        let stream = self.io.get_mut();
        let write = async {
            stream.write_all(&wire).await?;
            stream.flush().await
        };
        match tokio::time::timeout(self.timeout, write).await {
            Ok(result) => result.map_err(ClientError::Control)?,
            Err(_) => return Err(ClientError::Timeout { what: "sending a command", after: self.timeout }),
        }
        self.last_sent = Instant::now();
        Ok(())
    }

    /// Reads the next complete reply.
    pub(crate) async fn reply(&mut self) -> Result<Reply> {
        let timeout = self.timeout;
        let reply = match tokio::time::timeout(timeout, self.read_reply()).await {
            Ok(result) => result?,
            Err(_) => return Err(ClientError::Timeout { what: "waiting for the server's reply", after: timeout }),
        };
        if let Some(trace) = &mut self.trace {
            trace(TraceEvent::Received(&reply));
        }
        Ok(reply)
    }

    async fn read_reply(&mut self) -> Result<Reply> {
        let mut line = Vec::new();
        for _ in 0..MAX_LINES {
            line.clear();
            self.read_line(&mut line).await?;
            while matches!(line.last(), Some(b'\n' | b'\r')) {
                line.pop();
            }
            // RFC 2640: UTF-8 on the wire; anything else is shown, not refused.
            let text = String::from_utf8_lossy(&line);
            match self.parser.feed(&text) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => return Err(ClientError::Protocol { command: "(reply)".into(), reply: e.to_string() }),
            }
        }
        Err(ClientError::Protocol { command: "(reply)".into(), reply: format!("more than {MAX_LINES} lines") })
    }

    async fn read_line(&mut self, line: &mut Vec<u8>) -> Result<()> {
        loop {
            let available = self.io.fill_buf().await.map_err(ClientError::Control)?;
            if available.is_empty() {
                return Err(ClientError::Closed);
            }
            if let Some(i) = available.iter().position(|b| *b == b'\n') {
                line.extend_from_slice(&available[..=i]);
                self.io.consume(i + 1);
                return Ok(());
            }
            let n = available.len();
            line.extend_from_slice(available);
            self.io.consume(n);
            if line.len() > MAX_LINE {
                return Err(ClientError::Protocol {
                    command: "(reply)".into(),
                    reply: format!("a reply line longer than {MAX_LINE} bytes"),
                });
            }
        }
    }

    /// Sends a command and reads its reply.
    pub(crate) async fn command(&mut self, line: &str) -> Result<Reply> {
        self.send(line).await?;
        self.reply().await
    }

    /// Replaces the plain stream by TLS (after `AUTH TLS` was accepted).
    pub(crate) async fn upgrade(
        self,
        config: &Arc<rustls::ClientConfig>,
        name: &rustls_pki_types::ServerName<'static>,
        host: &str,
    ) -> Result<Control> {
        let Control { io, timeout, trace, .. } = self;
        let Stream::Plain(tcp) = io.into_inner() else {
            return Err(ClientError::Tls { host: host.to_string(), reason: "the connection is already TLS".into() });
        };
        let stream = match tokio::time::timeout(timeout, Stream::tls(tcp, config, name, host)).await {
            Ok(result) => result?,
            Err(_) => return Err(ClientError::Timeout { what: "TLS handshake", after: timeout }),
        };
        let mut control = Control::new(stream, timeout);
        control.trace = trace;
        Ok(control)
    }

    /// Closes the connection, politely for TLS.
    pub(crate) async fn shutdown(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.io.get_mut().shutdown()).await;
    }
}
