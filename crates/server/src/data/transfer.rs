//! The transfer task: one per data connection, controlled by its session.
//!
//! The session spawns it with a [`Job`], gets [`DataEvent`]s back (`Opened`
//! when the connection is up, so the session can send 150; `Done` at the end, so
//! it can send 226 or an error) and can abort it at any moment, which is how
//! `ABOR` works while the session keeps answering commands.

use super::{DataSetup, DataStream, EntryFilter, ListFormat};
use crate::error::StorageError;
use crate::limits::{QuotaCharge, Throttle};
use crate::storage::{DirStream, ReadStream, Upload, read_at};
use ferroftp_proto::ascii;
use ferroftp_proto::{Reply, ReplyCode};
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

/// Bytes moved per read/write on file transfers.
const CHUNK: usize = 256 * 1024;
/// Bytes gathered from the network before each write to storage.
const RECEIVE_CHUNK: usize = 1024 * 1024;
/// Listing bytes gathered before a write.
const LIST_FLUSH: usize = 64 * 1024;

/// What to do once the data connection is open.
pub(crate) enum Job {
    /// `RETR`: file → client. `size` is the file's size when opened; `sent`
    /// counts what already went out on this connection (see `zero_copy::send_at_once`).
    Send { reader: ReadStream, ascii: bool, size: u64, sent: u64 },
    /// `STOR`/`APPE`/`STOU`: client → file, counted against a quota if any.
    Receive { upload: Box<dyn Upload>, ascii: bool, quota: Option<QuotaCharge> },
    /// `LIST`/`NLST`/`MLSD`: listing → client.
    List { entries: DirStream, format: ListFormat, filter: EntryFilter },
}

/// Reports from the transfer task to its session.
#[derive(Debug)]
pub(crate) enum DataEvent {
    /// The data connection is open; the transfer is starting.
    Opened,
    /// The transfer ended: bytes moved, or why it failed.
    Done(Result<u64, TransferError>),
}

/// Why a transfer did not complete. Each maps to one reply.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransferError {
    #[error("cannot open data connection: {0}")]
    Connect(io::Error),
    #[error("data connection lost: {0}")]
    Lost(io::Error),
    #[error("transfer aborted")]
    Aborted,
    #[error(transparent)]
    Storage(StorageError),
    /// The upload reached its quota (the text says which).
    #[error("{0}")]
    Quota(String),
}

impl TransferError {
    pub(crate) fn to_reply(&self) -> Reply {
        match self {
            TransferError::Connect(e) => {
                Reply::new(ReplyCode::CANT_OPEN_DATA, format!("Cannot open data connection: {e}."))
            }
            TransferError::Lost(e) => {
                Reply::new(ReplyCode::TRANSFER_ABORTED, format!("Connection closed; transfer aborted ({e})."))
            }
            TransferError::Aborted => Reply::new(ReplyCode::TRANSFER_ABORTED, "Transfer aborted."),
            TransferError::Storage(e) => e.to_reply(),
            TransferError::Quota(text) => Reply::new(ReplyCode::EXCEEDED_STORAGE, text.clone()),
        }
    }
}

/// The session's side of a running transfer.
pub(crate) struct TransferHandle {
    pub(crate) events: mpsc::Receiver<DataEvent>,
    abort: Option<oneshot::Sender<()>>,
    /// Bytes moved so far (for `STAT` during the transfer).
    pub(crate) progress: Arc<AtomicU64>,
}

impl TransferHandle {
    /// Asks the transfer to stop; it answers with `Done(Err(Aborted))` unless it
    /// had already finished.
    pub(crate) fn abort(&mut self) {
        if let Some(tx) = self.abort.take() {
            let _ = tx.send(());
        }
    }
}

/// Settings of one transfer.
pub(crate) struct TransferParams {
    pub(crate) local_ip: IpAddr,
    /// The only address a passive connection is accepted from (`None`: any, for FXP).
    pub(crate) peer_ip: Option<IpAddr>,
    /// Time allowed to open the data connection.
    pub(crate) connect_timeout: Duration,
    /// Time a transfer may make no progress before it is abandoned.
    pub(crate) stall_timeout: Duration,
    /// The path transferred, for error replies.
    pub(crate) path: String,
    /// Protection of the data connection (`PROT P`).
    pub(crate) tls: Option<super::DataTls>,
    /// Rate limits of the user and the server.
    pub(crate) throttle: Throttle,
}

