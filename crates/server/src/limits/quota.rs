//! Storage quotas: bytes and files a user (or a group, shared by its members)
//! may keep in their folders.
//!
//! Usage is measured once, by walking the quota's folders when its first user
//! logs in after a start or reload, and is then kept up to date by the
//! server's own uploads and deletions. Uploads are counted while data arrives,
//! so a transfer stops at the limit (552), not after it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use crate::config::values::format_bytes;

/// Limits: bytes, files.
pub type QuotaLimits = (Option<u64>, Option<u64>);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Used {
    bytes: u64,
    files: u64,
}

/// One quota's limits and usage.
#[derive(Debug)]
pub struct QuotaUsage {
    owner: String,
    limits: Mutex<QuotaLimits>,
    used: Mutex<Used>,
}

impl QuotaUsage {
    fn used(&self) -> std::sync::MutexGuard<'_, Used> {
        self.used.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn limits(&self) -> QuotaLimits {
        *self.limits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// (bytes, files) in use.
    pub fn usage(&self) -> (u64, u64) {
        let u = *self.used();
        (u.bytes, u.files)
    }

    /// Why nothing more fits, for the 552 reply.
    fn exceeded(&self) -> String {
        let (max_bytes, max_files) = self.limits();
        let u = *self.used();
        let bytes = max_bytes.map(|m| format!("{} of {} used", format_bytes(u.bytes), format_bytes(m)));
        let files = max_files.map(|m| format!("{} of {m} files", u.files));
        let what: Vec<String> = bytes.into_iter().chain(files).collect();
        format!("Quota exceeded ({}; quota of {}).", what.join(", "), self.owner.replace(':', " "))
    }

    /// Refuses to start an upload when nothing more fits: no byte left, or (for
    /// a new file) no file left.
    pub fn check_start(&self, new_file: bool) -> Result<(), String> {
        let (max_bytes, max_files) = self.limits();
        let u = *self.used();
        let full = max_bytes.is_some_and(|m| u.bytes >= m) || (new_file && max_files.is_some_and(|m| u.files >= m));
        if full { Err(self.exceeded()) } else { Ok(()) }
    }

    /// Counts `bytes` more, unless that would pass the limit.
    fn charge(&self, bytes: u64) -> Result<(), String> {
        let (max_bytes, _) = self.limits();
        let mut u = self.used();
        if max_bytes.is_some_and(|m| u.bytes.saturating_add(bytes) > m) {
            drop(u);
            return Err(self.exceeded());
        }
        u.bytes += bytes;
        Ok(())
    }

    fn refund(&self, bytes: u64) {
        let mut u = self.used();
        u.bytes = u.bytes.saturating_sub(bytes);
    }

    /// A file of `size` bytes was removed.
    pub fn removed(&self, size: u64) {
        let mut u = self.used();
        u.bytes = u.bytes.saturating_sub(size);
        u.files = u.files.saturating_sub(1);
    }

    fn added_file(&self) {
        self.used().files += 1;
    }
}

/// What one upload has counted against a quota. Dropped without
/// [`commit`](QuotaCharge::commit), it gives back what the discarded upload
/// had counted (unless the upload writes in place and keeps its data).
#[derive(Debug)]
pub struct QuotaCharge {
    usage: Arc<QuotaUsage>,
    counted: u64,
    /// Size of the file a committed upload replaces.
    replaces: u64,
    new_file: bool,
    /// The upload writes in place (APPE, REST+STOR): its data stays on failure.
    keeps_partial: bool,
    committed: bool,
}

impl QuotaCharge {
    /// Starts counting an upload. `existing` is the size of the file already
    /// there; `cut_at` the offset a resumed upload truncates it to.
    pub fn start(
        usage: Arc<QuotaUsage>,
        existing: Option<u64>,
        in_place: bool,
        cut_at: Option<u64>,
    ) -> Result<QuotaCharge, String> {
        let new_file = existing.is_none();
        usage.check_start(new_file)?;
        if let (Some(size), Some(offset)) = (existing, cut_at) {
            usage.refund(size.saturating_sub(offset));
        }
        if in_place && new_file {
            usage.added_file();
        }
        Ok(QuotaCharge {
            replaces: if in_place { 0 } else { existing.unwrap_or(0) },
            new_file: new_file && !in_place,
            keeps_partial: in_place,
            usage,
            counted: 0,
            committed: false,
        })
    }

    /// Counts `bytes` about to be written; refuses past the limit.
    pub fn charge(&mut self, bytes: u64) -> Result<(), String> {
        self.usage.charge(bytes)?;
        self.counted += bytes;
        Ok(())
    }

