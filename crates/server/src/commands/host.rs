//! `HOST` (RFC 7151): names the virtual host before login.

use super::HandlerResult;
use crate::error::CommandError;
use crate::session::{Login, Session};
use ferroftp_proto::{Reply, ReplyCode};

/// RFC 7151 §3: a domain name, or an IP literal in brackets.
fn valid_host(h: &str) -> bool {
    if let Some(lit) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return lit.parse::<std::net::IpAddr>().is_ok();
    }
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let host = arg.unwrap_or_default();
    // RFC 7151 §3.1: HOST after USER or after login is a sequence error.
    if !matches!(s.login, Login::None) {
        return Err(CommandError::reply(ReplyCode::BAD_SEQUENCE, "HOST must be sent before USER."));
    }
    if !valid_host(host.trim()) {
        return Err(CommandError::reply(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            "HOST needs a host name or a bracketed IP address.",
        ));
    }
    let text = format!("Host {} accepted.", host.trim());
    s.host = Some(host.trim().to_ascii_lowercase());
    Ok(Reply::new(ReplyCode::READY, text).into())
}
