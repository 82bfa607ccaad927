//! `PASS` (RFC 959 §4.1.1): completes the login begun by `USER`.

use super::HandlerResult;
use crate::auth::Credentials;
use crate::error::CommandError;
use crate::session::{Login, Session};
use crate::storage::VirtualPath;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let user = match &s.login {
        Login::User(u) => u.clone(),
        // vsftpd and pure-ftpd answer a repeated PASS this way; clients accept it.
        Login::LoggedIn(_) => {
            return Ok(Reply::new(ReplyCode::LOGGED_IN, "Already logged in.").into());
        }
        Login::None => {
            return Err(CommandError::reply(ReplyCode::BAD_SEQUENCE, "Login with USER first."));
        }
    };
    let credentials = Credentials {
        user: user.clone(),
        password: arg.unwrap_or_default(),
        peer: s.peer.ip(),
        host: s.host.clone(),
        client_certificate: s.client_certificate.clone(),
    };
    match s.ctx.auth.authenticate(&credentials).await {
        Ok(account) => {
            tracing::info!(user = %account.name, anonymous = account.anonymous, "login");
            let text = if account.anonymous { "Anonymous access granted." } else { "Login successful." };
            s.login = Login::LoggedIn(account);
            s.cwd = VirtualPath::root();
            Ok(Reply::new(ReplyCode::LOGGED_IN, text).into())
        }
        Err(e) => {
            tracing::info!(user = %user, reason = %e, "login failed");
            s.login = Login::None;
            Err(CommandError::reply(ReplyCode::NOT_LOGGED_IN, "Login incorrect."))
        }
    }
}
