//! Storage: what a session reads and writes, behind the [`Storage`] trait.
//!
//! Paths reach a backend as [`VirtualPath`]s: absolute, normalised, with no `.`
//! or `..` components, so a backend never sees a path that climbs out of the
//! user's tree. The local backend ([`LocalFs`]) additionally resolves every path
//! beneath its root directory handle, so symlinks cannot escape either.

mod local;
mod mounts;
mod path;
mod staging;

pub use local::LocalFs;
pub use mounts::MountedFs;
pub use path::{
    MAX_NAME, MAX_PATH, NameProblem, RESERVED_PREFIX, VirtualPath, check_new_name, check_path, is_reserved,
};
pub(crate) use staging::STAGING_DIR;
pub use staging::{StagingSweep, discover as discover_staging, quota_tag, sweep as sweep_staging};

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
    /// When the file was made, where the file system records it.
    pub created: Option<SystemTime>,
    /// The target of a symbolic link.
    pub link_target: Option<String>,
}

impl Metadata {
    /// Which file this is (see [`FileIdentity`]).
    pub fn identity(&self) -> FileIdentity {
        FileIdentity { unique: self.unique.clone(), created: self.created }
    }
}

/// Which file an entry is, across renames: its `unique` fact (device and
/// inode for local folders) and, where the file system records it, its birth
/// time. Without a birth time it is device and inode only, which a file
/// system gives to the next file made as soon as a file is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileIdentity {
    pub unique: String,
    pub created: Option<SystemTime>,
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

/// Where an upload starts writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadStart {
    /// A new version of the file (`STOR`, `STOU`): nothing is kept from
    /// before; an earlier interrupted upload of the same owner is discarded.
    New,
    /// At this offset (`REST n` + `STOR`/`APPE`, RFC 3659 §5): into the
    /// owner's interrupted upload of the name if there is one, else into the
    /// complete file.
    At(u64),
    /// At the end (`APPE`): of the owner's interrupted upload if there is one,
    /// else of the complete file; a new file if there is neither.
    End,
}

/// What an upload may do, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    pub start: UploadStart,
    /// The upload may replace a file of its name when it is committed. If
    /// not, it is committed only if the name is still free then
    /// ([`NameTaken`](crate::StorageErrorKind::NameTaken) otherwise).
    pub replace: bool,
    /// Bytes already stored in a complete file may be cut off (a restart
    /// below its size). If not, such a restart is refused.
    pub may_cut: bool,
    /// A new file may be made (a new name, or a new version of a file). If
    /// not, only an append in place is.
    pub may_create: bool,
    /// A file may be appended to in place. If not, only new files are made.
    pub may_append: bool,
    /// Whose interrupted uploads this one continues or leaves.
    pub uploader: Uploader,
    /// What arrived of an upload that is interrupted stays staged for its
    /// owner to continue (see [`UploadStart`]); otherwise it is discarded.
    pub keep_partial: bool,
    /// The data and the folder entry are on disk (fdatasync, fsync of the
    /// folder) before [`Upload::commit`] returns.
    pub sync: bool,
}

/// Whose an upload is: the owner of its interrupted uploads (the account,
/// and for shared accounts such as anonymous the client's address too), and
/// the quota that counts them (`user:NAME` or `group:NAME`), if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uploader {
    pub owner: String,
    pub quota: Option<String>,
}

/// Bytes of interrupted uploads removed (expired, or with their folder), and
/// the tag of the quota that counted them (see [`quota_tag`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freed {
    pub bytes: u64,
    pub quota: Option<String>,
}

/// What a name holds for an uploader.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadState {
    /// Size of the complete file of that name.
    pub complete: Option<u64>,
    /// Size of the owner's interrupted upload of that name, staged.
    pub partial: Option<u64>,
}