/// Starts a transfer task.
pub(crate) fn spawn_transfer(setup: DataSetup, job: Job, params: TransferParams) -> TransferHandle {
    let (event_tx, events) = mpsc::channel(2);
    let (abort_tx, mut abort_rx) = oneshot::channel();
    let progress = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&progress);
    tokio::spawn(async move {
        let result = async {
            let stream = tokio::select! {
                r = setup.connect(params.local_ip, params.peer_ip, params.connect_timeout) => r.map_err(TransferError::Connect)?,
                _ = &mut abort_rx => return Err(TransferError::Aborted),
            };
            let _ = event_tx.send(DataEvent::Opened).await;
            let work = async {
                let stream = super::protect(stream, params.tls.as_ref()).await.map_err(TransferError::Connect)?;
                run_job(stream, job, &counter, params.stall_timeout, &params.path, &params.throttle).await
            };
            tokio::select! {
                r = work => r,
                // A dropped sender (the session ended) aborts too.
                _ = &mut abort_rx => Err(TransferError::Aborted),
            }
        }
        .await;
        let _ = event_tx.send(DataEvent::Done(result)).await;
    }
    .in_current_span());
    TransferHandle { events, abort: Some(abort_tx), progress }
}

/// Reads a download in chunks, a local file one chunk ahead of the network so
/// disk reads overlap with sending (and encrypting). Two or three buffers
/// rotate; nothing is allocated per chunk once the transfer runs.
struct ChunkReader {
    source: ReadStream,
    /// The read in flight for a local file.
    ahead: Option<tokio::task::JoinHandle<(Vec<u8>, io::Result<usize>)>>,
    spare: Option<Vec<u8>>,
    ended: bool,
}

impl ChunkReader {
    fn new(source: ReadStream) -> Self {
        let mut r = ChunkReader { source, ahead: None, spare: None, ended: false };
        r.read_ahead(Vec::with_capacity(CHUNK));
        r
    }

    fn read_ahead(&mut self, buf: Vec<u8>) {
        match &self.source {
            ReadStream::File { file, offset } => {
                self.ahead = Some(read_at(Arc::clone(file), *offset, buf, CHUNK));
            }
            ReadStream::Stream(_) => self.spare = Some(buf),
        }
    }

    /// The next chunk, or `None` at the end of the file.
    async fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.ended {
            return Ok(None);
        }
        let (mut buf, n) = match &mut self.source {
            ReadStream::File { offset, .. } => {
                let Some(ahead) = self.ahead.take() else { return Ok(None) };
                let (buf, result) = ahead.await.map_err(io::Error::other)?;
                let n = result?;
                *offset += n as u64;
                (buf, n)
            }
            ReadStream::Stream(_) => {
                let buf = self.spare.take().unwrap_or_default();
                let (buf, result) = self.source.read_chunk(buf, CHUNK).await;
                (buf, result?)
            }
        };
        if n == 0 {
            self.ended = true;
            return Ok(None);
        }
        // A short positional read means the file ended; otherwise read on ahead.
        if matches!(self.source, ReadStream::File { .. }) {
            if n == CHUNK {
                let spare = self.spare.take().unwrap_or_else(|| Vec::with_capacity(CHUNK));
                self.read_ahead(spare);
            } else {
                self.ended = true;
            }
        }
        buf.truncate(n);
        Ok(Some(buf))
    }

    /// Hands a sent chunk's buffer back for reuse.
    fn recycle(&mut self, buf: Vec<u8>) {
        self.spare.get_or_insert(buf);
    }
}

/// Runs one I/O step, failing if it makes no progress within `limit`.
async fn stalled<T>(limit: Duration, f: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "transfer stalled")))
}

