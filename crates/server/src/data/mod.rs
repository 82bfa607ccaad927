//! Data connections: how they are set up (passive or active), the stream that
//! carries them, and the transfer task a session runs on them.

mod listing;
mod public_address;
mod transfer;
#[cfg(target_os = "linux")]
mod zero_copy;

pub(crate) use listing::{EntryFilter, ListFormat, is_glob, to_entry};
pub(crate) use public_address::{PublicAddress, is_local_network};
pub(crate) use transfer::{DataEvent, Job, TransferHandle, TransferParams, spawn_transfer};

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
/// asks for unpredictable ports) or on any free port when there is no range.
pub(crate) async fn bind_passive(ip: IpAddr, range: Option<&RangeInclusive<u16>>) -> io::Result<TcpListener> {
    let Some(range) = range else {
        return TcpListener::bind(SocketAddr::new(ip, 0)).await;
    };
    let (lo, hi) = (*range.start(), *range.end());
    let span = u32::from(hi - lo) + 1;
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
