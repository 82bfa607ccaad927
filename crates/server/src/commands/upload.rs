//! What `STOR`, `APPE` and `STOU` share: what an upload does to what is
//! stored under its name, the rights that takes, and starting it.
//!
//! The rules (README, "Rights"); anything that removes or replaces bytes
//! already stored needs `delete`:
//! - a new file needs `write`;
//! - a new version of a file (`STOR` over it) needs `write` and `delete`;
//! - appending (`APPE`, or `REST` at exactly a file's size, then `STOR`)
//!   needs `append`;
//! - restarting below a file's size cuts bytes off it: `append` and `delete`;
//! - continuing one's own interrupted upload needs `write`, and `delete` when
//!   it will replace a file.
//!
//! The rights are checked against what the name holds when the command
//! arrives; the storage enforces them again when the upload is opened and
//! committed. Users without `delete` get create-only uploads: a name taken
//! by someone else while the upload ran is not replaced (`553`).

use super::{HandlerResult, mode_label};
use crate::auth::Right;
use crate::data::Job;
use crate::error::{CommandError, StorageError, StorageErrorKind};
use crate::limits::QuotaPlan;
use crate::session::{Session, TransferType};
use crate::storage::{UploadRequest, UploadStart, UploadState, VirtualPath};

/// What an upload does to what its name holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    /// A new file.
    Create,
    /// A new version of a file of `old` bytes.
    Replace { old: u64 },
    /// The owner's interrupted upload of `partial` bytes, continued from
    /// `from`; it replaces a complete file of that size when committed.
    Continue { from: u64, partial: u64, replaces: Option<u64> },
    /// Bytes added in place at the end of a file of `at` bytes.
    Append { at: u64 },
    /// A file of `old` bytes rewritten from `at` on: a new version made of its
    /// first `at` bytes and what arrives.
    Cut { at: u64, old: u64 },
}

impl Effect {
    /// What an upload starting at `start` does, given what the name holds;
    /// `None` for a restart beyond the end of what is there.
    pub(crate) fn of(start: UploadStart, state: UploadState) -> Option<Effect> {
        let at = match start {
            UploadStart::New => {
                return Some(match state.complete {
                    Some(old) => Effect::Replace { old },
                    None => Effect::Create,
                });
            }
            UploadStart::At(n) => Some(n),
            UploadStart::End => None,
        };
        if let Some(partial) = state.partial {
            let from = at.unwrap_or(partial);
            return (from <= partial).then_some(Effect::Continue { from, partial, replaces: state.complete });
        }
        match state.complete {
            Some(size) => {
                let at = at.unwrap_or(size);
                match at.cmp(&size) {
                    std::cmp::Ordering::Greater => None,
                    std::cmp::Ordering::Equal => Some(Effect::Append { at }),
                    std::cmp::Ordering::Less => Some(Effect::Cut { at, old: size }),
                }
            }
            None => (at.unwrap_or(0) == 0).then_some(Effect::Create),
        }
    }

    /// The rights the effect needs at the path.
    pub(crate) fn rights(self) -> &'static [Right] {
        match self {
            Effect::Create | Effect::Continue { replaces: None, .. } => &[Right::Write],
            Effect::Replace { .. } | Effect::Continue { replaces: Some(_), .. } => &[Right::Write, Right::Delete],
            Effect::Append { .. } => &[Right::Append],
            Effect::Cut { .. } => &[Right::Append, Right::Delete],
        }
    }

    /// How the upload counts against a quota; `partial` is the owner's
    /// interrupted upload that a new one discards.
    fn quota(self, partial: Option<u64>, keeps_partial: bool) -> QuotaPlan {
        let discarded = partial.unwrap_or(0);
        match self {
            Effect::Create => QuotaPlan { releases: discarded, new_file: true, keeps_partial, ..QuotaPlan::default() },
            Effect::Replace { old } => {
                QuotaPlan { releases: discarded, replaces: old, keeps_partial, ..QuotaPlan::default() }
            }
            Effect::Continue { from, partial, replaces } => QuotaPlan {
                releases: partial - from,
                continues: from,
                replaces: replaces.unwrap_or(0),
                new_file: replaces.is_none(),
                keeps_partial,
                ..QuotaPlan::default()
            },
            // In place: what arrives stays whatever happens.
            Effect::Append { .. } => QuotaPlan { keeps_partial: true, ..QuotaPlan::default() },
            Effect::Cut { at, old } => QuotaPlan { adds: at, replaces: old, keeps_partial, ..QuotaPlan::default() },
        }
    }
}

