//! Data connections: how they are set up (passive or active), the stream that
//! carries them, and the transfer task a session runs on them.

mod listing;
mod public_address;
mod transfer;
#[cfg(target_os = "linux")]
mod zero_copy;

pub(crate) use listing::{EntryFilter, ListFormat, is_glob, to_entry};
pub(crate) use public_address::{PublicAddress, is_local_network};
pub(crate) use transfer::{DataEvent, Job, TransferError, TransferHandle, TransferParams, spawn_transfer};

use rand::Rng;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// How the next data connection will be made.
#[derive(Debug)]
pub(crate) enum DataSetup {
    /// `PASV`/`EPSV`: the client connects to this listener.
    Passive(TcpListener),
    /// `PORT`/`EPRT`: the server connects to the client.
    Active(SocketAddr),
}

impl DataSetup {
    /// Opens the data connection. A passive connection from any address but
    /// `peer` is refused and logged (RFC 2577 §8, port stealing); the listener
    /// keeps waiting for the real client until `timeout`. `peer` is `None` for
    /// users allowed FXP.
    pub(crate) async fn connect(
        self,
        local_ip: IpAddr,
        peer: Option<IpAddr>,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        let stream = match self {
            DataSetup::Passive(listener) => tokio::time::timeout(timeout, async {
                loop {
                    let (stream, from) = listener.accept().await?;
                    let Some(peer) = peer else { return Ok::<_, io::Error>(stream) };
                    if same_host(from.ip(), peer) {
                        return Ok(stream);
                    }
                    tracing::warn!(%from, expected = %peer, "refused passive data connection from another address");
                }
            })
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no data connection within the timeout"))??,
            DataSetup::Active(addr) => {
                let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
                if local_ip.is_ipv4() == addr.is_ipv4() {
                    socket.bind(SocketAddr::new(local_ip, 0))?;
                }
                tokio::time::timeout(timeout, socket.connect(addr))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "data connection timed out"))??
            }
        };
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

/// Protects an open data connection when `PROT P` is in force. Clients start
/// the handshake after the 150 reply (curl, ftplib, lftp), so this runs after it.
pub(crate) async fn protect(stream: TcpStream, tls: Option<&DataTls>) -> io::Result<DataStream> {
    {
        let Some(tls) = tls else { return Ok(DataStream::Tcp(stream)) };
        // RFC 4217 §7: the server is the TLS server on data connections, whichever
        // side opened the TCP connection.
        let tls_stream = tokio::time::timeout(tls.handshake_timeout, tls.acceptor.accept(stream))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake on the data connection timed out"))??;
        let resumed = tls_stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        if tls.require_session_reuse && !resumed {
            tracing::warn!(
                "refused a protected data connection that did not resume the control connection's TLS session"
            );
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "TLS session reuse required: the data connection must resume the control connection's TLS session",
            ));
        }
        Ok(DataStream::Tls(Box::new(tls_stream)))
    }
}

/// How to protect a data connection (`PROT P`).
pub(crate) struct DataTls {
    /// The session's acceptor: its cache holds only this session's TLS sessions.
    pub(crate) acceptor: tokio_rustls::TlsAcceptor,
    pub(crate) require_session_reuse: bool,
    pub(crate) handshake_timeout: Duration,
}

/// Compares addresses, treating an IPv4-mapped IPv6 address as its IPv4 form.
pub(crate) fn same_host(a: IpAddr, b: IpAddr) -> bool {
    a.to_canonical() == b.to_canonical()
}

/// Binds a passive listener on `ip`, on a random port of `range` (RFC 2577 §8
/// asks for unpredictable ports), or of the system's ephemeral range when none
/// is configured.
///
/// The port is chosen here rather than by binding port 0: the kernel's own
/// search for a free port walks every port still in TIME_WAIT, and a server
/// that has just sent thousands of small files holds tens of thousands of
/// them (each data connection it closes leaves one). Measured: at 24,000
/// TIME_WAIT sockets a `bind` to port 0 took ~2 ms of kernel time and a
/// session fetching 4 KiB files slowed from 7,500 to 400 files/s; a bind to a
/// chosen port (the listener reuses addresses, so TIME_WAIT does not block
/// it) stays in microseconds.
pub(crate) async fn bind_passive(ip: IpAddr, range: Option<&RangeInclusive<u16>>) -> io::Result<TcpListener> {
    let range = range.unwrap_or_else(|| ephemeral_ports());
    let (lo, hi) = (*range.start(), *range.end());
    let span = u32::from(hi.saturating_sub(lo)) + 1;
    let start = rand::rng().random_range(0..span);
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "passive port range is empty");
    for i in 0..span.min(1000) {
        let port = lo + u16::try_from((start + i) % span).unwrap_or(0);
        match TcpListener::bind(SocketAddr::new(ip, port)).await {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// The system's ephemeral port range (Linux: `net.ipv4.ip_local_port_range`,
/// which applies to IPv6 too), read once; 32768–60999 (Linux's default)
/// where it cannot be read.
fn ephemeral_ports() -> &'static RangeInclusive<u16> {
    static RANGE: std::sync::LazyLock<RangeInclusive<u16>> = std::sync::LazyLock::new(|| {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|text| parse_port_range(&text))
            .unwrap_or(32768..=60999)
    });
    &RANGE
}

/// Parses `ip_local_port_range` ("32768\t60999\n"); `None` unless it is a
/// non-empty range of non-zero ports.
fn parse_port_range(text: &str) -> Option<RangeInclusive<u16>> {
    let mut parts = text.split_whitespace().map(str::parse::<u16>);
    let (lo, hi) = (parts.next()?.ok()?, parts.next()?.ok()?);
    (lo > 0 && lo <= hi).then_some(lo..=hi)
}

/// A connected data channel: plain TCP (downloads of local files in binary
/// mode go out with sendfile, see `zero_copy`) or TLS.
#[derive(Debug)]
pub(crate) enum DataStream {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for DataStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for DataStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            DataStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            DataStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_port_range;

    #[test]
    fn the_ephemeral_range_is_read_from_procfs_text() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some(32768..=60999));
        assert_eq!(parse_port_range("10000 65000"), Some(10000..=65000));
        assert_eq!(parse_port_range("0 65000"), None);
        assert_eq!(parse_port_range("6000 5000"), None);
        assert_eq!(parse_port_range("garbage"), None);
        assert_eq!(parse_port_range(""), None);
    }
}
