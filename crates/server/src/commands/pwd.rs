//! `PWD`/`XPWD` (RFC 959 §4.1.3; quoting per Appendix II: `"` inside the name is doubled).

use super::{HandlerResult, quote_path};
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, _arg: Option<String>) -> HandlerResult {
    Ok(Reply::new(ReplyCode::PATH_CREATED, format!("{} is the current directory.", quote_path(s.cwd.as_str()))).into())
}
