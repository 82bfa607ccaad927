//! The local filesystem backend.
//!
//! Every operation goes through a [`cap_std::fs::Dir`] handle on the served
//! directory. cap-std resolves each path beneath that handle (with `openat2`
//! `RESOLVE_BENEATH` where the kernel has it, by careful component-wise
//! resolution where it does not), so neither `..`, absolute paths nor symlinks,
//! including ones created while a session runs, reach outside the root.
//! Paths are never concatenated into strings handed to the OS.

use super::{DirEntry, DirStream, Metadata, ReadStream, Storage, Upload, VirtualPath, WriteMode};
use crate::error::{StorageError, StorageErrorKind};
use async_trait::async_trait;
use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt, PermissionsExt};
use ferroftp_proto::listing::FileKind;
use std::io::{self, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Names of uploads in progress start with this; they are hidden from listings.
const UPLOAD_PREFIX: &str = ".ferroftp-upload-";

/// Entries buffered between the directory-reading thread and the transfer.
const LIST_CHANNEL_DEPTH: usize = 256;

/// A directory of the local filesystem served as a user's tree.
#[derive(Clone)]
pub struct LocalFs {
    root: Arc<Dir>,
    root_path: PathBuf,
}

impl std::fmt::Debug for LocalFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalFs").field("root", &self.root_path).finish()
    }
}

impl LocalFs {
    /// Opens `root` as the tree's root directory handle.
    pub fn open(root: impl AsRef<Path>) -> io::Result<Self> {
        let root_path = root.as_ref().to_path_buf();
        let dir = Dir::open_ambient_dir(&root_path, cap_std::ambient_authority())?;
        Ok(LocalFs { root: Arc::new(dir), root_path })
    }

    /// The backend for `root`, shared with every session already serving it:
    /// sessions of one account (10,000 anonymous users, say) hold one
    /// directory descriptor between them, not one each. A directory replaced
    /// since it was opened (same path, another inode) is opened afresh.
    pub fn shared(root: impl AsRef<Path>) -> io::Result<Arc<LocalFs>> {
        use std::collections::HashMap;
        use std::sync::{LazyLock, Mutex, PoisonError, Weak};
        static OPEN: LazyLock<Mutex<HashMap<PathBuf, Weak<LocalFs>>>> = LazyLock::new(Default::default);
        let path = root.as_ref();
        let now = std::fs::metadata(path)?;
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(fs) = open.get(path).and_then(Weak::upgrade) {
            use cap_std::fs::MetadataExt as _;
            use std::os::unix::fs::MetadataExt as _;
            let held = fs.root.dir_metadata()?;
            if (held.dev(), held.ino()) == (now.dev(), now.ino()) {
                return Ok(fs);
            }
        }
        let fs = Arc::new(LocalFs::open(path)?);
        open.retain(|_, held| held.strong_count() > 0);
        open.insert(path.to_path_buf(), Arc::downgrade(&fs));
        Ok(fs)
    }

    /// The directory this backend serves.
    pub fn root_path(&self) -> &Path {
        &self.root_path
    }

    /// Runs a path lookup in place, on the runtime thread. `stat` and `open`
    /// are answered from the kernel's dentry and inode caches in a few
    /// microseconds, less than the two thread wake-ups a trip to the blocking
    /// pool costs (a session fetching many small files spent most of its time
    /// in those wake-ups). Calls that may touch the disk for long (reading
    /// files and directories, writing, renaming) go to the pool.
    fn in_place<T, F>(&self, path: &VirtualPath, f: F) -> Result<T, StorageError>
    where
        F: FnOnce(&Dir, &Path) -> io::Result<T>,
    {
        f(&self.root, &rel_path(path)).map_err(|e| StorageError::io(e, path.to_string()))
    }

