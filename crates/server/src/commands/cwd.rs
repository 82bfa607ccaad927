//! `CWD`/`XCWD` (RFC 959 §4.1.1, RFC 775).

use super::HandlerResult;
use crate::error::{CommandError, StorageError, StorageErrorKind};
use crate::session::Session;
use ferroftp_proto::listing::FileKind;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve(arg.as_deref().unwrap_or("/"));
    let meta = s.storage()?.metadata(&path).await?;
    if meta.kind != FileKind::Dir {
        return Err(CommandError::Storage(StorageError::new(StorageErrorKind::NotADirectory, path.to_string())));
    }
    let text = format!("Directory changed to {path}.");
    s.cwd = path;
    Ok(Reply::new(ReplyCode::FILE_ACTION_OK, text).into())
}
