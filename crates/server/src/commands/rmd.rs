//! `RMD`/`XRMD` (RFC 959 §4.1.3).

use super::HandlerResult;
use crate::auth::Right;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve(arg.as_deref().unwrap_or_default())?;
    s.require(Right::Rmdir, &path)?;
    let freed = s.storage()?.remove_dir(&path).await?;
    // Interrupted uploads into the folder went with it: each quota that
    // counted them gets them back.
    for f in freed {
        if let Some(tag) = &f.quota {
            s.ctx.quotas.released(tag, f.bytes).await;
        }
    }
    Ok(Reply::new(ReplyCode::FILE_ACTION_OK, format!("Directory {path} removed.")).into())
}
