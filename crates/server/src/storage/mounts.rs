//! Mounted folders: one user's tree assembled from several backends.
//!
//! Each mount puts a backend's root at a virtual path (`/` → `/srv/alice`,
//! `/shared` → `/srv/shared`). A path belongs to the deepest mount at or above
//! it. Folders that exist only because a mount lies beneath them (`/` when
//! only `/shared` is mounted, or `/a` for a mount at `/a/b`) are virtual: they
//! can be entered and listed, and list the mount points under them. Mount
//! points appear in the listing of their parent even when the parent's own
//! backend has no such folder, and hide a real entry of the same name.

use super::{
    DirEntry, DirStream, Freed, Metadata, ReadStream, Storage, Upload, UploadRequest, UploadState, Uploader,
    VirtualPath,
};
use crate::error::{StorageError, StorageErrorKind};
use async_trait::async_trait;
use ferroftp_proto::listing::FileKind;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::mpsc;

/// Entries buffered between a backend's listing and the merged one.
const LIST_CHANNEL_DEPTH: usize = 256;

/// A backend mounted at a virtual path.
#[derive(Clone)]
struct Mount {
    at: VirtualPath,
    storage: Arc<dyn Storage>,
}

/// Several backends seen as one tree.
#[derive(Clone)]
pub struct MountedFs {
    /// Deepest first, so the first match is the one that applies.
    mounts: Vec<Mount>,
}

impl std::fmt::Debug for MountedFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.mounts.iter().map(|m| m.at.as_str())).finish()
    }
}

impl MountedFs {
    /// Mounts each backend at its path; a later mount at the same path replaces
    /// an earlier one.
    pub fn new(mounts: impl IntoIterator<Item = (VirtualPath, Arc<dyn Storage>)>) -> Self {
        let mut out: Vec<Mount> = Vec::new();
        for (at, storage) in mounts {
            match out.iter_mut().find(|m| m.at == at) {
                Some(m) => m.storage = storage,
                None => out.push(Mount { at, storage }),
            }
        }
        out.sort_by_key(|m| std::cmp::Reverse(m.at.depth()));
        MountedFs { mounts: out }
    }

    /// The mount serving `path`, and the path inside it.
    fn route(&self, path: &VirtualPath) -> Option<(&Mount, VirtualPath)> {
        self.mounts.iter().find_map(|m| path.strip_prefix(&m.at).map(|inner| (m, inner)))
    }

    /// True if a mount point lies at or beneath `path`.
    fn holds_mount(&self, path: &VirtualPath) -> bool {
        self.mounts.iter().any(|m| m.at.starts_with(path))
    }

    /// Names directly under `dir` that lead to mount points, with the mount
    /// itself when the name is one.
    fn virtual_children(&self, dir: &VirtualPath) -> Vec<(String, Option<&Mount>)> {
        let mut out: Vec<(String, Option<&Mount>)> = Vec::new();
        for m in &self.mounts {
            if m.at == *dir || !m.at.starts_with(dir) {
                continue;
            }
            let Some(name) = m.at.strip_prefix(dir).and_then(|rest| rest.components().next().map(str::to_string))
            else {
                continue;
            };
            let is_mount_point = m.at.depth() == dir.depth() + 1;
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some(entry) if is_mount_point => entry.1 = Some(m),
                Some(_) => {}
                None => out.push((name, is_mount_point.then_some(m))),
            }
        }
        out
    }

    /// Routes `path` to its backend, with the error naming the path as the user gave it.
    fn backend(&self, path: &VirtualPath) -> Result<(Arc<dyn Storage>, VirtualPath), StorageError> {
        match self.route(path) {
            Some((m, inner)) => Ok((Arc::clone(&m.storage), inner)),
            // Virtual folders hold only their mount points.
            None if self.holds_mount(&path.parent()) => {
                Err(StorageError::new(StorageErrorKind::PermissionDenied, path.as_str()))
            }
            None => Err(StorageError::new(StorageErrorKind::NotFound, path.as_str())),
        }
    }

    /// Refuses changes to a mount point or a folder that holds one.
    fn not_a_mount(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if self.holds_mount(path) {
            return Err(StorageError::new(StorageErrorKind::MountPoint, path.as_str()));
        }
        Ok(())
    }

    async fn stat(&self, path: &VirtualPath, follow: bool) -> Result<Metadata, StorageError> {
        let result = match self.route(path) {
            Some((m, inner)) => {
                let r =
                    if follow { m.storage.metadata(&inner).await } else { m.storage.symlink_metadata(&inner).await };
                r.map_err(|e| renamed(e, path))
            }
            None => Err(StorageError::new(StorageErrorKind::NotFound, path.as_str())),
        };
        match result {
            Err(e) if e.kind == StorageErrorKind::NotFound && self.holds_mount(path) => Ok(virtual_dir()),
            r => r,
        }
    }
}

