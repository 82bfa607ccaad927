//! Zero-copy downloads: `RETR` of a local file in binary stream mode over a
//! plain TCP data connection goes from the page cache to the socket with
//! sendfile(2), never through a user-space buffer.
//!
//! The socket is non-blocking; tokio's readiness tells when it can take more,
//! so a slow client parks the task, not a thread. Each call hands the kernel as
//! much as the socket buffer takes. A file that is not in the page cache is
//! read by the kernel inside the call, as vsftpd, pure-ftpd and ProFTPD do;
//! those reads are sequential and the kernel's readahead keeps them short.

use super::DataSetup;
use super::transfer::{Job, Pace, TransferError};
use crate::error::StorageError;
use crate::limits::Throttle;
use crate::storage::ReadStream;
use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// The most one sendfile call is asked to send; the kernel sends what the
/// socket buffer takes and says how much.
const MAX_CALL: usize = 64 * 1024 * 1024;

/// Sends `file` from `offset` to its end. Returns the bytes sent, counting
/// from `sent` (what already went out on this connection).
#[allow(clippy::too_many_arguments)] // one transfer's state, used once
pub(super) async fn send_file(
    tcp: &TcpStream,
    file: &File,
    mut offset: u64,
    sent: u64,
    progress: &AtomicU64,
    stall: Duration,
    pace: &mut Pace,
    throttle: &Throttle,
    path: &str,
) -> Result<u64, TransferError> {
    let mut total = sent;
    loop {
        let count = if throttle.is_unlimited() { MAX_CALL } else { throttle.chunk() };
        let started = tokio::time::Instant::now();
        let sent = tokio::time::timeout(stall, async {
            loop {
                tcp.writable().await?;
                let sent = tcp.try_io(Interest::WRITABLE, || {
                    rustix::fs::sendfile(tcp, file, Some(&mut offset), count).map_err(io::Error::from)
                });
                match sent {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    other => return other,
                }
            }
        })
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "transfer stalled")))
        .map_err(|e| {
            // EIO comes from the disk; everything else from the connection.
            if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) {
                TransferError::Storage(StorageError::io(e, path))
            } else {
                TransferError::Lost(e)
            }
        })?;
        pace.step(started, sent as u64)?;
        if sent == 0 {
            return Ok(total);
        }
        total += sent as u64;
        progress.store(total, Ordering::Relaxed);
        if !throttle.is_unlimited() {
            throttle.take(sent).await;
        }
    }
}

/// The largest rest of a file the session sends itself (see [`send_at_once`]).
const AT_ONCE_MAX: u64 = 256 * 1024;

/// What [`send_at_once`] did.
pub(crate) enum AtOnce {
    /// The whole rest of the file went out and the data connection is closed.
    Sent(u64),
    /// The transfer goes on in a transfer task: from `setup` (the listener, or
    /// the connection now open), with `job` counting what was `sent` already.
    Rest { setup: DataSetup, job: Job },
}

