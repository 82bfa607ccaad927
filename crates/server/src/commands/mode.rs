//! `MODE` (RFC 959 §4.1.2): only stream mode; block and compressed are refused (504).

use super::HandlerResult;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(_s: &mut Session, arg: Option<String>) -> HandlerResult {
    match arg.unwrap_or_default().trim().to_ascii_uppercase().as_str() {
        "S" => Ok(Reply::new(ReplyCode::OK, "Mode set to S.").into()),
        "B" | "C" => {
            Err(CommandError::reply(ReplyCode::PARAMETER_NOT_IMPLEMENTED, "Only stream mode (S) is supported."))
        }
        _ => Err(CommandError::reply(ReplyCode::PARAMETER_SYNTAX_ERROR, "MODE needs S, B or C.")),
    }
}
