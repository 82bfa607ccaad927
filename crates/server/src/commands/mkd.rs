//! `MKD`/`XMKD` (RFC 959 §4.1.3, Appendix II: the reply quotes the new path).

use super::{HandlerResult, quote_path};
use crate::auth::Right;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve_new(arg.as_deref().unwrap_or_default())?;
    s.require(Right::Mkdir, &path)?;
    s.storage()?.make_dir(&path).await?;
    Ok(Reply::new(ReplyCode::PATH_CREATED, format!("{} created.", quote_path(path.as_str()))).into())
}
