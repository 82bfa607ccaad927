//! `MDTM` (RFC 3659 §3): a file's modification time as `YYYYMMDDHHMMSS` UTC.
//! It needs `list` on the file's folder, as a listing that shows the time
//! does (an upload-only folder tells nothing about what is in it).

use super::HandlerResult;
use crate::auth::Right;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode, timeval};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve(arg.as_deref().unwrap_or_default())?;
    s.require(Right::List, &path.parent())?;
    // RFC 3659 §3.1: MDTM is defined for files.
    let meta = s.file_metadata(&path).await?;
    Ok(Reply::new(ReplyCode::FILE_STATUS, timeval::format(meta.modified)).into())
}