    /// The upload is complete and in place.
    pub fn commit(mut self) {
        self.committed = true;
        self.usage.refund(self.replaces);
        if self.new_file {
            self.usage.added_file();
        }
    }
}

impl Drop for QuotaCharge {
    fn drop(&mut self) {
        if !self.committed && !self.keeps_partial {
            self.usage.refund(self.counted);
        }
    }
}

/// Every quota in use, by owner (`user:NAME` or `group:NAME`), so the sessions
/// of one owner share one count.
#[derive(Debug, Default)]
pub struct Quotas {
    map: tokio::sync::Mutex<HashMap<String, Weak<QuotaUsage>>>,
}

impl Quotas {
    /// The quota of `owner`, measured from `roots` if nobody is using it yet.
    pub async fn get(&self, owner: &str, limits: QuotaLimits, roots: Vec<PathBuf>) -> Arc<QuotaUsage> {
        let mut map = self.map.lock().await;
        map.retain(|_, w| w.strong_count() > 0);
        if let Some(existing) = map.get(owner).and_then(Weak::upgrade) {
            *existing.limits.lock().unwrap_or_else(|e| e.into_inner()) = limits;
            return existing;
        }
        let used = tokio::task::spawn_blocking(move || measure(&roots)).await.unwrap_or_default();
        tracing::info!(owner, bytes = used.bytes, files = used.files, "quota usage measured");
        let usage =
            Arc::new(QuotaUsage { owner: owner.to_string(), limits: Mutex::new(limits), used: Mutex::new(used) });
        map.insert(owner.to_string(), Arc::downgrade(&usage));
        usage
    }
}

/// Bytes and files beneath `roots`, symlinks not followed, each directory once.
fn measure(roots: &[PathBuf]) -> Used {
    let mut used = Used::default();
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<PathBuf> = roots.to_vec();
    while let Some(dir) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&dir) else { continue };
        if !meta.is_dir() || !seen.insert(std::os::unix::fs::MetadataExt::ino(&meta)) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(m) = entry.metadata() else { continue };
            if m.is_dir() {
                stack.push(entry.path());
            } else if m.is_file() && !entry.file_name().to_string_lossy().starts_with(".ferroftp-upload-") {
                used.bytes += m.len();
                used.files += 1;
            }
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(max_bytes: Option<u64>, max_files: Option<u64>, bytes: u64, files: u64) -> Arc<QuotaUsage> {
        Arc::new(QuotaUsage {
            owner: "user:u".into(),
            limits: Mutex::new((max_bytes, max_files)),
            used: Mutex::new(Used { bytes, files }),
        })
    }

    #[test]
    fn uploads_count_and_discarded_ones_give_back() {
        let u = usage(Some(100), Some(3), 10, 1);
        let mut c = QuotaCharge::start(Arc::clone(&u), None, false, None).unwrap();
        c.charge(60).unwrap();
        assert!(c.charge(31).unwrap_err().contains("70 B of 100 B used"));
        drop(c);
        assert_eq!(u.usage(), (10, 1), "a discarded upload gives its bytes back");
        let mut c = QuotaCharge::start(Arc::clone(&u), None, false, None).unwrap();
        c.charge(50).unwrap();
        c.commit();
        assert_eq!(u.usage(), (60, 2));
        // Replacing a 50-byte file with 20 bytes.
        let mut c = QuotaCharge::start(Arc::clone(&u), Some(50), false, None).unwrap();
        c.charge(20).unwrap();
        c.commit();
        assert_eq!(u.usage(), (30, 2));
        // An append that fails keeps what it wrote.
        let mut c = QuotaCharge::start(Arc::clone(&u), Some(20), true, None).unwrap();
        c.charge(5).unwrap();
        drop(c);
        assert_eq!(u.usage(), (35, 2));
        u.removed(25);
        assert_eq!(u.usage(), (10, 1));
    }

    #[test]
    fn full_quotas_refuse_to_start() {
        let u = usage(None, Some(2), 0, 2);
        assert!(QuotaCharge::start(Arc::clone(&u), None, false, None).unwrap_err().contains("2 of 2 files"));
        assert!(QuotaCharge::start(Arc::clone(&u), Some(5), false, None).is_ok(), "replacing adds no file");
        let u = usage(Some(10), None, 10, 0);
        assert!(QuotaCharge::start(u, Some(5), false, None).is_err());
    }

    #[test]
    fn measuring_skips_links_and_uploads_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/f"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("g"), [0u8; 11]).unwrap();
        std::fs::write(dir.path().join(".ferroftp-upload-x"), [0u8; 50]).unwrap();
        std::os::unix::fs::symlink("/usr", dir.path().join("link")).unwrap();
        let roots = vec![dir.path().to_path_buf(), dir.path().join("a")];
        assert_eq!(measure(&roots), Used { bytes: 111, files: 2 });
    }
}
