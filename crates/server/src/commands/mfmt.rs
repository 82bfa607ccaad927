//! `MFMT` (draft-somers-ftp-mfxx §3): sets a file's modification time, so
//! that clients can preserve times on upload (`213 Modify=TIME; path`).
//!
//! Re-dating a file changes it: it needs `write`, and `delete` unless this
//! session stored the file itself (so an upload's time can always be set, but
//! an anonymous writer, who never has `delete`, cannot re-date anything else).

use super::HandlerResult;
use crate::auth::Right;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode, timeval};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let arg = arg.unwrap_or_default();
    let (time, path) = arg.split_once(' ').unwrap_or((&arg, ""));
    let (Some(time), false) = (timeval::parse(time), path.is_empty()) else {
        return Err(CommandError::reply(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            "Usage: MFMT YYYYMMDDHHMMSS path (UTC time first).",
        ));
    };
    let path = s.resolve(path)?;
    s.require(Right::Write, &path)?;
    let meta = s.file_metadata(&path).await?;
    if !s.stored_here(&path, &meta) {
        s.require(Right::Delete, &path).map_err(|_| {
            CommandError::reply(
                ReplyCode::FILE_UNAVAILABLE,
                format!("Permission denied: {path} was not stored in this session; changing its time needs the 'delete' right."),
            )
        })?;
    }
    s.storage()?.set_modified(&path, time).await?;
    Ok(Reply::new(ReplyCode::FILE_STATUS, format!("Modify={}; {path}", timeval::format(time))).into())
}
