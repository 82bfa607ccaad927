//! The control connection: lines in, replies out, over plain TCP or TLS.

use ferroftp_proto::{LineDecoder, LineError, Reply};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

const READ_BUF: usize = 4096;

enum ReadSide {
    Plain(OwnedReadHalf),
    Tls(ReadHalf<TlsStream<TcpStream>>),
}

enum WriteSide {
    Plain(OwnedWriteHalf),
    Tls(WriteHalf<TlsStream<TcpStream>>),
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "control connection closed")
}

impl AsyncRead for ReadSide {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ReadSide::Plain(r) => Pin::new(r).poll_read(cx, buf),
            ReadSide::Tls(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for WriteSide {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            WriteSide::Plain(w) => Pin::new(w).poll_write(cx, buf),
            WriteSide::Tls(w) => Pin::new(w).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteSide::Plain(w) => Pin::new(w).poll_flush(cx),
            WriteSide::Tls(w) => Pin::new(w).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            WriteSide::Plain(w) => Pin::new(w).poll_shutdown(cx),
            WriteSide::Tls(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}

/// Splits an accepted connection, plain or already in TLS (implicit FTPS).
pub(crate) fn split_plain(stream: TcpStream) -> (ControlReader, ControlWriter) {
    let (r, w) = stream.into_split();
    (ControlReader::new(ReadSide::Plain(r)), ControlWriter::new(WriteSide::Plain(w)))
}

pub(crate) fn split_tls(stream: TlsStream<TcpStream>) -> (ControlReader, ControlWriter) {
    let (r, w) = tokio::io::split(stream);
    (ControlReader::new(ReadSide::Tls(r)), ControlWriter::new(WriteSide::Tls(w)))
}

/// Accepts a TLS handshake within `limit`.
pub(crate) async fn accept_tls(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    limit: Duration,
) -> io::Result<TlsStream<TcpStream>> {
    tokio::time::timeout(limit, acceptor.accept(stream))
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")))
}

/// Upgrades a plain control connection to TLS after `AUTH TLS` (RFC 4217 §4).
///
/// Anything the client sent after `AUTH TLS` in plain text is discarded: it
/// was not protected, so it must not be executed as if it were (the STARTTLS
/// command-injection attack). If the handshake fails the connection is unusable
/// and the session ends.
pub(crate) async fn start_tls(
    reader: &mut ControlReader,
    writer: &mut ControlWriter,
    acceptor: &TlsAcceptor,
    limit: Duration,
) -> io::Result<Option<String>> {
    let (Some(ReadSide::Plain(r)), Some(WriteSide::Plain(w))) = (reader.side.take(), writer.side.take()) else {
        return Err(io::Error::other("control connection is already protected"));
    };
    let tcp = r.reunite(w).map_err(|_| io::Error::other("control connection halves do not match"))?;
    reader.decoder = LineDecoder::new();
    let tls = accept_tls(acceptor, tcp, limit).await?;
    let client_certificate = crate::tls::peer_fingerprint(tls.get_ref().1);
    let (r, w) = tokio::io::split(tls);
    reader.side = Some(ReadSide::Tls(r));
    writer.side = Some(WriteSide::Tls(w));
    Ok(client_certificate)
}

/// Ends TLS on the control connection after `CCC` (RFC 4217 §6): sends
/// close_notify, waits for the client's, and goes on in clear text. The
/// client's TLS records are read one at a time, so no clear-text command that
/// follows its close_notify is swallowed.
pub(crate) async fn stop_tls(
    reader: &mut ControlReader,
    writer: &mut ControlWriter,
    limit: Duration,
) -> io::Result<()> {
    let (Some(ReadSide::Tls(r)), Some(WriteSide::Tls(w))) = (reader.side.take(), writer.side.take()) else {
        return Err(io::Error::other("control connection is not protected"));
    };
    let (mut tcp, mut conn) = r.unsplit(w).into_inner();
    conn.send_close_notify();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out)?;
    }
    tcp.write_all(&out).await?;
    tokio::time::timeout(limit, async {
        loop {
            let mut header = [0u8; 5];
            tcp.read_exact(&mut header).await?;
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            let mut record = header.to_vec();
            record.resize(5 + len, 0);
            tcp.read_exact(&mut record[5..]).await?;
            conn.read_tls(&mut record.as_slice())?;
            let state = conn.process_new_packets().map_err(io::Error::other)?;
            if state.peer_has_closed() {
                return Ok::<_, io::Error>(());
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "no close_notify after CCC")))?;
    let (r, w) = tcp.into_split();
    reader.side = Some(ReadSide::Plain(r));
    writer.side = Some(WriteSide::Plain(w));
    Ok(())
}

/// Reads command lines. [`next_line`](Self::next_line) is cancel-safe, so it can
/// sit in a `select!` beside the transfer and timers.
pub(crate) struct ControlReader {
    side: Option<ReadSide>,
    decoder: LineDecoder,
    buf: Box<[u8]>,
    eof: bool,
}

impl ControlReader {
    fn new(side: ReadSide) -> Self {
        ControlReader {
            side: Some(side),
            decoder: LineDecoder::new(),
            buf: vec![0; READ_BUF].into_boxed_slice(),
            eof: false,
        }
    }

    /// The next line, or `None` once the client has closed the connection.
    pub(crate) async fn next_line(&mut self) -> io::Result<Option<Result<Vec<u8>, LineError>>> {
        loop {
            if let Some(line) = self.decoder.next_line() {
                return Ok(Some(line));
            }
            if self.eof {
                // A last command without CRLF before close is still honoured (QUIT).
                return Ok(self.decoder.take_unterminated().map(Ok));
            }
            let side = self.side.as_mut().ok_or_else(closed)?;
            let n = match side.read(&mut self.buf).await {
                Ok(n) => n,
                // A TLS peer that closes without close_notify has still closed.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.eof = true;
            } else {
                self.decoder.push(&self.buf[..n]);
            }
        }
    }
}

impl ControlReader {
    /// Without waiting: true if the client has closed the control connection
    /// (or it failed), unless it sent `QUIT` before closing. What is read
    /// meanwhile stays for [`next_line`](Self::next_line).
    pub(crate) fn client_gone(&mut self) -> bool {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        // Bounded: a client sending while this runs is there.
        for _ in 0..16 {
            if self.eof {
                break;
            }
            let Some(side) = self.side.as_mut() else { return true };
            let mut buf = ReadBuf::new(&mut self.buf);
            match Pin::new(side).poll_read(&mut cx, &mut buf) {
                Poll::Pending => return false,
                Poll::Ready(Ok(())) if buf.filled().is_empty() => self.eof = true,
                Poll::Ready(Ok(())) => {
                    let n = buf.filled().len();
                    self.decoder.push(&self.buf[..n]);
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => self.eof = true,
                Poll::Ready(Err(_)) => return true,
            }
        }
        self.eof && !self.decoder.holds_line(is_quit)
    }
}

/// True if `line` is a `QUIT` command.
pub(super) fn is_quit(line: &[u8]) -> bool {
    ferroftp_proto::Command::parse(line).is_ok_and(|c| c.verb == "QUIT")
}

/// Writes replies, each in a single write so a reply is one TCP segment (or TLS
/// record) where it fits.
pub(crate) struct ControlWriter {
    side: Option<WriteSide>,
    buf: Vec<u8>,
}

impl ControlWriter {
    fn new(side: WriteSide) -> Self {
        ControlWriter { side: Some(side), buf: Vec::with_capacity(256) }
    }

    /// True once the control connection is protected by TLS.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self.side, Some(WriteSide::Tls(_)))
    }

    /// Writes `reply`, after any held ones, in one write.
    pub(crate) async fn send(&mut self, reply: &Reply) -> io::Result<()> {
        self.hold(reply);
        let side = self.side.as_mut().ok_or_else(closed)?;
        let written = side.write_all(&self.buf).await;
        self.buf.clear();
        written?;
        side.flush().await?;
        if self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::with_capacity(256);
        }
        Ok(())
    }

    /// Queues `reply` to go out with the next [`send`](Self::send).
    pub(crate) fn hold(&mut self, reply: &Reply) {
        tracing::debug!(reply = %reply.to_string().trim_end(), "->");
        reply.write_wire(&mut self.buf);
    }

    /// Writes already-framed bytes (the body of a streamed multi-line reply).
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let side = self.side.as_mut().ok_or_else(closed)?;
        side.write_all(bytes).await?;
        side.flush().await
    }

