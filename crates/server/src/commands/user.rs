//! `USER` (RFC 959 §4.1.1). Every name gets 331, known or not, so names cannot
//! be probed (RFC 2577 §5).

use super::HandlerResult;
use crate::error::CommandError;
use crate::session::{Login, Session};
use crate::tls::TlsPolicy;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let user = arg.unwrap_or_default();
    let server_requires = s.tls_context().is_some_and(|t| t.settings.control == TlsPolicy::Required);
    // A per-user setting overrides the server's policy (FileZilla's "force TLS" per user).
    let tls_required = s.ctx.auth.tls_required(&user).unwrap_or(server_requires);
    if tls_required && !s.control_protected() {
        return Err(CommandError::reply(
            ReplyCode::NOT_LOGGED_IN,
            "TLS required: send AUTH TLS before USER; this server does not accept passwords in clear text.",
        ));
    }
    if matches!(s.login, Login::LoggedIn(_)) {
        return Err(CommandError::reply(
            ReplyCode::BAD_SEQUENCE,
            "Already logged in; use REIN to log in as someone else.",
        ));
    }
    let text = if s.ctx.auth.is_anonymous(&user) {
        "Anonymous login okay, send your e-mail address as password.".to_string()
    } else {
        format!("Password required for {user}.")
    };
    s.login = Login::User(user);
    Ok(Reply::new(ReplyCode::NEED_PASSWORD, text).into())
}
