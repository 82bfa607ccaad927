//! `REST` in STREAM mode (RFC 3659 §5): the byte offset at which the next
//! `RETR`, `STOR` or `APPE` starts. It is kept until a transfer command uses
//! it, whatever comes in between (the rule is in `session::Pending`).

use super::HandlerResult;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let text = arg.unwrap_or_default();
    let text = text.trim();
    let offset: u64 = match text.parse() {
        Ok(n) if text.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => {
            // A malformed REST still cancels the previous offset: the client
            // meant to change it.
            s.pending.rest = None;
            return Err(CommandError::reply(ReplyCode::PARAMETER_SYNTAX_ERROR, "REST needs a decimal byte offset."));
        }
    };
    s.pending.rest = Some(offset);
    Ok(Reply::new(
        ReplyCode::PENDING_FURTHER_INFO,
        format!("Restarting at {offset}. Send STOR, APPE or RETR to start the transfer."),
    )
    .into())
}
