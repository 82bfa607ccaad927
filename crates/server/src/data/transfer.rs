//! The transfer task: one per data connection, controlled by its session.
//!
//! The session spawns it with a [`Job`], gets [`DataEvent`]s back (`Opened`
//! when the connection is up, so the session can send 150; `Done` at the end, so
//! it can send 226 or an error) and can abort it at any moment, which is how
//! `ABOR` works while the session keeps answering commands.

use super::{DataSetup, DataStream, EntryFilter, ListFormat};
use crate::error::StorageError;
use crate::limits::{QuotaCharge, Throttle};
use crate::storage::{DirStream, Ended, FileIdentity, ReadStream, Upload, read_at};
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
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Bytes moved per read/write on file transfers.
const CHUNK: usize = 256 * 1024;
/// Bytes gathered from the network before each write to storage: an upload
/// starts with the small size and doubles it each time a block fills, up to
/// the large one. Small and slow uploads (most of a busy server's) never
/// hold more than the small buffers; fast ones reach the large size within a
/// few blocks.
const RECEIVE_FIRST: usize = 16 * 1024;
const RECEIVE_CHUNK: usize = 1024 * 1024;
/// How long a block may wait for more bytes before it is written anyway: a
/// slow upload still reaches the disk (and can be resumed from there) within
/// this, a fast one fills its block long before.
const GATHER_WAIT: Duration = Duration::from_millis(50);
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
    /// An upload's data connection ended and the data is flushed: the
    /// session answers whether the client is still there (its control
    /// connection open, or closed only after `QUIT`). A client killed
    /// mid-upload closes both connections, and the end of the data
    /// connection then only looks like the end of the file.
    Received(Received),
    /// The transfer ended: bytes moved, or why it failed.
    Done(Result<u64, TransferError>),
}

/// An upload asking whether to give its file its name (see
/// [`DataEvent::Received`]).
#[derive(Debug)]
pub(crate) struct Received {
    /// Answered `true` if the client is still there.
    pub answer: oneshot::Sender<bool>,
    /// The identity the file will have under its name (see
    /// [`Upload::identity`]), so that the session knows the file it stored
    /// without looking it up after the rename, when another session may have
    /// replaced it.
    pub file: Option<FileIdentity>,
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
    /// The client closed its control connection before the upload ended:
    /// the data connection's end was not the end of the file.
    #[error("the client's control connection closed before the upload ended")]
    ClientGone,
    /// Fewer than the minimum bytes per second over the window.
    #[error("transfer slower than {rate} bytes/s over {window:?}")]
    TooSlow { rate: u64, window: Duration },
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
            TransferError::ClientGone => Reply::new(
                ReplyCode::TRANSFER_ABORTED,
                "Control connection closed during the upload; the upload was not stored (what arrived is kept to resume).",
            ),
            TransferError::TooSlow { rate, window } => Reply::new(
                ReplyCode::TRANSFER_ABORTED,
                format!(
                    "Transfer too slow: under {} per second over {} seconds; aborted.",
                    crate::config::values::format_bytes(*rate),
                    window.as_secs()
                ),
            ),
        }
    }
}

/// The session's side of a running transfer.
pub(crate) struct TransferHandle {
    pub(crate) events: mpsc::Receiver<DataEvent>,
    abort: CancellationToken,
    /// Bytes moved so far (for `STAT` during the transfer).
    pub(crate) progress: Arc<AtomicU64>,
}

impl TransferHandle {
    /// Asks the transfer to stop; it answers with `Done(Err(Aborted))` unless it
    /// had already finished.
    pub(crate) fn abort(&mut self) {
        self.abort.cancel();
    }
}

impl Drop for TransferHandle {
    /// The session ended: its transfer ends too.
    fn drop(&mut self) {
        self.abort.cancel();
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
    /// The slowest the transfer may go.
    pub(crate) min_rate: MinRate,
}

/// The slowest a transfer may go: `bytes_per_second` over `window` of time
/// spent waiting for the network (a zero window turns the check off). Time
/// spent waiting for a speed limit does not count, so a rate-limited transfer
/// is never too slow because of its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MinRate {
    pub(crate) bytes_per_second: u64,
    pub(crate) window: Duration,
}

