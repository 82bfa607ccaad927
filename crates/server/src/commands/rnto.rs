//! `RNTO` (RFC 959 §4.1.3): completes the rename begun by `RNFR`.
//!
//! Renaming onto an existing name replaces that file, which destroys it: it
//! needs the `delete` right there. Without it the rename is create-only,
//! decided by the file system at the moment of the rename (`RENAME_NOREPLACE`),
//! so a file that appears meanwhile is not replaced either. A folder is never
//! renamed over anything.

use super::HandlerResult;
use crate::auth::Right;
use crate::error::{CommandError, StorageErrorKind};
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let Some(from) = s.pending.rename_from.take() else {
        return Err(CommandError::reply(ReplyCode::BAD_SEQUENCE, "RNFR required first."));
    };
    let to = s.resolve_new(arg.as_deref().unwrap_or_default())?;
    s.require(Right::Rename, &to)?;
    let replace = s.has(Right::Delete, &to);
    match s.storage()?.rename(&from, &to, replace).await {
        Ok(()) => Ok(Reply::new(ReplyCode::FILE_ACTION_OK, format!("Renamed {from} to {to}.")).into()),
        Err(e) if e.kind == StorageErrorKind::AlreadyExists && !replace => Err(CommandError::reply(
            ReplyCode::FILE_UNAVAILABLE,
            format!("{to} exists; replacing it needs the 'delete' right there."),
        )),
        Err(e) if e.kind == StorageErrorKind::AlreadyExists => Err(CommandError::reply(
            ReplyCode::FILE_UNAVAILABLE,
            format!("{to} exists and is a folder, or {from} is: folders are never renamed over anything."),
        )),
        Err(e) => Err(e.into()),
    }
}