/// Starts an upload of `path` at `start` for `verb`: checks the rights its
/// effect needs, counts it against the quota, opens it and hands it to a
/// transfer. `may_replace` is false for `STOU`, which never replaces.
pub(crate) async fn start(
    s: &mut Session,
    verb: &'static str,
    path: &VirtualPath,
    start: UploadStart,
    may_replace: bool,
    opened: String,
    done: String,
) -> HandlerResult {
    let storage = s.storage()?;
    let uploader = s.uploader(path)?;
    let state = storage.upload_state(path, &uploader).await?;
    let effect = Effect::of(start, state)
        .ok_or_else(|| CommandError::Storage(StorageError::new(StorageErrorKind::InvalidOffset, path.to_string())))?;
    for right in effect.rights() {
        s.require(*right, path)?;
    }
    let may_delete = s.has(Right::Delete, path);
    let config = &s.ctx.config;
    let request = UploadRequest {
        start,
        replace: may_replace && may_delete,
        may_cut: may_delete,
        may_create: s.has(Right::Write, path),
        may_append: s.has(Right::Append, path),
        uploader,
        keep_partial: !config.keep_partial_uploads.is_zero(),
        sync: config.sync_uploads,
    };
    let discarded = if start == UploadStart::New { state.partial } else { None };
    let mut quota = s.quota_charge(path, effect.quota(discarded, request.keep_partial))?;
    let upload = storage.write(path, &request).await?;
    // Only now, with the upload open, does what it gives up or copies count.
    if let Some(q) = &mut quota {
        q.opened();
    }
    let ascii = s.transfer_type == TransferType::Ascii;
    let opened = opened.replace("{mode}", mode_label(s));
    s.start_transfer(Job::Receive { upload, ascii, quota }, verb, path, opened, done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(complete: Option<u64>, partial: Option<u64>) -> UploadState {
        UploadState { complete, partial }
    }

    #[test]
    fn what_an_upload_does_and_the_rights_it_needs() {
        use Effect::*;
        use UploadStart::*;
        let cases: &[(UploadStart, UploadState, Option<Effect>, &[Right])] = &[
            (New, state(None, None), Some(Create), &[Right::Write]),
            (New, state(Some(9), Some(4)), Some(Replace { old: 9 }), &[Right::Write, Right::Delete]),
            (End, state(None, None), Some(Create), &[Right::Write]),
            (At(0), state(None, None), Some(Create), &[Right::Write]),
            (At(1), state(None, None), None, &[]),
            // REST at exactly the size, and APPE, append.
            (At(9), state(Some(9), None), Some(Append { at: 9 }), &[Right::Append]),
            (End, state(Some(9), None), Some(Append { at: 9 }), &[Right::Append]),
            // Below the size, bytes are cut off: delete too.
            (At(1), state(Some(9), None), Some(Cut { at: 1, old: 9 }), &[Right::Append, Right::Delete]),
            (At(0), state(Some(9), None), Some(Cut { at: 0, old: 9 }), &[Right::Append, Right::Delete]),
            (At(10), state(Some(9), None), None, &[]),
            // The owner's interrupted upload comes first.
            (End, state(None, Some(4)), Some(Continue { from: 4, partial: 4, replaces: None }), &[Right::Write]),
            (At(2), state(None, Some(4)), Some(Continue { from: 2, partial: 4, replaces: None }), &[Right::Write]),
            (At(5), state(None, Some(4)), None, &[]),
            (
                At(4),
                state(Some(9), Some(4)),
                Some(Continue { from: 4, partial: 4, replaces: Some(9) }),
                &[Right::Write, Right::Delete],
            ),
        ];
        for (start, st, effect, rights) in cases {
            assert_eq!(Effect::of(*start, *st), *effect, "{start:?} on {st:?}");
            if let Some(e) = effect {
                assert_eq!(e.rights(), *rights, "{e:?}");
            }
        }
    }

    #[test]
    fn quota_plans() {
        let p = Effect::Continue { from: 3, partial: 10, replaces: Some(20) }.quota(None, true);
        assert_eq!((p.releases, p.continues, p.replaces, p.new_file), (7, 3, 20, false));
        let p = Effect::Create.quota(Some(5), false);
        assert_eq!((p.releases, p.new_file, p.keeps_partial), (5, true, false));
        assert!(Effect::Append { at: 1 }.quota(None, false).keeps_partial, "appends in place always keep");
        assert_eq!(Effect::Cut { at: 4, old: 9 }.quota(None, true).adds, 4);
    }
}
