//! `OPTS` (RFC 2389 §4): `OPTS UTF8 ON` (RFC 2640; names are always UTF-8 here)
//! `OPTS MLST fact;fact;` (RFC 3659 §7.9) and `OPTS HASH SHA-256`.

use super::HandlerResult;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::listing::Facts;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let arg = arg.unwrap_or_default();
    let (name, value) = arg.split_once(' ').unwrap_or((&arg, ""));
    match name.to_ascii_uppercase().as_str() {
        "UTF8" | "UTF-8" => match value.trim().to_ascii_uppercase().as_str() {
            "ON" | "" => Ok(Reply::new(ReplyCode::OK, "Always in UTF8 mode.").into()),
            "OFF" => Err(CommandError::reply(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                "UTF8 cannot be turned off; names are always UTF-8.",
            )),
            _ => Err(CommandError::reply(ReplyCode::PARAMETER_SYNTAX_ERROR, "OPTS UTF8 takes ON.")),
        },
        "MLST" => {
            let (facts, enabled) = Facts::select(value);
            s.facts = facts;
            Ok(Reply::new(ReplyCode::OK, format!("MLST OPTS {enabled}")).into())
        }
        // draft-bryan-ftpext-hash §3.1: selecting the algorithm of HASH.
        "HASH" => match value.trim().to_ascii_uppercase().as_str() {
            "" | "SHA-256" => Ok(Reply::new(ReplyCode::OK, "SHA-256").into()),
            _ => Err(CommandError::reply(ReplyCode::PARAMETER_SYNTAX_ERROR, "Unknown algorithm; HASH offers SHA-256.")),
        },
        _ => Err(CommandError::reply(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            "Option not understood; OPTS takes UTF8, MLST or HASH.",
        )),
    }
}
