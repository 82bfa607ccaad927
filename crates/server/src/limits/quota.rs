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

    /// Who shares this quota (`user:NAME` or `group:NAME`).
    pub fn owner(&self) -> &str {
        &self.owner
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

/// What an upload does to a quota's count, decided before it starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaPlan {
    /// Bytes counted already that the upload gives up when it opens (an
    /// interrupted upload it discards or cuts short).
    pub releases: u64,
    /// Bytes the upload adds when it opens (what it copies from the file it
    /// restarts below the end of).
    pub adds: u64,
    /// Bytes counted already that the upload builds on (the part of an
    /// interrupted upload it continues).
    pub continues: u64,
    /// Size of the file the committed upload replaces.
    pub replaces: u64,
    /// The committed upload is a file more.
    pub new_file: bool,
    /// What arrived stays (staged, or appended in place) if the upload is
    /// interrupted, and so stays counted.
    pub keeps_partial: bool,
}

/// What one upload has counted against a quota. Nothing changes until
/// [`opened`](QuotaCharge::opened): an upload that could not be opened
/// counts for nothing. Dropped without [`commit`](QuotaCharge::commit), it
/// gives back what the upload counted unless the upload keeps its data
/// ([`QuotaPlan::keeps_partial`]); [`discard`](QuotaCharge::discard) and
/// [`discard_all`](QuotaCharge::discard_all) say when it did not.
#[derive(Debug)]
pub struct QuotaCharge {
    usage: Arc<QuotaUsage>,
    plan: QuotaPlan,
    counted: u64,
    done: bool,
}

impl QuotaCharge {
    /// Checks that the upload may start: refuses when nothing more fits.
    pub fn start(usage: Arc<QuotaUsage>, plan: QuotaPlan) -> Result<QuotaCharge, String> {
        usage.check_start(plan.new_file)?;
        let (max_bytes, _) = usage.limits();
        let after = usage.usage().0.saturating_sub(plan.releases).saturating_add(plan.adds);
        if max_bytes.is_some_and(|m| after > m) {
            return Err(usage.exceeded());
        }
        Ok(QuotaCharge { usage, plan, counted: 0, done: false })
    }

    /// The upload is open: what it gives up and what it copied count now.
    pub fn opened(&mut self) {
        self.usage.refund(self.plan.releases);
        self.usage.used().bytes += self.plan.adds;
        self.counted += self.plan.adds;
    }

    /// Counts `bytes` about to be written; refuses past the limit.
    pub fn charge(&mut self, bytes: u64) -> Result<(), String> {
        self.usage.charge(bytes)?;
        self.counted += bytes;
        Ok(())
    }

    /// The upload is complete and in place.
    pub fn commit(mut self) {
        self.done = true;
        self.usage.refund(self.plan.replaces);
        if self.plan.new_file {
            self.usage.added_file();
        }
    }

    /// What this upload wrote is gone (what it continued stays): given back.
    pub fn discard(mut self) {
        self.done = true;
        self.usage.refund(self.counted);
    }

    /// Everything staged is gone, what this upload continued too: given back.
    pub fn discard_all(mut self) {
        self.done = true;
        self.usage.refund(self.counted + self.plan.continues);
    }
}

