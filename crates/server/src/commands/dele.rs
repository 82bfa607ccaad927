//! `DELE` (RFC 959 §4.1.3).

use super::HandlerResult;
use crate::auth::Right;
use crate::session::Session;
use ferroftp_proto::listing::FileKind;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve(arg.as_deref().unwrap_or_default())?;
    s.require(Right::Delete, &path)?;
    let storage = s.storage()?;
    let quota = s.quota_at(&path);
    let size = match &quota {
        Some(_) => storage.symlink_metadata(&path).await.ok().filter(|m| m.kind == FileKind::File).map(|m| m.size),
        None => None,
    };
    storage.remove_file(&path).await?;
    if let (Some(q), Some(size)) = (quota, size) {
        q.removed(size);
    }
    Ok(Reply::new(ReplyCode::FILE_ACTION_OK, format!("File {path} deleted.")).into())
}
