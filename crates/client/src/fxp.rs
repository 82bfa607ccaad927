//! Server-to-server copies (FXP, RFC 959 §2.3 figure 2 and §5.2): the source
//! server listens (`PASV`), the destination connects to it (`PORT`), and
//! `STOR`/`RETR` run in step, so the file never passes through the client.
//!
//! Servers protect themselves against FTP bounce (RFC 2577 §3) by refusing a
//! `PORT` to a host other than the client, and refuse passive connections
//! from other hosts; such a server makes FXP impossible. Then the copy is
//! streamed through the client instead, and [`FxpOutcome::Streamed`] says why.

use crate::error::{ClientError, Result};
use crate::session::{Session, TransferType, reply_error};
use crate::transfer::StoreMode;
use ferroftp_proto::hostport::{format_port, parse_pasv_reply};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};

/// How a copy went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FxpOutcome {
    /// Directly between the servers.
    Direct,
    /// Through the client, because direct transfer was refused for this reason.
    Streamed { reason: String },
}

/// The longest a direct transfer may run without either server answering.
const DIRECT_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

/// Copies `src_path` on `src` to `dst_path` on `dst`, directly if the servers
/// allow it, else through the client. `progress` sees bytes copied (for a
/// direct copy, once at the end).
pub async fn copy(
    src: &mut Session,
    src_path: &str,
    dst: &mut Session,
    dst_path: &str,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<FxpOutcome> {
    src.set_type(TransferType::Binary).await?;
    dst.set_type(TransferType::Binary).await?;
    match copy_direct(src, src_path, dst, dst_path).await? {
        Ok(()) => {
            if let Ok(size) = dst.size(dst_path).await {
                progress(size);
            }
            Ok(FxpOutcome::Direct)
        }
        Err(reason) => {
            stream(src, src_path, dst, dst_path, progress).await?;
            Ok(FxpOutcome::Streamed { reason })
        }
    }
}

/// The direct copy only. The outer error is a failure of the copy itself;
/// the inner one says why the servers refused a direct transfer (after which
/// [`copy`] streams instead). Both sessions must be in binary type.
pub async fn copy_direct(
    src: &mut Session,
    src_path: &str,
    dst: &mut Session,
    dst_path: &str,
) -> Result<std::result::Result<(), String>> {
    if src.tls().1 || dst.tls().1 {
        return Ok(Err("the data connections are TLS-protected (PROT P), which server-to-server transfer cannot \
                       keep"
            .into()));
    }
    let reply = src.quote("PASV").await?;
    if reply.code.0 != 227 {
        return Ok(Err(format!("the source refused PASV: {} {}", reply.code, reply.text())));
    }
    let addr = match parse_pasv_reply(&reply.text()) {
        Ok(addr) => addr,
        Err(e) => return Ok(Err(format!("the source's PASV reply: {e}"))),
    };
    let reply = dst.quote(&format!("PORT {}", format_port(addr))).await?;
    if reply.code.0 != 200 {
        return Ok(Err(format!("the destination refused PORT {addr}: {} {}", reply.code, reply.text())));
    }
    // STOR first: the destination connects to the source's listener (which
    // accepts before RETR) and says 150; only then does the source send.
    let stor = format!("STOR {dst_path}");
    let dst_first = dst.control.command(&stor).await?;
    if !matches!(dst_first.code.0, 125 | 150) {
        // The source's listener is left unused; its next PASV replaces it.
        if matches!(dst_first.code.0, 425 | 426) {
            return Ok(Err(format!("the destination could not connect to the source: {dst_first}")));
        }
        return Err(reply_error(&stor, &dst_first));
    }
    let retr = format!("RETR {src_path}");
    let src_first = src.control.command(&retr).await?;
    if !matches!(src_first.code.0, 125 | 150) {
        // A refused RETR is the file's problem (550), not FXP's.
        dst.abort(None).await;
        return Err(reply_error(&retr, &src_first));
    }
    let (src_timeout, dst_timeout) = (src.timeout, dst.timeout);
    src.control.set_timeout(DIRECT_TIMEOUT);
    dst.control.set_timeout(DIRECT_TIMEOUT);
    let (src_end, dst_end) = tokio::join!(src.control.reply(), dst.control.reply());
    src.control.set_timeout(src_timeout);
    dst.control.set_timeout(dst_timeout);
    let (src_end, dst_end) = (src_end?, dst_end?);
    if !matches!(src_end.code.0, 226 | 250) {
        return Err(reply_error(&retr, &src_end));
    }
    if !matches!(dst_end.code.0, 226 | 250) {
        return Err(reply_error(&stor, &dst_end));
    }
    Ok(Ok(()))
}

/// Streams through the client: `RETR` on one session feeds `STOR` on the
/// other. If the download fails, the upload fails too (its data connection is
/// aborted, not closed), so the destination never holds a short file that
/// looks complete.
async fn stream(
    src: &mut Session,
    src_path: &str,
    dst: &mut Session,
    dst_path: &str,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<u64> {
    let (mut writer, reader) = tokio::io::duplex(1 << 20);
    let failed = Arc::new(AtomicBool::new(false));
    let mut reader = FailOnEof { inner: reader, failed: failed.clone() };
    let download = async {
        let result = src.retrieve(src_path, 0, &mut writer, &mut |_| {}).await;
        if result.is_err() {
            failed.store(true, Ordering::SeqCst);
        }
        drop(writer);
        result
    };
    let upload = dst.store(dst_path, StoreMode::Replace, &mut reader, progress);
    let (down, up) = tokio::join!(download, upload);
    let received = down?;
    let sent = up?;
    if received != sent {
        return Err(ClientError::Verify {
            path: dst_path.to_string(),
            detail: format!("received {received} bytes but sent {sent}"),
        });
    }
    Ok(sent)
}

/// A reader whose end is an error when the writer side failed.
struct FailOnEof<R> {
    inner: R,
    failed: Arc<AtomicBool>,
}

impl<R: AsyncRead + Unpin> AsyncRead for FailOnEof<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled
            && buf.filled().len() == before
            && self.failed.load(Ordering::SeqCst)
        {
            return Poll::Ready(Err(io::Error::other("the download from the source failed")));
        }
        polled
    }
}
