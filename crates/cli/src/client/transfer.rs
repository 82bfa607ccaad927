//! Downloads and uploads of single files with the options every client
//! command shares: resume, verify, preserve times, retries.
//!
//! A download is written to `NAME.part` and renamed to `NAME` only when it
//! is complete (and verified, if asked), so an interrupted download never
//! looks complete; `--resume` (and every retry) continues the `.part` file.

use super::ConnectArgs;
use super::progress::Output;
use ferroftp_client::features::hash_file;
use ferroftp_client::{ClientError, FtpUrl, Session, StoreMode};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::io::AsyncSeekExt;

/// A session that can be opened again after the connection breaks.
pub struct Conn {
    pub session: Session,
    pub url: FtpUrl,
    pub args: ConnectArgs,
}

impl Conn {
    pub async fn open(url: &FtpUrl, args: &ConnectArgs) -> anyhow::Result<Conn> {
        Ok(Conn { session: args.open(url).await?, url: url.clone(), args: args.clone() })
    }

    async fn reconnect(&mut self) -> anyhow::Result<()> {
        self.session = self.args.open(&self.url).await?;
        Ok(())
    }
}

/// Options of one file transfer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransferOptions {
    pub resume: bool,
    pub verify: bool,
    pub preserve: bool,
}

/// What a finished transfer did.
#[derive(Debug, Clone)]
pub struct Done {
    pub bytes: u64,
    /// Bytes that were already there (resumed from).
    pub skipped: u64,
    /// `"sha-256"`, `"size"` … when verified.
    pub verified: Option<String>,
    pub seconds: f64,
}

impl Done {
    pub fn json(&self, op: &str, remote: &str, local: &Path) -> serde_json::Value {
        serde_json::json!({
            "op": op,
            "remote": remote,
            "local": local.display().to_string(),
            "bytes": self.bytes,
            "resumed_from": self.skipped,
            "verified": self.verified,
            "seconds": self.seconds,
        })
    }
}

/// `NAME.part` beside `NAME`.
pub fn part_path(local: &Path) -> PathBuf {
    let mut name = local.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".part");
    local.with_file_name(name)
}

fn local_err(path: &Path, e: std::io::Error) -> ClientError {
    ClientError::Local { path: path.display().to_string(), cause: e }
}

/// Waits before retry `attempt` (1, 2, 4 … 30 s).
async fn backoff(out: &Output, what: &str, e: &ClientError, attempt: u32, retries: u32) {
    let wait = Duration::from_secs((1u64 << attempt.min(5)).min(30));
    out.note(&format!("{what}: {e}; retrying in {} s ({}/{retries})", wait.as_secs(), attempt + 1));
    tokio::time::sleep(wait).await;
}

/// What [`retrying`] transfers.
#[derive(Clone, Copy)]
enum Job<'a> {
    Get { remote: &'a str, local: &'a Path },
    Put { local: &'a Path, remote: &'a str },
}

