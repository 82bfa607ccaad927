//! `AUTH TLS` (RFC 4217 §4, RFC 2228 §3): protect the control connection.
//! `AUTH SSL` is accepted as an alias, as FileZilla and vsftpd do.

use super::{HandlerResult, Outcome};
use crate::error::CommandError;
use crate::session::{Login, Session};
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    if s.tls_context().is_none() {
        return Err(CommandError::reply(ReplyCode::NOT_IMPLEMENTED, "TLS is not configured on this server."));
    }
    if s.control_protected() {
        return Err(CommandError::reply(ReplyCode::BAD_SEQUENCE, "The control connection is already protected."));
    }
    let mechanism = arg.unwrap_or_default().trim().to_ascii_uppercase();
    if !matches!(mechanism.as_str(), "TLS" | "TLS-C" | "SSL") {
        // RFC 2228 §3: 504 for a mechanism the server does not understand.
        return Err(CommandError::reply(ReplyCode::PARAMETER_NOT_IMPLEMENTED, "Unsupported mechanism; use AUTH TLS."));
    }
    if matches!(s.login, Login::LoggedIn(_)) {
        return Err(CommandError::reply(ReplyCode::BAD_SEQUENCE, "AUTH TLS must come before login."));
    }
    // A login begun in clear text starts over under TLS (RFC 4217 §4: the
    // password must not have crossed unprotected).
    s.login = Login::None;
    s.user_slot = None;
    Ok(Outcome::StartTls(Reply::new(ReplyCode(234), "AUTH TLS successful; start the TLS handshake.")))
}
