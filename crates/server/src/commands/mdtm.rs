//! `MDTM` (RFC 3659 §3): a file's modification time as `YYYYMMDDHHMMSS` UTC.

use super::HandlerResult;
use crate::error::{CommandError, StorageError, StorageErrorKind};
use crate::session::Session;
use ferroftp_proto::listing::FileKind;
use ferroftp_proto::{Reply, ReplyCode, timeval};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve(arg.as_deref().unwrap_or_default());
    let meta = s.storage()?.metadata(&path).await?;
    // RFC 3659 §3.1: MDTM is defined for files.
    if meta.kind != FileKind::File {
        return Err(CommandError::Storage(StorageError::new(
            StorageErrorKind::IsADirectory,
            path.to_string(),
        )));
    }
    Ok(Reply::new(ReplyCode::FILE_STATUS, timeval::format(meta.modified)).into())
}
