//! `USER` (RFC 959 §4.1.1). Every name gets 331, known or not, so names cannot
//! be probed (RFC 2577 §5).

use super::HandlerResult;
use crate::error::CommandError;
use crate::session::{Login, Session};
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let user = arg.unwrap_or_default();
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
