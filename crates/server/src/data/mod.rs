//! Data connections: how they are set up (passive or active), the stream that
//! carries them, and the transfer task a session runs on them.

mod listing;
mod public_address;
mod transfer;
#[cfg(target_os = "linux")]
mod zero_copy;
#[cfg(target_os = "linux")]
pub(crate) use zero_copy::{AtOnce, send_at_once};

pub(crate) use listing::{EntryFilter, ListFormat, is_glob, to_entry};
pub(crate) use public_address::{PublicAddress, is_local_network};
pub(crate) use transfer::{
    DataEvent, Job, MinRate, Received, TransferError, TransferHandle, TransferParams, spawn_transfer,
};

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
    Passive(PassiveListener),
    /// `PORT`/`EPRT`: the server connects to the client.
    Active(SocketAddr),
    /// Already open: the session accepted it itself (see
    /// `zero_copy::send_at_once`) and hands the rest of the transfer to the
    /// transfer task.
    Open(std::net::TcpStream),
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
            DataSetup::Passive(listener) => listener.accept(peer, timeout).await?,
            DataSetup::Open(stream) => TcpStream::from_std(stream)?,
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

/// A passive data listener (`PASV`/`EPSV`).
///
/// It is not registered with the runtime until a transfer has to wait for the
/// client: a client connects as soon as it reads the 227/229 reply and sends
/// its transfer command after, so by then the connection is usually queued and
/// [`try_accept`](Self::try_accept) takes it with one `accept4`. A session
/// fetching thousands of small files saves the registration and deregistration
/// of a listener per file (two `epoll_ctl`), and `getsockname`: the port is
/// the one chosen in [`bind_passive`].
#[derive(Debug)]
pub(crate) struct PassiveListener {
    listener: std::net::TcpListener,
    port: u16,
}

impl PassiveListener {
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Takes a waiting connection without blocking: `Ok(None)` if none is
    /// queued. A connection from any address but `peer` is refused and logged
    /// (RFC 2577 §8, port stealing); `peer` is `None` for users allowed FXP.
    /// The stream is non-blocking and not yet registered with the runtime.
    pub(crate) fn try_accept(&self, peer: Option<IpAddr>) -> io::Result<Option<std::net::TcpStream>> {
        use rustix::net::{SocketFlags, acceptfrom_with};
        loop {
            let (fd, from) = match acceptfrom_with(&self.listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
                Ok(accepted) => accepted,
                Err(rustix::io::Errno::AGAIN) => return Ok(None),
                // The connection was reset while queued: take the next one.
                Err(rustix::io::Errno::CONNABORTED) => continue,
                Err(e) => return Err(e.into()),
            };
            if admits(peer, from.and_then(|a| SocketAddr::try_from(a).ok())) {
                return Ok(Some(fd.into()));
            }
        }
    }

    /// Waits up to `timeout` for the client's connection (see [`try_accept`](Self::try_accept)).
    async fn accept(self, peer: Option<IpAddr>, timeout: Duration) -> io::Result<TcpStream> {
        if let Some(stream) = self.try_accept(peer)? {
            return TcpStream::from_std(stream);
        }
        let listener = TcpListener::from_std(self.listener)?;
        tokio::time::timeout(timeout, async {
            loop {
                let (stream, from) = listener.accept().await?;
                if admits(peer, Some(from)) {
                    return Ok::<_, io::Error>(stream);
                }
            }
        })
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no data connection within the timeout"))?
    }
}

/// True if a passive connection from `from` may be used: any when `peer` is
/// `None` (FXP), else only one from `peer`'s host. A refusal is logged.
fn admits(peer: Option<IpAddr>, from: Option<SocketAddr>) -> bool {
    let Some(peer) = peer else { return true };
    if from.is_some_and(|from| same_host(from.ip(), peer)) {
        return true;
    }
    let from = from.map_or_else(|| "unknown".to_string(), |a| a.to_string());
    tracing::warn!(%from, expected = %peer, "refused passive data connection from another address");
    false
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
pub(crate) fn bind_passive(ip: IpAddr, range: Option<&RangeInclusive<u16>>) -> io::Result<PassiveListener> {
    let range = range.unwrap_or_else(|| ephemeral_ports());
    let (lo, hi) = (*range.start(), *range.end());
    let span = u32::from(hi.saturating_sub(lo)) + 1;
    let start = rand::rng().random_range(0..span);
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "passive port range is empty");
    for i in 0..span.min(1000) {
        let port = lo + u16::try_from((start + i) % span).unwrap_or(0);
        match listen_on(SocketAddr::new(ip, port)) {
            Ok(listener) => return Ok(PassiveListener { listener, port }),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// A non-blocking listener on `addr` that reuses addresses (a port whose
/// earlier connections are in TIME_WAIT is free to listen on).
fn listen_on(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType, bind, listen, socket_with, sockopt};
    let family = if addr.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 };
    let fd = socket_with(family, SocketType::STREAM, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC, None)?;
    sockopt::set_socket_reuseaddr(&fd, true)?;
    bind(&fd, &addr)?;
    // One connection is expected; a few more leave room for refused ones.
    listen(&fd, 8)?;
    Ok(fd.into())
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
