//! `CCC` (RFC 4217 §6, RFC 2228 §3): go back to a clear control connection, for
//! firewalls that must read PORT/PASV. Refused unless the administrator allowed it.

use super::{HandlerResult, Outcome};
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, _arg: Option<String>) -> HandlerResult {
    if !s.control_protected() {
        return Err(CommandError::reply(ReplyCode(533), "The control connection is not protected."));
    }
    if !s.tls_context().is_some_and(|t| t.settings.allow_ccc) {
        return Err(CommandError::reply(ReplyCode(534), "CCC is not allowed by this server's policy."));
    }
    Ok(Outcome::StopTls(Reply::new(ReplyCode::OK, "CCC ok; the control connection returns to clear text.")))
}
