//! `PASS` (RFC 959 §4.1.1): completes the login begun by `USER`.

use super::{HandlerResult, Outcome};
use crate::auth::{AuthError, Credentials};
use crate::error::CommandError;
use crate::limits::Refused;
use crate::session::{Login, Session};
use crate::storage::VirtualPath;
use ferroftp_proto::{Reply, ReplyCode};
use std::sync::Arc;

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
    let ctx = Arc::clone(&s.ctx);
    let policy = &ctx.config.login;
    let ip = s.peer.ip();
    let refused = |why: Refused| {
        let text = match why {
            Refused::Banned(left) => banned_text("from your address", left),
            Refused::TooManyAttempts => {
                tracing::info!(user = %user, "login refused: too many attempts from this address at once");
                "Too many login attempts from your address at once; try again later.".to_string()
            }
            Refused::NameBusy => {
                tracing::warn!(user = %user, "login refused: too many checks for this user name at once");
                "Too many logins for this user name are being checked; try again in a few seconds.".to_string()
            }
        };
        Ok(Outcome::Close(Reply::new(ReplyCode::NOT_AVAILABLE, text)))
    };
    let mut attempt = match ctx.login_guard.begin(ip, &user, policy) {
        Ok(attempt) => attempt,
        Err(why) => return refused(why),
    };
    // One check at a time for this address and name; from its start the
    // attempt counts towards the address's limit as if it had failed (RFC
    // 2577 §4 against guesses sent all at once).
    if let Err(why) = attempt.wait_turn(policy).await {
        return refused(why);
    }
    let credentials = Credentials {
        user: user.clone(),
        password: arg.unwrap_or_default(),
        peer: s.peer.ip(),
        host: s.host.clone(),
        client_certificate: s.client_certificate.clone(),
    };
    match ctx.auth.authenticate(&credentials, &ctx.password_checks).await {
        Ok(account) => {
            attempt.succeeded();
            let slot = match ctx.connections.login(&account.name, account.policy.max_sessions) {
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
                    Some(ctx.quotas.get(&p.quota_owner, limits, p.quota_roots.clone()).await)
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
        // The password was right but the server could not open the account's
        // folders (out of descriptors, a folder gone): the server's fault, so
        // it is no failed login and counts towards no ban.
        Err(AuthError::Unavailable) => {
            attempt.succeeded();
            tracing::warn!(user = %user, "login refused: the account's folders cannot be opened");
            s.login = Login::None;
            Err(CommandError::reply(
                ReplyCode::NOT_LOGGED_IN,
                "Login failed: the account's folders are unavailable; tell the administrator.",
            ))
        }
        // The password was not checked at all: no failure either.
        Err(AuthError::Busy) => {
            drop(attempt);
            tracing::warn!(user = %user, "login refused: too many password checks waiting");
            Ok(Outcome::Close(Reply::new(
                ReplyCode::NOT_AVAILABLE,
                "Server busy: too many logins are being checked; try again in a few seconds.",
            )))
        }
        Err(e) => {
            tracing::info!(user = %user, reason = %e, "login failed");
            s.login = Login::None;
            let failure = attempt.failed(policy);
            // The delay comes before any reply, so a client cannot tell a failure
            // early from its timing; other sessions go on meanwhile. The attempt
            // keeps its turn until then: the next guess for this name from this
            // address waits for it.
            tokio::time::sleep(failure.delay).await;
            drop(attempt);
            if failure.address_banned {
                let ban_time = policy.ban_time;
                tracing::warn!(address = %ip, minutes = ban_time.as_secs() / 60, "banned address after repeated failed logins");
                return Ok(Outcome::Close(Reply::new(
                    ReplyCode::NOT_AVAILABLE,
                    banned_text("from your address", ban_time),
                )));
            }
            // Every failure reads the same, so names and passwords cannot be told
            // apart (RFC 2577 §5), except where the password was right and the
            // user needs to know why they still cannot log in.
            let text = match e {
                AuthError::AddressNotAllowed => "Login not allowed from your address.",
                _ => "Login incorrect.",
            };
            Err(CommandError::reply(ReplyCode::NOT_LOGGED_IN, text))
        }
    }
}

/// The reply to a banned address or name: says for how long, not why in detail.
pub(crate) fn banned_text(what: &str, left: std::time::Duration) -> String {
    let minutes = left.as_secs().div_ceil(60).max(1);
    format!("Too many failed logins {what}; try again in {minutes} minute{}.", if minutes == 1 { "" } else { "s" })
}