/// Tracks a transfer's pace against its [`MinRate`].
pub(crate) struct Pace {
    min: MinRate,
    /// Network waiting time and bytes moved in the current window.
    waited: Duration,
    moved: u64,
    /// Found too slow by a read that still had bytes to hand over.
    failure: Option<TransferError>,
}

impl Pace {
    pub(crate) fn new(min: MinRate) -> Self {
        Pace { min, waited: Duration::ZERO, moved: 0, failure: None }
    }

    /// Network time left in the current window, when there is a minimum.
    fn remaining(&self) -> Option<Duration> {
        (!self.min.window.is_zero() && self.min.bytes_per_second > 0)
            .then(|| self.min.window.saturating_sub(self.waited))
    }

    /// Records a network step that started at `started` and moved `bytes`;
    /// fails when a whole window has passed with too few bytes moved.
    pub(crate) fn step(&mut self, started: tokio::time::Instant, bytes: u64) -> Result<(), TransferError> {
        if self.min.window.is_zero() || self.min.bytes_per_second == 0 {
            return Ok(());
        }
        self.waited += started.elapsed();
        self.moved += bytes;
        if self.waited < self.min.window {
            return Ok(());
        }
        let needed = self.min.bytes_per_second as f64 * self.waited.as_secs_f64();
        if (self.moved as f64) < needed {
            return Err(TransferError::TooSlow { rate: self.min.bytes_per_second, window: self.min.window });
        }
        self.waited = Duration::ZERO;
        self.moved = 0;
        Ok(())
    }
}

/// Starts a transfer task.
pub(crate) fn spawn_transfer(setup: DataSetup, job: Job, params: TransferParams) -> TransferHandle {
    let (event_tx, events) = mpsc::channel(2);
    let abort = CancellationToken::new();
    let aborted = abort.clone();
    let progress = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&progress);
    tokio::spawn(async move {
        let result = async {
            let stream = tokio::select! {
                r = setup.connect(params.local_ip, params.peer_ip, params.connect_timeout) => r.map_err(TransferError::Connect)?,
                _ = aborted.cancelled() => return Err(TransferError::Aborted),
            };
            let _ = event_tx.send(DataEvent::Opened).await;
            let stream = tokio::select! {
                r = super::protect(stream, params.tls.as_ref()) => r.map_err(TransferError::Connect)?,
                _ = aborted.cancelled() => return Err(TransferError::Aborted),
            };
            // An upload stops itself when aborted, so that what arrived is
            // written and put away before the session replies; the others
            // are simply dropped.
            if matches!(job, Job::Receive { .. }) {
                return run_job(stream, job, &counter, &params, &event_tx, &aborted).await;
            }
            tokio::select! {
                r = run_job(stream, job, &counter, &params, &event_tx, &aborted) => r,
                _ = aborted.cancelled() => Err(TransferError::Aborted),
            }
        }
        .await;
        let _ = event_tx.send(DataEvent::Done(result)).await;
    }
    .in_current_span());
    TransferHandle { events, abort, progress }
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

/// Writes all of `out`, one write at a time, each under the stall timeout
/// and counted towards the pace: a slow reader that keeps reading is slow,
/// not stalled (a whole block under one timeout would cut off a client at
/// 1 KiB/s after the stall timeout, though it is above the minimum rate).
async fn write_paced(
    stream: &mut DataStream,
    out: &[u8],
    stall: Duration,
    pace: &mut Pace,
) -> Result<(), TransferError> {
    let mut done = 0;
    while done < out.len() {
        let started = tokio::time::Instant::now();
        let n = stalled(stall, stream.write(&out[done..])).await.map_err(TransferError::Lost)?;
        if n == 0 {
            return Err(TransferError::Lost(io::Error::from(io::ErrorKind::WriteZero)));
        }
        pace.step(started, n as u64)?;
        done += n;
    }
    Ok(())
}