    /// Runs a blocking filesystem call on the blocking pool.
    async fn blocking<T, F>(&self, path: &VirtualPath, f: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Dir, &Path) -> io::Result<T> + Send + 'static,
    {
        let root = Arc::clone(&self.root);
        let rel = rel_path(path);
        let shown = path.to_string();
        match tokio::task::spawn_blocking(move || f(&root, &rel)).await {
            Ok(r) => r.map_err(|e| StorageError::io(e, shown)),
            Err(_) => Err(StorageError::new(StorageErrorKind::Io, shown)),
        }
    }
}

/// The path handed to cap-std: `.` for the root, else the relative path.
fn rel_path(path: &VirtualPath) -> PathBuf {
    if path.is_root() { PathBuf::from(".") } else { PathBuf::from(path.relative()) }
}

fn convert(m: &cap_std::fs::Metadata, link_target: Option<String>) -> Metadata {
    let mode = m.mode();
    let kind = match mode & 0o170000 {
        0o040000 => FileKind::Dir,
        0o120000 => FileKind::Symlink,
        0o020000 => FileKind::CharDevice,
        0o060000 => FileKind::BlockDevice,
        0o010000 => FileKind::Fifo,
        0o140000 => FileKind::Socket,
        _ => FileKind::File,
    };
    Metadata {
        kind,
        size: m.len(),
        modified: m.modified().map(|t| t.into_std()).unwrap_or(std::time::UNIX_EPOCH),
        mode: mode & 0o7777,
        nlink: m.nlink(),
        uid: m.uid(),
        gid: m.gid(),
        unique: format!("{:x}U{:x}", m.dev(), m.ino()),
        link_target,
    }
}

fn link_target(dir: &Dir, path: &Path) -> Option<String> {
    dir.read_link_contents(path).ok().map(|p| p.to_string_lossy().into_owned())
}

fn lstat(dir: &Dir, path: &Path) -> io::Result<Metadata> {
    let m = dir.symlink_metadata(path)?;
    let target = if m.file_type().is_symlink() { link_target(dir, path) } else { None };
    Ok(convert(&m, target))
}

