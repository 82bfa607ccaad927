//! `ABOR` with no transfer running (RFC 959 §4.1.3): closes a prepared data
//! connection and answers 226. An `ABOR` during a transfer is handled by the
//! session loop, which stops the transfer task (426, then 226).

use super::HandlerResult;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

/// 226 rather than 225: a client that closes the data connection as it sends
/// `ABOR` (suppaftp drops the stream right after the command) races the
/// server, which may see the broken connection first and answer the transfer
/// with 426 before it reads `ABOR`. The client then expects 226, as after any
/// abort; RFC 959 §4.1.3 gives 226 when "the service request has already been
/// completed". ProFTPD and pure-ftpd answer 226 here too.
pub(crate) async fn run(s: &mut Session, _arg: Option<String>) -> HandlerResult {
    s.data = None;
    Ok(Reply::new(ReplyCode::CLOSING_DATA, "ABOR ok; no transfer was running.").into())
}
