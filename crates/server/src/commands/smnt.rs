//! `SMNT` (RFC 959 §4.1.1): structure mount has no meaning here (502).

use super::HandlerResult;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(_s: &mut Session, _arg: Option<String>) -> HandlerResult {
    Ok(Reply::new(ReplyCode::NOT_IMPLEMENTED, "SMNT is not implemented.").into())
}
