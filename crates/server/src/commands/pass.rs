//! `PASS` (RFC 959 §4.1.1): completes the login begun by `USER`.

use super::HandlerResult;
use crate::auth::{AuthError, Credentials};
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
            let slot = match s.ctx.connections.login(&account.name, account.policy.max_sessions) {
                Ok(slot) => slot,
                Err(refusal) => {
                    tracing::info!(user = %account.name, reason = %refusal, "login refused");
                    s.login = Login::None;
                    return Err(CommandError::reply(ReplyCode::NOT_LOGGED_IN, refusal.to_string()));
                }
            };
            s.user_slot = Some(slot);
            s.quota = match account.policy.quota {
                Some(limits) => {
                    let p = &account.policy;
                    Some(s.ctx.quotas.get(&p.quota_owner, limits, p.quota_roots.clone()).await)
                }
                None => None,
            };
            tracing::info!(user = %account.name, anonymous = account.anonymous, "login");
            let text = if account.anonymous { "Anonymous access granted." } else { "Login successful." };
            let mut lines: Vec<String> = account
                .policy
                .login_message
                .as_deref()
                .map(|m| m.lines().map(str::to_string).collect())
                .unwrap_or_default();
            lines.push(text.to_string());
            s.login = Login::LoggedIn(Box::new(account));
            s.cwd = VirtualPath::root();
            Ok(Reply::multi(ReplyCode::LOGGED_IN, lines).into())
        }
        Err(e) => {
            tracing::info!(user = %user, reason = %e, "login failed");
            s.login = Login::None;
            // Every failure reads the same, so names and passwords cannot be told
            // apart (RFC 2577 §5), except where the password was right and the
            // user needs to know why they still cannot log in.
            let text = match e {
                AuthError::AddressNotAllowed => "Login not allowed from your address.",
                AuthError::Unavailable => {
                    "Login failed: the account's folders are unavailable; tell the administrator."
                }
                _ => "Login incorrect.",
            };
            Err(CommandError::reply(ReplyCode::NOT_LOGGED_IN, text))
        }
    }
}
