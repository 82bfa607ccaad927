//! `REIN` (RFC 959 §4.1.1): back to the state right after connecting; RFC 7151
//! §3.2: the `HOST` choice is forgotten too.

use super::HandlerResult;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, _arg: Option<String>) -> HandlerResult {
    s.reinitialize();
    Ok(Reply::new(ReplyCode::READY, "Session reinitialized; ready for a new user.").into())
}
