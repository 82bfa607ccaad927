//! Storage: what a session reads and writes, behind the [`Storage`] trait.
//!
//! Paths reach a backend as [`VirtualPath`]s: absolute, normalised, with no `.`
//! or `..` components, so a backend never sees a path that climbs out of the
//! user's tree. The local backend ([`LocalFs`]) additionally resolves every path
//! beneath its root directory handle, so symlinks cannot escape either.

mod local;
mod mounts;
mod path;

pub use local::LocalFs;
pub use mounts::MountedFs;
pub use path::{MAX_NAME, MAX_PATH, NameProblem, VirtualPath, check_new_name, check_path};

use crate::error::StorageError;
use async_trait::async_trait;
use ferroftp_proto::listing::FileKind;
use std::time::SystemTime;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;

/// What a backend knows about one file.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub kind: FileKind,
    pub size: u64,
    pub modified: SystemTime,
    /// Permission bits (`0o7777` at most).
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    /// Stable identity for the RFC 3659 `unique` fact.
    pub unique: String,
    /// The target of a symbolic link.
    pub link_target: Option<String>,
}

/// One entry of a directory listing.
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: String,
    pub metadata: Metadata,
}

/// A directory listing delivered as it is read, never collected whole.
pub type DirStream = mpsc::Receiver<Result<DirEntry, StorageError>>;

/// A file opened for reading.
pub enum ReadStream {
    /// A local file, read from `offset` on. Binary downloads over plain TCP
    /// send it with sendfile; the others (TLS, TYPE A) read it with positional
    /// reads on the blocking pool, one chunk ahead of the network.
    File { file: std::sync::Arc<std::fs::File>, offset: u64 },
    /// Any other source (object storage, generated content).
    Stream(Box<dyn AsyncRead + Send + Unpin>),
}

impl ReadStream {
    /// Reads the next chunk into `buf` (resized to at most `max` bytes), returning
    /// the buffer back with the number of bytes read (0 at the end).
    pub async fn read_chunk(&mut self, mut buf: Vec<u8>, max: usize) -> (Vec<u8>, std::io::Result<usize>) {
        match self {
            ReadStream::File { file, offset } => {
                let (buf, result) = match read_at(std::sync::Arc::clone(file), *offset, buf, max).await {
                    Ok(done) => done,
                    Err(e) => (Vec::new(), Err(std::io::Error::other(e))),
                };
                if let Ok(n) = result {
                    *offset += n as u64;
                }
                (buf, result)
            }
            ReadStream::Stream(s) => {
                use tokio::io::AsyncReadExt;
                buf.resize(max, 0);
                let result = s.read(&mut buf).await;
                (buf, result)
            }
        }
    }
}

/// Starts one positional read of up to `max` bytes on the blocking pool; it
/// fills the buffer unless the file ends. The read runs whether or not the
/// handle is awaited yet, which is what lets a transfer read ahead.
pub(crate) fn read_at(
    file: std::sync::Arc<std::fs::File>,
    offset: u64,
    mut buf: Vec<u8>,
    max: usize,
) -> tokio::task::JoinHandle<(Vec<u8>, std::io::Result<usize>)> {
    tokio::task::spawn_blocking(move || {
        use std::os::unix::fs::FileExt;
        buf.resize(max, 0);
        let mut filled = 0;
        let result = loop {
            if filled == max {
                break Ok(filled);
            }
            match file.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break Ok(filled),
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        (buf, result)
    })
}

/// How an upload treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Write a new version; the target is replaced only when the upload is
    /// committed, so an interrupted upload leaves the old file (or nothing).
    Replace,
    /// Fail if the target exists (`STOU`); otherwise as `Replace`.
    CreateNew,
    /// Append to the file in place, creating it if missing (`APPE`).
    Append,
    /// Write in place from this offset, cutting off what follows
    /// (`REST` + `STOR`, RFC 3659 §5).
    ResumeAt(u64),
}

/// A file being written, in chunks handed over with their buffers; the
/// upload becomes visible under its name only by [`commit`](Upload::commit).
#[async_trait]
pub trait Upload: Send {
    /// Appends `buf[..len]` to what was written before and gives back a buffer
    /// of the same size for the next chunk. The write may still be running
    /// when this returns (the local backend writes one chunk while the next
    /// arrives, without copying it); an error then comes from a later call or
    /// from `commit`.
    async fn write(&mut self, buf: Vec<u8>, len: usize) -> std::io::Result<Vec<u8>>;
    /// Makes the upload final (for `Replace`/`CreateNew`, renames it into place).
    async fn commit(self: Box<Self>) -> Result<(), StorageError>;
    /// Discards the upload: a `Replace`/`CreateNew` upload disappears; an in-place
    /// append or resume keeps what was written, as the client asked to resume.
    async fn abort(self: Box<Self>);
}

/// A filesystem as seen by one account. Implemented by [`LocalFs`]; later
/// backends (object storage) implement the same calls.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Metadata of `path`, following a final symlink (as `stat`).
    async fn metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError>;
    /// Metadata of `path` itself (as `lstat`).
    async fn symlink_metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError>;
    /// Lists a directory, streaming entries as they are read.
    async fn list(&self, path: &VirtualPath) -> Result<DirStream, StorageError>;
    /// Opens a plain file for reading from `offset`, with its metadata (of the
    /// file opened, so the size agrees with what will be read). Anything but a
    /// plain file is refused; the offset is not checked against the size.
    async fn read(&self, path: &VirtualPath, offset: u64) -> Result<(ReadStream, Metadata), StorageError>;
    /// Opens a file for writing.
    async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Box<dyn Upload>, StorageError>;
    async fn make_dir(&self, path: &VirtualPath) -> Result<(), StorageError>;
    async fn remove_dir(&self, path: &VirtualPath) -> Result<(), StorageError>;
    async fn remove_file(&self, path: &VirtualPath) -> Result<(), StorageError>;
    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError>;
    /// Sets permission bits (`SITE CHMOD`).
    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError>;
    /// Sets a file's modification time (`MFMT`).
    async fn set_modified(&self, path: &VirtualPath, time: SystemTime) -> Result<(), StorageError>;
}