    pub(crate) async fn shutdown(&mut self) {
        if let Some(side) = self.side.as_mut() {
            let _ = side.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
    use super::*;
    use std::io::Write;

    /// A control connection as the server holds it, and the client's end.
    async fn pair() -> (ControlReader, ControlWriter, std::net::TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::task::spawn_blocking(move || std::net::TcpStream::connect(addr).unwrap());
        let (server, _) = listener.accept().await.unwrap();
        let (r, w) = split_plain(server);
        (r, w, client.await.unwrap())
    }

    /// Calls `client_gone` until `done` says the reader has seen what the
    /// client did (bounded: 5 s); returns its last answer.
    async fn gone_once(r: &mut ControlReader, done: impl Fn(&ControlReader) -> bool) -> bool {
        for _ in 0..5000 {
            let gone = r.client_gone();
            if done(r) {
                return gone;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the client's bytes never arrived");
    }

    #[tokio::test]
    async fn a_client_is_gone_when_it_closed_without_quit() {
        let (mut r, _w, client) = pair().await;
        assert!(!r.client_gone(), "an open connection");
        drop(client);
        assert!(gone_once(&mut r, |r| r.eof).await, "closed without QUIT");

        let (mut r, _w, mut client) = pair().await;
        client.write_all(b"NOOP\r\nQUIT\r\n").unwrap();
        drop(client);
        assert!(!gone_once(&mut r, |r| r.eof).await, "closed after QUIT");
        // What was read meanwhile is still there for the session.
        assert_eq!(r.next_line().await.unwrap().unwrap().unwrap(), b"NOOP");
        assert_eq!(r.next_line().await.unwrap().unwrap().unwrap(), b"QUIT");

        let (mut r, _w, mut client) = pair().await;
        client.write_all(b"STAT\r\n").unwrap();
        assert!(!gone_once(&mut r, |r| r.decoder.pending() > 0).await, "talking, not gone");
        assert_eq!(r.next_line().await.unwrap().unwrap().unwrap(), b"STAT");
        drop(client);
    }
}