impl Drop for QuotaCharge {
    fn drop(&mut self) {
        if !self.done && !self.plan.keeps_partial {
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

impl Quotas {
    /// `bytes` of interrupted uploads that the quota tagged `tag` counted
    /// (see `storage::quota_tag`) were removed: that quota gives them back.
    /// A quota nobody uses now is measured afresh when it is next used.
    pub async fn released(&self, tag: &str, bytes: u64) {
        let map = self.map.lock().await;
        for (owner, usage) in map.iter() {
            if crate::storage::quota_tag(owner) == tag
                && let Some(usage) = usage.upgrade()
            {
                usage.refund(bytes);
            }
        }
    }
}

/// Bytes and files beneath `roots`, symlinks not followed, each directory
/// once. Interrupted uploads staged for their owners count their bytes (they
/// take the space) but are no files yet.
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
        let staging = dir.file_name().is_some_and(|n| n == crate::storage::STAGING_DIR);
        for entry in entries.flatten() {
            let Ok(m) = entry.metadata() else { continue };
            if m.is_dir() && !staging {
                stack.push(entry.path());
            } else if m.is_file() && staging {
                used.bytes += m.len();
            } else if m.is_file() && !crate::storage::is_reserved(&entry.file_name().to_string_lossy()) {
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

    fn plan(new_file: bool, replaces: u64, keeps_partial: bool) -> QuotaPlan {
        QuotaPlan { new_file, replaces, keeps_partial, ..QuotaPlan::default() }
    }

    #[test]
    fn uploads_count_and_discarded_ones_give_back() {
        let u = usage(Some(100), Some(3), 10, 1);
        let mut c = QuotaCharge::start(Arc::clone(&u), plan(true, 0, false)).unwrap();
        c.opened();
        c.charge(60).unwrap();
        assert!(c.charge(31).unwrap_err().contains("70 B of 100 B used"));
        drop(c);
        assert_eq!(u.usage(), (10, 1), "a discarded upload gives its bytes back");
        let mut c = QuotaCharge::start(Arc::clone(&u), plan(true, 0, false)).unwrap();
        c.charge(50).unwrap();
        c.commit();
        assert_eq!(u.usage(), (60, 2));
        // Replacing a 50-byte file with 20 bytes.
        let mut c = QuotaCharge::start(Arc::clone(&u), plan(false, 50, false)).unwrap();
        c.charge(20).unwrap();
        c.commit();
        assert_eq!(u.usage(), (30, 2));
        // An append (or a staged upload) that is interrupted keeps what it wrote...
        let mut c = QuotaCharge::start(Arc::clone(&u), plan(false, 0, true)).unwrap();
        c.charge(5).unwrap();
        drop(c);
        assert_eq!(u.usage(), (35, 2));
        // ...unless its data is discarded.
        let mut c = QuotaCharge::start(Arc::clone(&u), plan(true, 0, true)).unwrap();
        c.charge(7).unwrap();
        c.discard();
        assert_eq!(u.usage(), (35, 2));
        // Continuing 5 staged bytes from byte 2: 3 go back once it is open...
        let mut c =
            QuotaCharge::start(Arc::clone(&u), QuotaPlan { releases: 3, continues: 2, ..plan(true, 0, true) }).unwrap();
        assert_eq!(u.usage(), (35, 2), "nothing changes before the upload is open");
        c.opened();
        assert_eq!(u.usage(), (32, 2));
        c.charge(4).unwrap();
        // ...and if it all goes (its name taken meanwhile), the 2 it continued go back too.
        c.discard_all();
        assert_eq!(u.usage(), (30, 2));
        let mut c = QuotaCharge::start(Arc::clone(&u), plan(true, 0, true)).unwrap();
        c.opened();
        c.commit();
        assert_eq!(u.usage(), (30, 3));
        u.removed(20);
        assert_eq!(u.usage(), (10, 2));
        // A restart below the end of a 10-byte file copies 4 bytes first.
        let mut c = QuotaCharge::start(Arc::clone(&u), QuotaPlan { adds: 4, ..plan(false, 10, true) }).unwrap();
        c.opened();
        c.commit();
        assert_eq!(u.usage(), (4, 2));
        // An upload that could not be opened changes nothing.
        let c = QuotaCharge::start(Arc::clone(&u), QuotaPlan { releases: 4, ..plan(true, 0, true) }).unwrap();
        drop(c);
        assert_eq!(u.usage(), (4, 2));
    }

    #[test]
    fn full_quotas_refuse_to_start() {
        let u = usage(None, Some(2), 0, 2);
        assert!(QuotaCharge::start(Arc::clone(&u), plan(true, 0, false)).unwrap_err().contains("2 of 2 files"));
        assert!(QuotaCharge::start(Arc::clone(&u), plan(false, 5, false)).is_ok(), "replacing adds no file");
        let u = usage(Some(10), None, 10, 0);
        assert!(QuotaCharge::start(Arc::clone(&u), plan(false, 5, false)).is_err());
        // A copy that would not fit is refused before anything is copied.
        let u = usage(Some(10), None, 4, 1);
        assert!(QuotaCharge::start(u, QuotaPlan { adds: 7, ..plan(false, 9, true) }).is_err());
    }

    #[tokio::test]
    async fn expired_staged_uploads_go_back_to_the_quota_that_counted_them() {
        let quotas = Quotas::default();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), [0u8; 10]).unwrap();
        let u = quotas.get("user:u", (None, None), vec![dir.path().to_path_buf()]).await;
        let v = quotas.get("user:v", (None, None), vec![dir.path().to_path_buf()]).await;
        assert_eq!(u.usage(), (10, 1));
        u.charge(6).unwrap();
        quotas.released(&crate::storage::quota_tag("user:u"), 6).await;
        assert_eq!(u.usage(), (10, 1));
        assert_eq!(v.usage(), (10, 1), "v shares the folder but never counted them");
    }

    #[test]
    fn measuring_skips_links_and_uploads_in_progress() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::fs::write(dir.path().join("a/b/f"), [0u8; 100]).unwrap();
        std::fs::write(dir.path().join("g"), [0u8; 11]).unwrap();
        std::fs::write(dir.path().join(".ferroftp-upload-x"), [0u8; 50]).unwrap();
        std::fs::create_dir(dir.path().join("a/.ferroftp-staging")).unwrap();
        std::fs::write(dir.path().join("a/.ferroftp-staging/0123"), [0u8; 7]).unwrap();
        std::os::unix::fs::symlink("/usr", dir.path().join("link")).unwrap();
        let roots = vec![dir.path().to_path_buf(), dir.path().join("a")];
        assert_eq!(measure(&roots), Used { bytes: 118, files: 2 }, "staged bytes count, as no file");
    }
}