/// Runs a transfer; a transient failure is retried (`--retries`) on a new
/// connection, resuming where the last try stopped.
async fn retrying(
    conn: &mut Conn,
    job: Job<'_>,
    opts: TransferOptions,
    out: &Output,
    tick: &mut (dyn FnMut(u64) + Send),
) -> anyhow::Result<Done> {
    let started = std::time::Instant::now();
    let mut attempt = 0;
    let mut resume = opts.resume;
    loop {
        let (result, what) = match job {
            Job::Get { remote, local } => {
                (download_once(&mut conn.session, remote, local, resume, opts, out, tick).await, remote)
            }
            Job::Put { local, remote } => {
                (upload_once(&mut conn.session, local, remote, resume, opts, out, tick).await, remote)
            }
        };
        match result {
            Ok(mut done) => {
                done.seconds = started.elapsed().as_secs_f64();
                return Ok(done);
            }
            Err(e) if attempt < conn.args.retries && e.is_transient() => {
                backoff(out, what, &e, attempt, conn.args.retries).await;
                attempt += 1;
                resume = true;
                conn.reconnect().await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Downloads `remote` to `local` (through `local.part`). `tick` sees the
/// bytes received by this transfer so far.
pub async fn download(
    conn: &mut Conn,
    remote: &str,
    local: &Path,
    opts: TransferOptions,
    out: &Output,
    tick: &mut (dyn FnMut(u64) + Send),
) -> anyhow::Result<Done> {
    retrying(conn, Job::Get { remote, local }, opts, out, tick).await
}

async fn download_once(
    session: &mut Session,
    remote: &str,
    local: &Path,
    resume: bool,
    opts: TransferOptions,
    out: &Output,
    tick: &mut (dyn FnMut(u64) + Send),
) -> Result<Done, ClientError> {
    let part = &part_path(local);
    let size = match session.size(remote).await {
        Ok(n) => Some(n),
        Err(e) if e.is_not_found() => return Err(e),
        Err(_) => None,
    };
    let have = if resume { tokio::fs::metadata(part).await.map(|m| m.len()).unwrap_or(0) } else { 0 };
    let offset = match size {
        // A .part larger than the file: it changed; start again.
        Some(n) if have > n => 0,
        _ => have,
    };
    if let Some(parent) = local.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await.map_err(|e| local_err(parent, e))?;
    }
    // Starting afresh, an old .part is removed rather than truncated: ext4
    // flushes a file truncated to zero when it is closed (auto_da_alloc),
    // which cost half a second per GiB at the end of every download.
    if offset == 0 {
        match std::fs::remove_file(part) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(local_err(part, e)),
            _ => {}
        }
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(part)
        .map_err(|e| local_err(part, e))?;
    if offset > 0 {
        file.set_len(offset).map_err(|e| local_err(part, e))?;
        std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset)).map_err(|e| local_err(part, e))?;
    }
    let mut file = DirectFile(file);
    let bar = out.transfer(remote, size);
    bar.set(offset);
    let received = if size == Some(offset) && offset > 0 {
        0
    } else {
        match session
            .retrieve(remote, offset, &mut file, &mut |n| {
                bar.set(offset + n);
                tick(n);
            })
            .await
        {
            Ok(n) => n,
            Err(e) => {
                // Keep a partial file to resume from; an empty one says nothing.
                if tokio::fs::metadata(part).await.is_ok_and(|m| m.len() == 0) {
                    let _ = tokio::fs::remove_file(part).await;
                }
                return Err(e);
            }
        }
    };
    drop(file);
    bar.finish();
    let verified = if opts.verify {
        match verify_download(session, remote, part, size).await {
            Ok(how) => Some(how),
            Err(e) => {
                // A corrupt copy is of no use to resume from.
                let _ = tokio::fs::remove_file(part).await;
                return Err(e);
            }
        }
    } else {
        None
    };
    if opts.preserve
        && let Ok(mtime) = session.mdtm(remote).await
    {
        set_local_mtime(part, mtime).map_err(|e| local_err(part, e))?;
    }
    tokio::fs::rename(part, local).await.map_err(|e| local_err(local, e))?;
    Ok(Done { bytes: received, skipped: offset, verified, seconds: 0.0 })
}

async fn verify_download(
    session: &mut Session,
    remote: &str,
    local: &Path,
    size: Option<u64>,
) -> Result<String, ClientError> {
    let local_len = tokio::fs::metadata(local).await.map_err(|e| local_err(local, e))?.len();
    if let Some((alg, theirs)) = session.checksum(remote).await? {
        let ours = hash_file(local, alg).await.map_err(|e| local_err(local, e))?;
        if ours != theirs {
            return Err(ClientError::Verify {
                path: remote.to_string(),
                detail: format!("{} differs: server {theirs}, local {ours}", alg.name()),
            });
        }
        return Ok(alg.name().to_ascii_lowercase());
    }
    let size = match size {
        Some(n) => n,
        None => session.size(remote).await?,
    };
    if size != local_len {
        return Err(ClientError::Verify {
            path: remote.to_string(),
            detail: format!("the server has {size} bytes, the local copy {local_len}"),
        });
    }
    Ok("size".into())
}

pub fn set_local_mtime(path: &Path, time: SystemTime) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.set_times(std::fs::FileTimes::new().set_modified(time))
}