async fn run_job(
    mut stream: DataStream,
    job: Job,
    progress: &AtomicU64,
    stall: Duration,
    path: &str,
    throttle: &Throttle,
) -> Result<u64, TransferError> {
    let disk_error = |e: io::Error| TransferError::Storage(StorageError::io(e, path));
    match job {
        Job::Send { reader, ascii, size: _, sent } => {
            // Binary, plain TCP, a local file: straight from the page cache.
            #[cfg(target_os = "linux")]
            if let (false, DataStream::Tcp(tcp), ReadStream::File { file, offset }) = (ascii, &stream, &reader) {
                let total =
                    super::zero_copy::send_file(tcp, file, *offset, sent, progress, stall, throttle, path).await?;
                stalled(stall, stream.shutdown()).await.map_err(TransferError::Lost)?;
                return Ok(total);
            }
            let mut chunks = ChunkReader::new(reader);
            let mut encoded = Vec::new();
            let mut encoder = ascii::Encoder::new();
            let mut total = sent;
            while let Some(chunk) = chunks.next().await.map_err(disk_error)? {
                let out = if ascii {
                    encoded.clear();
                    encoder.encode(&chunk, &mut encoded);
                    &encoded[..]
                } else {
                    &chunk[..]
                };
                if throttle.is_unlimited() {
                    stalled(stall, stream.write_all(out)).await.map_err(TransferError::Lost)?;
                    total += out.len() as u64;
                } else {
                    for piece in out.chunks(throttle.chunk()) {
                        throttle.take(piece.len()).await;
                        stalled(stall, stream.write_all(piece)).await.map_err(TransferError::Lost)?;
                        total += piece.len() as u64;
                        progress.store(total, Ordering::Relaxed);
                    }
                }
                progress.store(total, Ordering::Relaxed);
                chunks.recycle(chunk);
            }
            stalled(stall, stream.shutdown()).await.map_err(TransferError::Lost)?;
            Ok(total)
        }
        Job::Receive { mut upload, ascii, mut quota } => {
            // Two buffers take turns: the network fills one while storage
            // writes the other.
            let mut buf = vec![0u8; RECEIVE_CHUNK.min(throttle.chunk())];
            let mut decoded = Vec::new();
            let mut decoder = ascii::Decoder::new();
            let mut total = 0u64;
            loop {
                // Gather a large block before each disk write: every write is a trip
                // to the blocking pool, socket reads are small.
                let mut n = 0;
                while n < buf.len() {
                    let got = match stalled(stall, stream.read(&mut buf[n..])).await {
                        Ok(got) => got,
                        // TLS closed by TCP FIN without close_notify: curl and FileZilla
                        // end uploads this way, so it is the end of the file. A reset or
                        // a stall is not (those are `Lost`, never 226).
                        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                            tracing::debug!("data connection closed without TLS close_notify");
                            0
                        }
                        Err(e) => return Err(TransferError::Lost(e)),
                    };
                    if got == 0 {
                        break;
                    }
                    throttle.take(got).await;
                    n += got;
                    progress.store(total + n as u64, Ordering::Relaxed);
                }
                if n == 0 {
                    break;
                }
                total += n as u64;
                progress.store(total, Ordering::Relaxed);
                if ascii {
                    // TYPE A decodes into a buffer of its own, handed over likewise.
                    decoded.clear();
                    decoder.decode(&buf[..n], &mut decoded);
                    if let Some(q) = &mut quota {
                        q.charge(decoded.len() as u64).map_err(TransferError::Quota)?;
                    }
                    let len = decoded.len();
                    decoded = upload.write(std::mem::take(&mut decoded), len).await.map_err(disk_error)?;
                } else {
                    if let Some(q) = &mut quota {
                        q.charge(n as u64).map_err(TransferError::Quota)?;
                    }
                    buf = upload.write(buf, n).await.map_err(disk_error)?;
                }
            }
            if ascii {
                decoded.clear();
                decoder.finish(&mut decoded);
                if let Some(q) = &mut quota {
                    q.charge(decoded.len() as u64).map_err(TransferError::Quota)?;
                }
                let len = decoded.len();
                upload.write(decoded, len).await.map_err(disk_error)?;
            }
            upload.commit().await.map_err(TransferError::Storage)?;
            if let Some(q) = quota {
                q.commit();
            }
            // Answer the client's close_notify with ours (ftplib's unwrap() waits for
            // it); the file is already complete, so a failure here changes nothing.
            let _ = tokio::time::timeout(stall, stream.shutdown()).await;
            Ok(total)
        }
        Job::List { mut entries, format, filter } => {
            let now = SystemTime::now();
            let mut out = Vec::with_capacity(LIST_FLUSH + 1024);
            let mut total = 0u64;
            while let Some(entry) = entries.recv().await {
                let entry = entry.map_err(TransferError::Storage)?;
                if !filter.accepts(&entry.name) {
                    continue;
                }
                format.write_line(&entry, now, &mut out);
                if out.len() >= LIST_FLUSH {
                    stalled(stall, stream.write_all(&out)).await.map_err(TransferError::Lost)?;
                    total += out.len() as u64;
                    progress.store(total, Ordering::Relaxed);
                    out.clear();
                }
            }
            stalled(stall, stream.write_all(&out)).await.map_err(TransferError::Lost)?;
            total += out.len() as u64;
            stalled(stall, stream.shutdown()).await.map_err(TransferError::Lost)?;
            Ok(total)
        }
    }
}