#[async_trait]
impl Storage for LocalFs {
    async fn metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        self.in_place(path, |d, p| d.metadata(p).map(|m| convert(&m, None)))
    }

    async fn symlink_metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        self.in_place(path, lstat)
    }

    async fn list(&self, path: &VirtualPath) -> Result<DirStream, StorageError> {
        let dir = self.blocking(path, |d, p| d.open_dir(p)).await?;
        let (tx, rx) = mpsc::channel(LIST_CHANNEL_DEPTH);
        let shown = path.to_string();
        tokio::task::spawn_blocking(move || {
            let entries = match dir.entries() {
                Ok(e) => e,
                Err(e) => {
                    let _ = tx.blocking_send(Err(StorageError::io(e, shown)));
                    return;
                }
            };
            for entry in entries {
                let item = entry.and_then(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    lstat(&dir, Path::new(&e.file_name())).map(|metadata| DirEntry { name, metadata })
                });
                let item = match item {
                    Ok(e) if e.name.starts_with(UPLOAD_PREFIX) => continue,
                    // An entry removed between readdir and stat is skipped.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Ok(e) => Ok(e),
                    Err(e) => Err(StorageError::io(e, shown.clone())),
                };
                if tx.blocking_send(item).is_err() {
                    return; // the listing was abandoned
                }
            }
        });
        Ok(rx)
    }

    async fn read(&self, path: &VirtualPath, offset: u64) -> Result<(ReadStream, Metadata), StorageError> {
        let (file, metadata) = self.in_place(path, |d, p| {
            // O_NONBLOCK: opening a FIFO for reading would otherwise wait for
            // a writer, here on a runtime thread. Anything but a plain file is
            // refused below; regular files ignore the flag.
            let nonblock = rustix::fs::OFlags::NONBLOCK.bits() as i32;
            let f = d.open_with(p, OpenOptions::new().read(true).custom_flags(nonblock))?;
            let m = f.metadata()?;
            Ok((f.into_std(), convert(&m, None)))
        })?;
        match metadata.kind {
            FileKind::File => {}
            FileKind::Dir => return Err(StorageError::new(StorageErrorKind::IsADirectory, path.to_string())),
            _ => return Err(StorageError::new(StorageErrorKind::NotAFile, path.to_string())),
        }
        Ok((ReadStream::File { file: Arc::new(file), offset }, metadata))
    }

    async fn write(&self, path: &VirtualPath, mode: WriteMode) -> Result<Box<dyn Upload>, StorageError> {
        let name =
            path.file_name().ok_or_else(|| StorageError::new(StorageErrorKind::IsADirectory, path.to_string()))?;
        let target = rel_path(path);
        let temp = match mode {
            WriteMode::Replace | WriteMode::CreateNew => {
                let suffix: u64 = rand::random();
                Some(target.with_file_name(format!("{UPLOAD_PREFIX}{suffix:016x}-{name}")))
            }
            WriteMode::Append | WriteMode::ResumeAt(_) => None,
        };
        let open_path = temp.clone().unwrap_or_else(|| target.clone());
        let check_target = target.clone();
        let file = self
            .blocking(path, move |d, _| {
                match d.metadata(&check_target) {
                    Ok(m) if m.is_dir() => {
                        return Err(io::Error::from(io::ErrorKind::IsADirectory));
                    }
                    Ok(_) if mode == WriteMode::CreateNew => {
                        return Err(io::Error::from(io::ErrorKind::AlreadyExists));
                    }
                    _ => {}
                }
                let mut opts = OpenOptions::new();
                match mode {
                    WriteMode::Replace | WriteMode::CreateNew => opts.write(true).create_new(true),
                    WriteMode::Append => opts.append(true).create(true),
                    WriteMode::ResumeAt(_) => opts.write(true),
                };
                let f = d.open_with(&open_path, &opts)?.into_std();
                if let WriteMode::ResumeAt(offset) = mode {
                    if offset > f.metadata()?.len() {
                        return Err(io::Error::new(io::ErrorKind::InvalidData, "offset beyond end"));
                    }
                    f.set_len(offset)?;
                    (&f).seek(SeekFrom::Start(offset))?;
                }
                Ok(f)
            })
            .await
            .map_err(|mut e| {
                if e.source.as_ref().is_some_and(|s| s.kind() == io::ErrorKind::InvalidData) {
                    e.kind = StorageErrorKind::InvalidOffset;
                }
                e
            })?;
        Ok(Box::new(LocalUpload {
            file: Some(file),
            running: None,
            root: Arc::clone(&self.root),
            temp,
            target,
            shown: path.to_string(),
        }))
    }

    async fn make_dir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        self.blocking(path, |d, p| d.create_dir(p)).await
    }

    async fn remove_dir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if path.is_root() {
            return Err(StorageError::new(StorageErrorKind::PermissionDenied, path.to_string()));
        }
        self.blocking(path, |d, p| d.remove_dir(p)).await
    }

    async fn remove_file(&self, path: &VirtualPath) -> Result<(), StorageError> {
        self.blocking(path, |d, p| {
            if d.symlink_metadata(p)?.is_dir() {
                return Err(io::Error::from(io::ErrorKind::IsADirectory));
            }
            d.remove_file(p)
        })
        .await
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath) -> Result<(), StorageError> {
        if from.is_root() || to.is_root() {
            return Err(StorageError::new(StorageErrorKind::PermissionDenied, from.to_string()));
        }
        let to_rel = rel_path(to);
        self.blocking(from, move |d, p| d.rename(p, d, &to_rel)).await
    }

    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError> {
        self.blocking(path, move |d, p| d.set_permissions(p, cap_std::fs::Permissions::from_mode(mode & 0o7777))).await
    }

    async fn set_modified(&self, path: &VirtualPath, time: std::time::SystemTime) -> Result<(), StorageError> {
        // Opened beneath the root like everything else, then set through the handle.
        self.blocking(path, move |d, p| {
            let file = d.open(p)?.into_std();
            file.set_times(std::fs::FileTimes::new().set_modified(time))
        })
        .await
    }
}

