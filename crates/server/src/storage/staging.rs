//! Where uploads wait until they are complete (local file system).
//!
//! An upload is written into a folder `.ferroftp-staging` inside the folder
//! it goes to (the same file system, so committing it is one rename), under a
//! name made from its owner and the target's name: 32 hex digits, whatever
//! the target name's length. It gets the target's name only when complete.
//! What arrived of an interrupted upload stays staged for its owner to
//! continue (`REST` + `STOR`, `APPE`) until it expires. A staging folder
//! stays between uploads into its folder and is removed by the sweeper once
//! empty (within a minute). No client can name, list or read a staging
//! folder (names beginning with `.ferroftp-` are reserved).
//!
//! The upload writing a staged file holds an exclusive `flock` on it; the
//! sweeper removes only files nobody holds, and checks under the lock that
//! the name still refers to the file it locked.
//!
//! Staging folders are found by the uploads that create them (registered
//! here), and at start by a walk of the served folders (leftovers of a server
//! that was killed, and temporary files of earlier versions).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use cap_std::fs::Dir;
use sha2::{Digest, Sha256};

/// The staging folder's name, in each folder that receives uploads.
pub(crate) const STAGING_DIR: &str = ".ferroftp-staging";

/// Temporary files of versions before staging folders: `.ferroftp-upload-*`
/// beside their target. Only a killed server left them; the start-up walk
/// removes them.
const LEGACY_PREFIX: &str = ".ferroftp-upload-";

/// The staged name of `uploader`'s upload to `name`: 32 hex digits from the
/// owner and the name, then, if a quota counts it, `-` and the quota's tag,
/// so that the bytes go back to that quota when they expire.
pub(crate) fn staged_name(uploader: &super::Uploader, name: &OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut h = Sha256::new();
    h.update(uploader.owner.as_bytes());
    h.update([0]);
    h.update(name.as_bytes());
    let mut staged: String = h.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect();
    if let Some(quota) = &uploader.quota {
        staged.push('-');
        staged.push_str(&quota_tag(quota));
    }
    staged
}