async fn run_job(
    mut stream: DataStream,
    job: Job,
    progress: &AtomicU64,
    params: &TransferParams,
    events: &mpsc::Sender<DataEvent>,
    aborted: &CancellationToken,
) -> Result<u64, TransferError> {
    let (stall, path, throttle) = (params.stall_timeout, params.path.as_str(), &params.throttle);
    let mut pace = Pace::new(params.min_rate);
    let disk_error = |e: io::Error| TransferError::Storage(StorageError::io(e, path));
    match job {
        Job::Send { reader, ascii, size: _, sent } => {
            // Binary, plain TCP, a local file: straight from the page cache.
            #[cfg(target_os = "linux")]
            if let (false, DataStream::Tcp(tcp), ReadStream::File { file, offset }) = (ascii, &stream, &reader) {
                let total =
                    super::zero_copy::send_file(tcp, file, *offset, sent, progress, stall, &mut pace, throttle, path)
                        .await?;
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
                    write_paced(&mut stream, out, stall, &mut pace).await?;
                    total += out.len() as u64;
                } else {
                    for piece in out.chunks(throttle.chunk()) {
                        throttle.take(piece.len()).await;
                        write_paced(&mut stream, piece, stall, &mut pace).await?;
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
            let received = receive(
                &mut stream,
                upload.as_mut(),
                ascii,
                &mut quota,
                progress,
                (stall, &mut pace, throttle, aborted),
                path,
            )
            .await;
            let total = match received {
                Ok(total) => total,
                Err(e) => return Err(end_upload(upload, quota, e).await),
            };
            if let Err(e) = upload.flush().await {
                return Err(end_upload(upload, quota, TransferError::Storage(e)).await);
            }
            // The end of the data connection is the end of the file only if
            // the client is still there to hear about it.
            let (answer, still_there) = oneshot::channel();
            let asked = events.send(DataEvent::Received(Received { answer, file: upload.identity() })).await.is_ok();
            if !asked || !still_there.await.unwrap_or(false) {
                tracing::info!(path, bytes = total, "upload not stored: the client left before its end");
                return Err(end_upload(upload, quota, TransferError::ClientGone).await);
            }
            match upload.commit().await {
                Ok(()) => {}
                Err(e) => {
                    // A name taken meanwhile: the staged data is gone.
                    if let Some(q) = quota.filter(|_| e.kind == crate::error::StorageErrorKind::NameTaken) {
                        q.discard_all();
                    }
                    return Err(TransferError::Storage(e));
                }
            }
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
                    write_paced(&mut stream, &out, stall, &mut pace).await?;
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

/// Receives an upload into `upload` until the client closes the data
/// connection; returns the bytes received. On a failure, what was received
/// before it is written first (so an interrupted upload keeps it).
async fn receive(
    stream: &mut DataStream,
    upload: &mut dyn Upload,
    ascii: bool,
    quota: &mut Option<QuotaCharge>,
    progress: &AtomicU64,
    (stall, pace, throttle, aborted): (Duration, &mut Pace, &Throttle, &CancellationToken),
    path: &str,
) -> Result<u64, TransferError> {
    let disk_error = |e: io::Error| TransferError::Storage(StorageError::io(e, path));
    let largest = RECEIVE_CHUNK.min(throttle.chunk());
    let mut size = RECEIVE_FIRST.min(largest);
    // Two buffers take turns: the network fills one while storage writes the other.
    let mut buf = vec![0u8; size];
    let mut decoded = Vec::new();
    let mut decoder = ascii::Decoder::new();
    let mut total = 0u64;
    loop {
        // Gather a block before each disk write: every write is a trip to the
        // blocking pool, socket reads are small.
        let mut n = 0;
        let mut failure = None;
        let gather_started = tokio::time::Instant::now();
        while n < buf.len() {
            let flush_at = (n > 0).then_some(gather_started + GATHER_WAIT);
            let read = tokio::select! {
                r = read_paced(stream, &mut buf[n..], stall, pace, flush_at) => r,
                _ = aborted.cancelled() => Err(TransferError::Aborted),
            };
            let got = match read {
                Ok(Some(got)) => got,
                // The block waited long enough: written with what it has.
                Ok(None) => break,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            if got == 0 {
                break;
            }
            n += got;
            tokio::select! {
                () = throttle.take(got) => {}
                _ = aborted.cancelled() => {
                    failure = Some(TransferError::Aborted);
                    break;
                }
            }
            progress.store(total + n as u64, Ordering::Relaxed);
        }
        if n == 0 {
            if let Some(e) = failure {
                return Err(e);
            }
            break;
        }
        let filled = n == buf.len();
        total += n as u64;
        progress.store(total, Ordering::Relaxed);
        if ascii {
            // TYPE A decodes into a buffer of its own, handed over likewise.
            decoded.clear();
            decoder.decode(&buf[..n], &mut decoded);
            if let Some(q) = quota {
                q.charge(decoded.len() as u64).map_err(TransferError::Quota)?;
            }
            let len = decoded.len();
            decoded = upload.write(std::mem::take(&mut decoded), len).await.map_err(disk_error)?;
        } else {
            if let Some(q) = quota {
                q.charge(n as u64).map_err(TransferError::Quota)?;
            }
            buf = upload.write(buf, n).await.map_err(disk_error)?;
        }
        if let Some(e) = failure {
            return Err(e);
        }
        // A block that filled up: the data comes fast, take more at a time.
        // One that did not: it slowed down, give the memory back (a slow
        // upload holds small buffers, whatever its start was).
        if filled && size < largest {
            size = (size * 2).min(largest);
        } else if !filled && size > RECEIVE_FIRST {
            size = (size / 2).max(RECEIVE_FIRST);
        }
        if buf.len() != size {
            buf.resize(size, 0);
            buf.shrink_to_fit();
        }
        if decoded.capacity() > 2 * size {
            decoded = Vec::with_capacity(size);
        }
    }
    if ascii {
        decoded.clear();
        decoder.finish(&mut decoded);
        if let Some(q) = quota {
            q.charge(decoded.len() as u64).map_err(TransferError::Quota)?;
        }
        let len = decoded.len();
        upload.write(decoded, len).await.map_err(disk_error)?;
    }
    Ok(total)
}

/// Reads once, failing after `stall` without a byte, or as soon as a window
/// of network time passes with fewer bytes than the pace needs: a client that
/// sends a byte and then nothing is cut off at the end of the window, not
/// when its next byte arrives. The end of the stream is `Ok(Some(0))`;
/// `Ok(None)` means `flush_at` came first.
async fn read_paced(
    stream: &mut DataStream,
    buf: &mut [u8],
    stall: Duration,
    pace: &mut Pace,
    flush_at: Option<tokio::time::Instant>,
) -> Result<Option<usize>, TransferError> {
    if let Some(e) = pace.failure.take() {
        return Err(e);
    }
    let stalled_at = tokio::time::Instant::now() + stall;
    loop {
        let started = tokio::time::Instant::now();
        let mut limit = pace.remaining().map_or(stalled_at, |left| (started + left).min(stalled_at));
        if let Some(flush) = flush_at {
            limit = limit.min(flush);
        }
        // A read of a socket or a TLS stream can be given up and started again
        // without losing bytes.
        match tokio::time::timeout_at(limit, stream.read(buf)).await {
            Ok(Ok(n)) => {
                // Too slow, but these bytes are handed over first (and kept).
                if let Err(e) = pace.step(started, n as u64) {
                    pace.failure = Some(e);
                }
                return Ok(Some(n));
            }
            // TLS closed by TCP FIN without close_notify: curl and FileZilla
            // end uploads this way, so it is the end of the file. A reset or
            // a stall is not (those are `Lost`, never 226).
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                tracing::debug!("data connection closed without TLS close_notify");
                return Ok(Some(0));
            }
            Ok(Err(e)) => return Err(TransferError::Lost(e)),
            Err(_) => {
                let now = tokio::time::Instant::now();
                if now >= stalled_at {
                    return Err(TransferError::Lost(io::Error::new(io::ErrorKind::TimedOut, "transfer stalled")));
                }
                // A window that passed while waiting: too slow, or a new window begins.
                pace.step(started, 0)?;
                if flush_at.is_some_and(|f| now >= f) {
                    return Ok(None);
                }
            }
        }
    }
}

/// Ends an upload that failed with `error`: what arrived stays staged for
/// its owner, unless the failure was the quota's (then an upload that
/// continued an interrupted one goes back to where it began), and the quota
/// counts exactly what stays. Returns the error.
async fn end_upload(upload: Box<dyn Upload>, quota: Option<QuotaCharge>, error: TransferError) -> TransferError {
    let keep = !matches!(error, TransferError::Quota(_));
    let ended = upload.abort(keep).await;
    if let Some(q) = quota {
        match ended {
            Ended::Kept => drop(q),
            Ended::CutBack => q.discard(),
            Ended::Discarded => q.discard_all(),
        }
    }
    error
}