/// What a chunk's write gives back: the file, the buffer, the outcome.
type Written = (std::fs::File, Vec<u8>, io::Result<()>);

/// An upload to the local filesystem.
///
/// Each chunk is written on the blocking pool from the buffer the transfer
/// filled, while the transfer fills the other one: two buffers per upload,
/// no copy between the socket and the page cache but the kernel's.
struct LocalUpload {
    /// The file, when no write is running.
    file: Option<std::fs::File>,
    /// The write running on the blocking pool: it gives the file and the
    /// buffer back.
    running: Option<tokio::task::JoinHandle<Written>>,
    root: Arc<Dir>,
    /// The hidden name written to, renamed to `target` on commit.
    temp: Option<PathBuf>,
    target: PathBuf,
    shown: String,
}

impl LocalUpload {
    /// Waits for the running write; returns its buffer.
    async fn settle(&mut self) -> io::Result<Option<Vec<u8>>> {
        let Some(running) = self.running.take() else { return Ok(None) };
        let (file, buf, result) = running.await.map_err(io::Error::other)?;
        self.file = Some(file);
        result.map(|()| Some(buf))
    }
}

#[async_trait]
impl Upload for LocalUpload {
    async fn write(&mut self, buf: Vec<u8>, len: usize) -> io::Result<Vec<u8>> {
        let spare = self.settle().await?;
        let mut file = self.file.take().ok_or_else(|| io::Error::other("upload already failed"))?;
        let size = buf.len();
        self.running = Some(tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let result = file.write_all(&buf[..len.min(buf.len())]);
            (file, buf, result)
        }));
        Ok(spare.unwrap_or_else(|| vec![0; size]))
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StorageError> {
        self.settle().await.map_err(|e| StorageError::io(e, self.shown.clone()))?;
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        let root = Arc::clone(&self.root);
        let target = self.target.clone();
        let shown = self.shown.clone();
        let renamed = tokio::task::spawn_blocking(move || {
            let r = root.rename(&temp, &root, &target);
            if r.is_err() {
                let _ = root.remove_file(&temp);
            }
            r
        })
        .await;
        match renamed {
            Ok(r) => r.map_err(|e| StorageError::io(e, shown)),
            Err(_) => Err(StorageError::new(StorageErrorKind::Io, shown)),
        }
    }

    async fn abort(mut self: Box<Self>) {
        // A running write finishes first, so nothing lands after the
        // temporary file is removed (on drop).
        let _ = self.settle().await;
    }
}

impl Drop for LocalUpload {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            // A single unlink; cheap enough to do in place even on a runtime thread.
            let _ = self.root.remove_file(temp);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
    use super::LocalFs;
    use std::sync::Arc;

    #[test]
    fn shared_handles_are_one_per_directory_while_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let served = dir.path().join("served");
        std::fs::create_dir(&served).unwrap();
        let a = LocalFs::shared(&served).unwrap();
        let b = LocalFs::shared(&served).unwrap();
        assert!(Arc::ptr_eq(&a, &b), "one descriptor for both sessions");
        // Replaced under the same name: the new directory is opened.
        std::fs::rename(&served, dir.path().join("old")).unwrap();
        std::fs::create_dir(&served).unwrap();
        let c = LocalFs::shared(&served).unwrap();
        assert!(!Arc::ptr_eq(&a, &c));
        // Gone: an error, not the stale handle.
        drop((a, b, c));
        std::fs::remove_dir(&served).unwrap();
        assert!(LocalFs::shared(&served).is_err());
    }
}
