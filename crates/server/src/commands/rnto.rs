//! `RNTO` (RFC 959 §4.1.3): completes the rename begun by `RNFR`.

use super::HandlerResult;
use crate::auth::Right;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let Some(from) = s.pending.rename_from.take() else {
        return Err(CommandError::reply(ReplyCode::BAD_SEQUENCE, "RNFR required first."));
    };
    let to = s.resolve_new(arg.as_deref().unwrap_or_default())?;
    s.require(Right::Rename, &to)?;
    s.storage()?.rename(&from, &to).await?;
    Ok(Reply::new(ReplyCode::FILE_ACTION_OK, format!("Renamed {from} to {to}.")).into())
}