/// A quota's tag in staged names: 12 hex digits of its owner (`user:NAME`,
/// `group:NAME`).
pub fn quota_tag(quota: &str) -> String {
    Sha256::digest(quota.as_bytes())[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The quota tag in a staged name, if it has one.
fn tag_of(staged: &str) -> Option<String> {
    staged.split_once('-').map(|(_, tag)| tag.to_string())
}

/// Real paths of folders that hold (or held) a staging folder.
static KNOWN: LazyLock<Mutex<BTreeSet<PathBuf>>> = LazyLock::new(Default::default);

fn known() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    KNOWN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Remembers that `folder` (a real path) has a staging folder.
pub(crate) fn register(folder: PathBuf) {
    known().insert(folder);
}

/// Locks a file for the caller, without waiting: `Ok(false)` if another
/// holds it.
pub(crate) fn try_lock(file: &std::fs::File) -> io::Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Locks a staged file for an upload: waits a few milliseconds for a
/// sweeper that holds it while it looks, no longer for an upload that does.
pub(crate) fn lock_for_upload(file: &std::fs::File) -> io::Result<bool> {
    for _ in 0..10 {
        if try_lock(file)? {
            return Ok(true);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Ok(false)
}

/// The real folders `from` (a folder renamed to `to`) held with staging
/// folders now are beneath `to`.
pub(crate) fn moved(from: &Path, to: &Path) {
    let mut known = known();
    let renamed: Vec<PathBuf> = known.iter().filter(|f| f.starts_with(from)).cloned().collect();
    for old in renamed {
        known.remove(&old);
        if let Ok(rest) = old.strip_prefix(from) {
            known.insert(to.join(rest));
        }
    }
}

/// Removes the staging folder of `dir` and what it holds (when `dir`, which
/// a client sees as empty, is removed); returns what was removed. Fails with
/// "directory not empty" while an upload into `dir` is running.
pub(crate) fn clear(dir: &Dir) -> io::Result<Vec<super::Freed>> {
    let staging = dir.open_dir(STAGING_DIR)?;
    let mut removed = Vec::new();
    for entry in staging.entries()? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let file = staging.open(&name)?.into_std();
        if !try_lock(&file)? {
            return Err(io::Error::from(io::ErrorKind::DirectoryNotEmpty));
        }
        if is_same_file(&staging, &name, &file)? {
            removed.push(super::Freed { bytes: file.metadata()?.len(), quota: tag_of(&name) });
            staging.remove_file(&name)?;
        }
    }
    dir.remove_dir(STAGING_DIR)?;
    Ok(removed)
}

/// True if `name` in `dir` is still the file `file` is open on.
pub(crate) fn is_same_file(dir: &Dir, name: &str, file: &std::fs::File) -> io::Result<bool> {
    use cap_std::fs::MetadataExt as _;
    use std::os::unix::fs::MetadataExt as _;
    let held = file.metadata()?;
    Ok(match dir.symlink_metadata(name) {
        Ok(named) => (named.dev(), named.ino()) == (held.dev(), held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    })
}

/// What a sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StagingSweep {
    /// Staged uploads removed.
    pub removed: Vec<super::Freed>,
    /// Staged uploads kept (not expired, or being written).
    pub kept: usize,
}

/// Removes every staged upload not written to for `keep` (all of them that
/// no upload holds, with `keep` zero) from the known staging folders beneath
/// `roots`, and the staging folders that end up empty.
pub fn sweep(keep: Duration, roots: &[PathBuf]) -> StagingSweep {
    let folders: Vec<PathBuf> = known().iter().filter(|f| roots.iter().any(|r| f.starts_with(r))).cloned().collect();
    let mut out = StagingSweep::default();
    let now = SystemTime::now();
    for folder in folders {
        match sweep_folder(&folder, keep, now, &mut out) {
            Ok(true) => {}
            // The staging folder is gone (or the folder is), unless an upload
            // made it again meanwhile: checked under the lock that uploads
            // register under.
            Ok(false) => {
                let mut known = known();
                if !folder.join(STAGING_DIR).exists() {
                    known.remove(&folder);
                }
            }
            Err(e) => tracing::warn!(folder = %folder.display(), error = %e, "cannot sweep a staging folder"),
        }
    }
    out
}

/// Sweeps the staging folder of `folder`; `Ok(false)` once it no longer exists.
fn sweep_folder(folder: &Path, keep: Duration, now: SystemTime, out: &mut StagingSweep) -> io::Result<bool> {
    let parent = match Dir::open_ambient_dir(folder, cap_std::ambient_authority()) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let staging = match parent.open_dir(STAGING_DIR) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    for entry in staging.entries()? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(meta) = entry.metadata() else { continue };
        let age = meta.modified().ok().and_then(|t| now.duration_since(t.into_std()).ok()).unwrap_or_default();
        if !meta.is_file() || age < keep {
            out.kept += 1;
            continue;
        }
        let Ok(file) = staging.open(&name).map(cap_std::fs::File::into_std) else { continue };
        if !try_lock(&file)? || !is_same_file(&staging, &name, &file)? {
            out.kept += 1; // being written, or replaced since it was listed
            continue;
        }
        // Written to since it was listed (continued, then interrupted again)?
        let written = file.metadata()?.modified().ok().and_then(|t| now.duration_since(t).ok()).unwrap_or_default();
        if written < keep {
            out.kept += 1;
            continue;
        }
        staging.remove_file(&name)?;
        tracing::info!(folder = %folder.display(), bytes = meta.len(), "removed an expired interrupted upload");
        out.removed.push(super::Freed { bytes: meta.len(), quota: tag_of(&name) });
    }
    // Gone once empty; a new upload creates it again.
    Ok(parent.remove_dir(STAGING_DIR).is_err())
}

/// Walks `roots` (at most `max_dirs` folders in all) for staging folders
/// left by an earlier run and registers them for the sweeper; removes the
/// temporary files of earlier versions. Returns the folders visited.
pub fn discover(roots: &[PathBuf], max_dirs: usize) -> usize {
    let mut stack: Vec<PathBuf> = roots.to_vec();
    let mut seen = std::collections::HashSet::new();
    let mut visited = 0;
    while let Some(dir) = stack.pop() {
        if visited >= max_dirs {
            tracing::warn!(max_dirs, "stopped looking for interrupted uploads: too many folders");
            break;
        }
        let Ok(meta) = std::fs::symlink_metadata(&dir) else { continue };
        if !meta.is_dir()
            || !seen.insert((std::os::unix::fs::MetadataExt::dev(&meta), std::os::unix::fs::MetadataExt::ino(&meta)))
        {
            continue;
        }
        visited += 1;
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Ok(kind) = entry.file_type() else { continue };
            if name == STAGING_DIR {
                register(dir.clone());
            } else if name.to_string_lossy().starts_with(LEGACY_PREFIX) && kind.is_file() {
                if std::fs::remove_file(entry.path()).is_ok() {
                    tracing::info!(path = %entry.path().display(), "removed a temporary upload file of an earlier version");
                }
            } else if kind.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    visited
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(owner: &str, quota: Option<&str>) -> super::super::Uploader {
        super::super::Uploader { owner: owner.into(), quota: quota.map(str::to_string) }
    }

    #[test]
    fn staged_names_have_one_length_and_depend_on_owner_and_name() {
        let long = "n".repeat(255);
        let a = staged_name(&who("alice", None), OsStr::new(&long));
        assert_eq!(a.len(), 32);
        assert_eq!(staged_name(&who("alice", None), OsStr::new("x")).len(), 32);
        assert_ne!(a, staged_name(&who("bob", None), OsStr::new(&long)));
        assert_ne!(
            staged_name(&who("alice", None), OsStr::new("ab")),
            staged_name(&who("alice\0a", None), OsStr::new("b"))
        );
        // The quota that counts it is in the name, for the sweeper.
        let counted = staged_name(&who("alice", Some("group:staff")), OsStr::new("x"));
        assert_eq!(counted.len(), 32 + 1 + 12);
        assert_eq!(tag_of(&counted), Some(quota_tag("group:staff")));
        assert_eq!(tag_of(&a), None);
    }

    #[test]
    fn the_sweep_removes_expired_unlocked_files_and_empty_folders() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("f");
        let staging = folder.join(STAGING_DIR);
        std::fs::create_dir_all(&staging).unwrap();
        std::fs::write(staging.join("expired-0123456789ab"), b"12345").unwrap();
        std::fs::write(staging.join("held"), b"123").unwrap();
        let held = std::fs::OpenOptions::new().write(true).open(staging.join("held")).unwrap();
        assert!(try_lock(&held).unwrap());
        std::fs::write(folder.join(".ferroftp-upload-0011-old.bin"), b"legacy").unwrap();
        assert!(discover(&[dir.path().to_path_buf()], 100) >= 2);
        assert!(!folder.join(".ferroftp-upload-0011-old.bin").exists(), "legacy temporary file removed");
        let roots = [dir.path().to_path_buf()];
        // Nothing is old enough for a day's retention.
        let s = sweep(Duration::from_secs(86_400), &roots);
        assert!(s.removed.is_empty(), "{s:?}");
        // Another server's folders are not this one's to sweep.
        assert!(sweep(Duration::ZERO, &[PathBuf::from("/elsewhere")]).removed.is_empty());
        // With no retention, what nobody holds goes; the held file stays.
        let s = sweep(Duration::ZERO, &roots);
        assert_eq!(s.removed, [super::super::Freed { bytes: 5, quota: Some("0123456789ab".into()) }]);
        assert!(staging.join("held").exists());
        drop(held);
        let s = sweep(Duration::ZERO, &roots);
        assert_eq!(s.removed, [super::super::Freed { bytes: 3, quota: None }]);
        assert!(!staging.exists(), "the empty staging folder is removed");
        assert!(!known().contains(&folder));
    }
}
