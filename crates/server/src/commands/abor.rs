//! `ABOR` with no transfer running (RFC 959 §4.1.3): closes a prepared data
//! connection and answers 225. An `ABOR` during a transfer is handled by the
//! session loop, which stops the transfer task (426, then 226).

use super::HandlerResult;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, _arg: Option<String>) -> HandlerResult {
    s.data = None;
    Ok(Reply::new(ReplyCode::DATA_OPEN_NO_TRANSFER, "No transfer to abort.").into())
}