/// Uploads `local` to `remote`. With `resume` (and on every retry), the
/// server's size says how much to skip, and the rest is appended. `tick`
/// sees the bytes sent by this transfer so far.
pub async fn upload(
    conn: &mut Conn,
    local: &Path,
    remote: &str,
    opts: TransferOptions,
    out: &Output,
    tick: &mut (dyn FnMut(u64) + Send),
) -> anyhow::Result<Done> {
    retrying(conn, Job::Put { local, remote }, opts, out, tick).await
}

async fn upload_once(
    session: &mut Session,
    local: &Path,
    remote: &str,
    resume: bool,
    opts: TransferOptions,
    out: &Output,
    tick: &mut (dyn FnMut(u64) + Send),
) -> Result<Done, ClientError> {
    let mut file = tokio::fs::File::open(local).await.map_err(|e| local_err(local, e))?;
    let meta = file.metadata().await.map_err(|e| local_err(local, e))?;
    if !meta.is_file() {
        return Err(local_err(local, std::io::Error::other("not a regular file")));
    }
    let len = meta.len();
    let offset = if resume {
        match session.size(remote).await {
            Ok(n) if n > len => {
                return Err(ClientError::Verify {
                    path: remote.to_string(),
                    detail: format!("cannot resume: the server has {n} bytes, more than the local {len}"),
                });
            }
            Ok(n) => n,
            Err(_) => 0,
        }
    } else {
        0
    };
    let bar = out.transfer(&local.display().to_string(), Some(len));
    bar.set(offset);
    let sent = if offset == len && offset > 0 {
        0
    } else if offset > 0 {
        file.seek(std::io::SeekFrom::Start(offset)).await.map_err(|e| local_err(local, e))?;
        session
            .store(remote, StoreMode::Append, &mut file, &mut |n| {
                bar.set(offset + n);
                tick(n);
            })
            .await?
    } else {
        session
            .store(remote, StoreMode::Replace, &mut file, &mut |n| {
                bar.set(n);
                tick(n);
            })
            .await?
    };
    bar.finish();
    let verified = if opts.verify { Some(verify_upload(session, local, remote, len).await?) } else { None };
    if opts.preserve
        && let Ok(mtime) = meta.modified()
    {
        match session.set_mtime(remote, mtime).await {
            Ok(()) => {}
            Err(ClientError::Unsupported(what)) => out.note(&format!("{remote}: time not kept: no {what}")),
            Err(e) => return Err(e),
        }
    }
    Ok(Done { bytes: sent, skipped: offset, verified, seconds: 0.0 })
}

async fn verify_upload(session: &mut Session, local: &Path, remote: &str, len: u64) -> Result<String, ClientError> {
    if let Some((alg, theirs)) = session.checksum(remote).await? {
        let ours = hash_file(local, alg).await.map_err(|e| local_err(local, e))?;
        if ours != theirs {
            return Err(ClientError::Verify {
                path: remote.to_string(),
                detail: format!("{} differs: server {theirs}, local {ours}", alg.name()),
            });
        }
        return Ok(alg.name().to_ascii_lowercase());
    }
    let size = session.size(remote).await?;
    if size != len {
        return Err(ClientError::Verify {
            path: remote.to_string(),
            detail: format!("the server has {size} bytes, the local file {len}"),
        });
    }
    Ok("size".into())
}

/// A local file written straight from the task, as curl and lftp write theirs:
/// a MiB goes into the page cache in well under a millisecond, and
/// `tokio::fs` would copy every chunk once more and hand it to a blocking
/// thread.
struct DirectFile(std::fs::File);

impl tokio::io::AsyncWrite for DirectFile {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(std::io::Write::write(&mut self.get_mut().0, buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
