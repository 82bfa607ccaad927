//! `ALLO` (RFC 959 §4.1.3): storage needs no reservation here (202).

use super::HandlerResult;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(_s: &mut Session, _arg: Option<String>) -> HandlerResult {
    Ok(Reply::new(ReplyCode::SUPERFLUOUS, "ALLO not needed.").into())
}
