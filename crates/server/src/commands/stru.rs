//! `STRU` (RFC 959 §4.1.2): only file structure; record and page are refused (504).

use super::HandlerResult;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(_s: &mut Session, arg: Option<String>) -> HandlerResult {
    match arg.unwrap_or_default().trim().to_ascii_uppercase().as_str() {
        "F" => Ok(Reply::new(ReplyCode::OK, "Structure set to F.").into()),
        "R" | "P" => {
            Err(CommandError::reply(ReplyCode::PARAMETER_NOT_IMPLEMENTED, "Only file structure (F) is supported."))
        }
        _ => Err(CommandError::reply(ReplyCode::PARAMETER_SYNTAX_ERROR, "STRU needs F, R or P.")),
    }
}
