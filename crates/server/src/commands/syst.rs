//! `SYST` (RFC 959 §4.1.3): the system type clients use to pick a listing parser.

use super::HandlerResult;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(_s: &mut Session, _arg: Option<String>) -> HandlerResult {
    Ok(Reply::new(ReplyCode::SYSTEM_TYPE, "UNIX Type: L8").into())
}
