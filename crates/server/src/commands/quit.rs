//! `QUIT` (RFC 959 §4.1.1). During a transfer it waits its turn, so the transfer's
//! reply comes first, as the RFC asks.

use super::{HandlerResult, Outcome};
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(_s: &mut Session, _arg: Option<String>) -> HandlerResult {
    Ok(Outcome::Close(Reply::new(ReplyCode::CLOSING, "Goodbye.")))
}