/// Metadata of a folder that exists only as the way to a mount point.
fn virtual_dir() -> Metadata {
    Metadata {
        kind: FileKind::Dir,
        size: 0,
        modified: SystemTime::UNIX_EPOCH,
        mode: 0o555,
        nlink: 2,
        uid: 0,
        gid: 0,
        unique: "virtual".into(),
        created: None,
        link_target: None,
    }
}

/// An error from a backend, naming the path as the user sees it.
fn renamed(mut e: StorageError, path: &VirtualPath) -> StorageError {
    e.path = path.to_string();
    e
}

#[async_trait]
impl Storage for MountedFs {
    async fn metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        self.stat(path, true).await
    }

    async fn symlink_metadata(&self, path: &VirtualPath) -> Result<Metadata, StorageError> {
        self.stat(path, false).await
    }

    async fn list(&self, path: &VirtualPath) -> Result<DirStream, StorageError> {
        let children = self.virtual_children(path);
        let real = match self.route(path) {
            Some((m, inner)) => match m.storage.list(&inner).await {
                Ok(rx) => Some(rx),
                Err(e) if e.kind == StorageErrorKind::NotFound && !children.is_empty() => None,
                Err(e) => return Err(renamed(e, path)),
            },
            None if !children.is_empty() => None,
            None => return Err(StorageError::new(StorageErrorKind::NotFound, path.as_str())),
        };
        if children.is_empty()
            && let Some(rx) = real
        {
            return Ok(rx);
        }
        let mut shown = Vec::with_capacity(children.len());
        for (name, mount) in &children {
            let metadata = match mount {
                Some(m) => m.storage.metadata(&VirtualPath::root()).await.unwrap_or_else(|_| virtual_dir()),
                None => virtual_dir(),
            };
            shown.push(DirEntry { name: name.clone(), metadata });
        }
        let (tx, rx) = mpsc::channel(LIST_CHANNEL_DEPTH);
        tokio::spawn(async move {
            let names: Vec<String> = shown.iter().map(|e| e.name.clone()).collect();
            for entry in shown {
                if tx.send(Ok(entry)).await.is_err() {
                    return;
                }
            }
            let Some(mut real) = real else { return };
            while let Some(item) = real.recv().await {
                // A mount point hides a real entry of the same name.
                if matches!(&item, Ok(e) if names.contains(&e.name)) {
                    continue;
                }
                if tx.send(item).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }

    async fn read(&self, path: &VirtualPath, offset: u64) -> Result<(ReadStream, Metadata), StorageError> {
        let (storage, inner) = self.backend(path)?;
        storage.read(&inner, offset).await.map_err(|e| renamed(e, path))
    }

    async fn upload_state(&self, path: &VirtualPath, uploader: &Uploader) -> Result<UploadState, StorageError> {
        if self.holds_mount(path) {
            return Err(StorageError::new(StorageErrorKind::IsADirectory, path.as_str()));
        }
        let (storage, inner) = self.backend(path)?;
        storage.upload_state(&inner, uploader).await.map_err(|e| renamed(e, path))
    }

    async fn write(&self, path: &VirtualPath, request: &UploadRequest) -> Result<Box<dyn Upload>, StorageError> {
        if self.holds_mount(path) {
            return Err(StorageError::new(StorageErrorKind::IsADirectory, path.as_str()));
        }
        let (storage, inner) = self.backend(path)?;
        storage.write(&inner, request).await.map_err(|e| renamed(e, path))
    }

    fn folders(&self) -> Vec<std::path::PathBuf> {
        self.mounts.iter().flat_map(|m| m.storage.folders()).collect()
    }

    async fn make_dir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        if self.holds_mount(path) {
            return Err(StorageError::new(StorageErrorKind::AlreadyExists, path.as_str()));
        }
        let (storage, inner) = self.backend(path)?;
        storage.make_dir(&inner).await.map_err(|e| renamed(e, path))
    }

    async fn remove_dir(&self, path: &VirtualPath) -> Result<Vec<Freed>, StorageError> {
        self.not_a_mount(path)?;
        let (storage, inner) = self.backend(path)?;
        storage.remove_dir(&inner).await.map_err(|e| renamed(e, path))
    }

    async fn remove_file(&self, path: &VirtualPath) -> Result<(), StorageError> {
        self.not_a_mount(path)?;
        let (storage, inner) = self.backend(path)?;
        storage.remove_file(&inner).await.map_err(|e| renamed(e, path))
    }

    async fn rename(&self, from: &VirtualPath, to: &VirtualPath, replace: bool) -> Result<(), StorageError> {
        self.not_a_mount(from)?;
        self.not_a_mount(to)?;
        let (Some((a, inner_from)), Some((b, inner_to))) = (self.route(from), self.route(to)) else {
            return Err(StorageError::new(StorageErrorKind::NotFound, from.as_str()));
        };
        if a.at != b.at {
            return Err(StorageError::new(StorageErrorKind::CrossFolder, to.as_str()));
        }
        a.storage.rename(&inner_from, &inner_to, replace).await.map_err(|e| {
            // The backend names the target when it is the target that is in the way.
            let shown = if e.kind == StorageErrorKind::AlreadyExists { to } else { from };
            renamed(e, shown)
        })
    }

    async fn set_mode(&self, path: &VirtualPath, mode: u32) -> Result<(), StorageError> {
        self.not_a_mount(path)?;
        let (storage, inner) = self.backend(path)?;
        storage.set_mode(&inner, mode).await.map_err(|e| renamed(e, path))
    }

    async fn set_modified(&self, path: &VirtualPath, time: std::time::SystemTime) -> Result<(), StorageError> {
        self.not_a_mount(path)?;
        let (storage, inner) = self.backend(path)?;
        storage.set_modified(&inner, time).await.map_err(|e| renamed(e, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::LocalFs;

    fn p(s: &str) -> VirtualPath {
        VirtualPath::root().join(s)
    }

    async fn names(fs: &MountedFs, dir: &str) -> Vec<String> {
        let mut rx = fs.list(&p(dir)).await.unwrap();
        let mut out = Vec::new();
        while let Some(e) = rx.recv().await {
            out.push(e.unwrap().name);
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn mounts_route_list_and_guard() {
        let home = tempfile::tempdir().unwrap();
        let shared = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("own.txt"), b"mine").unwrap();
        std::fs::create_dir(home.path().join("shared")).unwrap();
        std::fs::write(home.path().join("shared/hidden.txt"), b"x").unwrap();
        std::fs::write(shared.path().join("team.txt"), b"ours").unwrap();
        let fs = MountedFs::new([
            (p("/"), Arc::new(LocalFs::open(home.path()).unwrap()) as Arc<dyn Storage>),
            (p("/shared"), Arc::new(LocalFs::open(shared.path()).unwrap()) as Arc<dyn Storage>),
            (p("/deep/er/data"), Arc::new(LocalFs::open(shared.path()).unwrap()) as Arc<dyn Storage>),
        ]);
        assert_eq!(names(&fs, "/").await, ["deep", "own.txt", "shared"]);
        // The mount hides the home's own `shared` folder.
        assert_eq!(names(&fs, "/shared").await, ["team.txt"]);
        assert_eq!(names(&fs, "/deep").await, ["er"]);
        assert_eq!(names(&fs, "/deep/er").await, ["data"]);
        assert_eq!(fs.metadata(&p("/deep/er")).await.unwrap().kind, FileKind::Dir);
        assert_eq!(fs.metadata(&p("/shared/team.txt")).await.unwrap().size, 4);
        assert_eq!(fs.metadata(&p("/nope")).await.unwrap_err().kind, StorageErrorKind::NotFound);
        assert_eq!(fs.remove_dir(&p("/shared")).await.unwrap_err().kind, StorageErrorKind::MountPoint);
        assert_eq!(fs.remove_dir(&p("/deep")).await.unwrap_err().kind, StorageErrorKind::MountPoint);
        assert_eq!(fs.rename(&p("/shared"), &p("/x"), true).await.unwrap_err().kind, StorageErrorKind::MountPoint);
        let e = fs.rename(&p("/own.txt"), &p("/shared/own.txt"), true).await.unwrap_err();
        assert_eq!((e.kind, e.path.as_str()), (StorageErrorKind::CrossFolder, "/shared/own.txt"));
        fs.rename(&p("/shared/team.txt"), &p("/shared/t2.txt"), false).await.unwrap();
        assert!(shared.path().join("t2.txt").exists());
        let e = fs.remove_file(&p("/shared/missing")).await.unwrap_err();
        assert_eq!(e.path, "/shared/missing", "errors name the path as the user sees it");
    }

    #[tokio::test]
    async fn without_a_root_mount_the_root_is_virtual() {
        let shared = tempfile::tempdir().unwrap();
        let fs = MountedFs::new([(p("/pub"), Arc::new(LocalFs::open(shared.path()).unwrap()) as Arc<dyn Storage>)]);
        assert_eq!(names(&fs, "/").await, ["pub"]);
        assert_eq!(fs.metadata(&p("/")).await.unwrap().kind, FileKind::Dir);
        assert_eq!(fs.make_dir(&p("/new")).await.unwrap_err().kind, StorageErrorKind::PermissionDenied);
        assert_eq!(
            fs.write(&p("/f"), &crate::storage::tests::new_upload("x")).await.err().unwrap().kind,
            StorageErrorKind::PermissionDenied
        );
        fs.make_dir(&p("/pub/new")).await.unwrap();
        assert!(shared.path().join("new").is_dir());
    }
}
