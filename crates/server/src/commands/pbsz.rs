//! `PBSZ` (RFC 4217 §8, RFC 2228 §3): the protection buffer size, always 0 for TLS.

use super::HandlerResult;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    if !s.control_protected() {
        return Err(CommandError::reply(
            ReplyCode::BAD_SEQUENCE,
            "PBSZ needs a protected control connection: AUTH TLS first.",
        ));
    }
    let arg = arg.unwrap_or_default();
    if arg.trim().is_empty() || !arg.trim().bytes().all(|b| b.is_ascii_digit()) {
        return Err(CommandError::reply(ReplyCode::PARAMETER_SYNTAX_ERROR, "PBSZ needs a decimal number (0 for TLS)."));
    }
    s.pbsz = true;
    // RFC 4217 §8: whatever the client asks, the answer for TLS is 0.
    Ok(Reply::new(ReplyCode::OK, "PBSZ=0").into())
}
