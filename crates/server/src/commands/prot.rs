//! `PROT` (RFC 4217 §9, RFC 2228 §3): the data-connection protection level.

use super::HandlerResult;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    if !s.control_protected() {
        return Err(CommandError::reply(
            ReplyCode::BAD_SEQUENCE,
            "PROT needs a protected control connection: AUTH TLS first.",
        ));
    }
    if !s.pbsz {
        return Err(CommandError::reply(ReplyCode::BAD_SEQUENCE, "PROT needs PBSZ first (send PBSZ 0)."));
    }
    let data_required = s.tls_context().is_some_and(|t| t.settings.data_required);
    match arg.unwrap_or_default().trim().to_ascii_uppercase().as_str() {
        "P" => {
            s.prot_private = true;
            Ok(Reply::new(ReplyCode::OK, "PROT now Private.").into())
        }
        "C" if data_required => Err(CommandError::reply(
            ReplyCode(534),
            "PROT C refused: this server requires protected data connections (PROT P).",
        )),
        "C" => {
            s.prot_private = false;
            Ok(Reply::new(ReplyCode::OK, "PROT now Clear.").into())
        }
        "S" | "E" => Err(CommandError::reply(ReplyCode(536), "PROT S and E are not supported with TLS; use P (or C).")),
        _ => Err(CommandError::reply(ReplyCode::PARAMETER_NOT_IMPLEMENTED, "Unknown protection level; use P or C.")),
    }
}