/// Sends a small download from the session itself, without a transfer task.
///
/// A client fetching many small files connects to the passive port as soon as
/// it reads the 227/229 reply and sends `RETR` after, so when `RETR` arrives
/// the connection is queued and the file fits in the socket buffer: one
/// `accept4`, one `sendfile` and the close finish it, and 150 and 226 leave
/// together. Nothing here waits: when the connection is not there yet, the
/// socket buffer is full or a call fails, the rest is handed to a transfer
/// task, which waits, sends on and reports errors as for any transfer. A
/// larger file, TYPE A, TLS, another storage or a rate limit go to the task
/// from the start.
///
/// Measured (2,000 × 4 KiB in one session, loopback): per file, one task
/// spawn, two channel messages and the registration and deregistration of
/// two sockets with epoll saved.
pub(crate) fn send_at_once(setup: DataSetup, mut job: Job, peer: Option<IpAddr>) -> AtOnce {
    let Job::Send { reader: ReadStream::File { file, offset }, ascii: false, size, sent } = &mut job else {
        return AtOnce::Rest { setup, job };
    };
    let remaining = size.saturating_sub(*offset);
    let DataSetup::Passive(listener) = &setup else { return AtOnce::Rest { setup, job } };
    if remaining > AT_ONCE_MAX {
        return AtOnce::Rest { setup, job };
    }
    let stream = match listener.try_accept(peer) {
        Ok(Some(stream)) => stream,
        // Not connected yet, or an error the task reports.
        Ok(None) | Err(_) => return AtOnce::Rest { setup, job },
    };
    let mut done = 0u64;
    while done < remaining {
        let count = usize::try_from(remaining - done).unwrap_or(usize::MAX);
        match rustix::fs::sendfile(&stream, &**file, Some(offset), count) {
            // The file shrank since it was opened: what is there is sent.
            Ok(0) => break,
            Ok(n) => {
                done += n as u64;
                *sent += n as u64;
            }
            // Full socket buffer (EAGAIN) or an error: the task waits, or reports it.
            Err(_) => return AtOnce::Rest { setup: DataSetup::Open(stream), job },
        }
    }
    AtOnce::Sent(*sent)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
    use super::*;
    use crate::data::{DataEvent, TransferParams, bind_passive, spawn_transfer};
    use std::io::{Read, Write};
    use std::sync::Arc;

    fn params() -> TransferParams {
        TransferParams {
            local_ip: "127.0.0.1".parse().unwrap(),
            peer_ip: None,
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            path: "/f.bin".into(),
            tls: None,
            throttle: Throttle::default(),
            min_rate: crate::data::MinRate { bytes_per_second: 1024, window: Duration::from_secs(60) },
        }
    }

    /// A file that does not fit in the socket's send buffer: the session sends
    /// what fits, the transfer task the rest from the same offset, and the
    /// count covers both.
    #[tokio::test]
    async fn a_partial_send_is_finished_by_the_transfer_task() {
        let data: Vec<u8> = (0..200 * 1024 + 5).map(|i: u32| (i * 31 % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&data).unwrap();
        let listener = bind_passive("127.0.0.1".parse().unwrap(), None).unwrap();
        // Accepted sockets inherit a send buffer set (and locked) on the listener.
        socket2::SockRef::from(&listener.listener).set_send_buffer_size(4096).unwrap();
        let port = listener.port();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let job = Job::Send {
            reader: ReadStream::File { file: Arc::new(file), offset: 3 },
            ascii: false,
            size: data.len() as u64,
            sent: 0,
        };
        let AtOnce::Rest { setup, job } = send_at_once(DataSetup::Passive(listener), job, None) else {
            panic!("200 KiB went into a 4 KiB send buffer at once");
        };
        let (DataSetup::Open(_), Job::Send { sent, .. }) = (&setup, &job) else { panic!("not handed on open") };
        assert!(*sent > 0 && *sent < data.len() as u64 - 3, "sent {sent} at once");
        let mut handle = spawn_transfer(setup, job, params());
        let reader = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            let mut client = client;
            client.read_to_end(&mut got).unwrap();
            got
        });
        assert!(matches!(handle.events.recv().await, Some(DataEvent::Opened)));
        let Some(DataEvent::Done(Ok(total))) = handle.events.recv().await else { panic!("transfer failed") };
        assert_eq!(total, data.len() as u64 - 3);
        assert!(reader.await.unwrap() == data[3..]);
    }

    /// When the client has not connected yet, nothing is sent and the listener
    /// is handed on unchanged.
    #[tokio::test]
    async fn without_a_connection_the_listener_is_handed_on() {
        let file = tempfile::tempfile().unwrap();
        let listener = bind_passive("127.0.0.1".parse().unwrap(), None).unwrap();
        let port = listener.port();
        let job =
            Job::Send { reader: ReadStream::File { file: Arc::new(file), offset: 0 }, ascii: false, size: 0, sent: 0 };
        let AtOnce::Rest { setup: DataSetup::Passive(l), job: Job::Send { sent: 0, .. } } =
            send_at_once(DataSetup::Passive(listener), job, None)
        else {
            panic!("sent without a connection");
        };
        assert_eq!(l.port(), port);
    }
}
