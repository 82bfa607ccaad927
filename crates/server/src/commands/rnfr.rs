//! `RNFR` (RFC 959 §4.1.3): names the file to rename; `RNTO` must follow at once.

use super::HandlerResult;
use crate::auth::Right;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve(arg.as_deref().unwrap_or_default())?;
    s.require(Right::Rename, &path)?;
    s.storage()?.symlink_metadata(&path).await?;
    s.pending.rename_from = Some(path);
    Ok(Reply::new(ReplyCode::PENDING_FURTHER_INFO, "Ready for RNTO.").into())
}
