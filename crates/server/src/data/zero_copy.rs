//! Zero-copy downloads: `RETR` of a local file in binary stream mode over a
//! plain TCP data connection goes from the page cache to the socket with
//! sendfile(2), never through a user-space buffer.
//!
//! The socket is non-blocking; tokio's readiness tells when it can take more,
//! so a slow client parks the task, not a thread. Each call hands the kernel as
//! much as the socket buffer takes. A file that is not in the page cache is
//! read by the kernel inside the call, as vsftpd, pure-ftpd and ProFTPD do;
//! those reads are sequential and the kernel's readahead keeps them short.

use super::transfer::TransferError;
use crate::error::StorageError;
use crate::limits::Throttle;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::Interest;
use tokio::net::TcpStream;

/// The most one sendfile call is asked to send; the kernel sends what the
/// socket buffer takes and says how much.
const MAX_CALL: usize = 64 * 1024 * 1024;

/// Sends `file` from `offset` to its end. Returns the bytes sent.
pub(super) async fn send_file(
    tcp: &TcpStream,
    file: &File,
    mut offset: u64,
    progress: &AtomicU64,
    stall: Duration,
    throttle: &Throttle,
    path: &str,
) -> Result<u64, TransferError> {
    let mut total = 0u64;
    loop {
        let count = if throttle.is_unlimited() { MAX_CALL } else { throttle.chunk() };
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