/// A file being written, in chunks handed over with their buffers; the
/// upload becomes visible under its name only by [`commit`](Upload::commit)
/// (appends in place excepted: they write to the file itself).
#[async_trait]
pub trait Upload: Send {
    /// Appends `buf[..len]` to what was written before and gives back a buffer
    /// of the same size for the next chunk. The write may still be running
    /// when this returns (the local backend writes one chunk while the next
    /// arrives, without copying it); an error then comes from a later call or
    /// from `flush`.
    async fn write(&mut self, buf: Vec<u8>, len: usize) -> std::io::Result<Vec<u8>>;
    /// Waits for every write, and with [`UploadRequest::sync`] for the data to
    /// be on disk. After it, `commit` only gives the upload its name.
    async fn flush(&mut self) -> Result<(), StorageError>;
    /// The identity of the file this upload made and will name, which no
    /// other file can share. `None` for an append in place (the file is not
    /// the upload's own) and where the backend cannot tell one file from a
    /// later one (the local backend: a file system without birth times).
    fn identity(&self) -> Option<FileIdentity> {
        None
    }
    /// Makes the upload final: renames it into place (replacing a file only
    /// when [`UploadRequest::replace`] allows it) and, with `sync`, puts the
    /// folder entry on disk.
    async fn commit(self: Box<Self>) -> Result<(), StorageError>;
    /// Ends an upload that will not be committed: what arrived stays staged for
    /// its owner when `keep` (and [`UploadRequest::keep_partial`]) say so;
    /// otherwise an upload that continued an interrupted one is cut back to
    /// where it began, and any other is discarded. An append in place keeps
    /// what it wrote in any case. Dropping an upload does the same as
    /// `abort(true)`.
    async fn abort(self: Box<Self>, keep: bool) -> Ended;
}

/// What is left of an upload that was not committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Everything that arrived.
    Kept,
    /// What was there before this upload began (the interrupted upload it continued).
    CutBack,
    /// Nothing: the staged data is gone, also what an earlier upload had staged.
    Discarded,
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
    /// What `path` holds for an upload by `uploader`: the complete file's
    /// size (an error if it is a folder) and the uploader's interrupted upload's.
    async fn upload_state(&self, path: &VirtualPath, uploader: &Uploader) -> Result<UploadState, StorageError>;
    /// Opens an upload to `path`.
    async fn write(&self, path: &VirtualPath, request: &UploadRequest) -> Result<Box<dyn Upload>, StorageError>;
    async fn make_dir(&self, path: &VirtualPath) -> Result<(), StorageError>;
    /// Removes an empty folder; returns the interrupted uploads staged in it
    /// that went with it.
    async fn remove_dir(&self, path: &VirtualPath) -> Result<Vec<Freed>, StorageError>;
    async fn remove_file(&self, path: &VirtualPath) -> Result<(), StorageError>;
    /// Renames `from` to `to`. An existing `to` is replaced only when
    /// `replace` allows it and both are files; otherwise the rename fails
    /// with [`AlreadyExists`](crate::StorageErrorKind::AlreadyExists) (decided by the file system
    /// at the moment of the rename, not checked before it).
    async fn rename(&self, from: &VirtualPath, to: &VirtualPath, replace: bool) -> Result<(), StorageError>;
    /// Sets permission bits (`SITE CHMOD`).
    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError>;
    /// Sets a file's modification time (`MFMT`).
    async fn set_modified(&self, path: &VirtualPath, time: SystemTime) -> Result<(), StorageError>;
    /// The real folders this backend serves, if it serves any (for the
    /// sweeper of interrupted uploads).
    fn folders(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{UploadRequest, UploadStart};

    /// A request for a new upload by `owner` that may replace files, kept when interrupted.
    pub(crate) fn new_upload(owner: &str) -> UploadRequest {
        UploadRequest {
            uploader: super::Uploader { owner: owner.to_string(), quota: None },
            start: UploadStart::New,
            replace: true,
            may_cut: true,
            may_create: true,
            may_append: true,
            keep_partial: true,
            sync: false,
        }
    }
}
