//! `ACCT` (RFC 959 §4.1.1): accounts are not used, so it is superfluous (202).

use super::HandlerResult;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(_s: &mut Session, _arg: Option<String>) -> HandlerResult {
    Ok(Reply::new(ReplyCode::SUPERFLUOUS, "ACCT not needed on this server.").into())
}
