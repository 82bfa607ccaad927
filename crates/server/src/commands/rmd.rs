//! `RMD`/`XRMD` (RFC 959 §4.1.3).

use super::HandlerResult;
use crate::auth::Right;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve(arg.as_deref().unwrap_or_default())?;
    s.require(Right::Rmdir, &path)?;
    let staged = s.storage()?.remove_dir(&path).await?;
    // Interrupted uploads into the folder went with it.
    if staged > 0
        && let Some(quota) = s.quota_at(&path)
    {
        quota.release(staged);
    }
    Ok(Reply::new(ReplyCode::FILE_ACTION_OK, format!("Directory {path} removed.")).into())
}
