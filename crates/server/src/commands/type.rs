//! `TYPE` (RFC 959 §3.1.1, §4.1.2): ASCII (non-print format) and image.

use super::HandlerResult;
use crate::error::CommandError;
use crate::session::{Session, TransferType};
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let arg = arg.unwrap_or_default().to_ascii_uppercase();
    let words: Vec<&str> = arg.split_whitespace().collect();
    let (ty, text) = match words.as_slice() {
        ["A"] | ["A", "N"] => (TransferType::Ascii, "Switching to ASCII mode."),
        ["I"] | ["L", "8"] => (TransferType::Binary, "Switching to BINARY mode."),
        // Telnet and carriage-control formats, EBCDIC and other byte sizes are valid
        // requests this server does not support (RFC 959 §5.4: 504).
        ["A", "T" | "C"] | ["E"] | ["E", "N" | "T" | "C"] | ["L", _] => {
            return Err(CommandError::reply(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                format!("TYPE {arg} is not supported; use A or I."),
            ));
        }
        _ => {
            return Err(CommandError::reply(ReplyCode::PARAMETER_SYNTAX_ERROR, "TYPE needs A, A N, I or L 8."));
        }
    };
    s.transfer_type = ty;
    Ok(Reply::new(ReplyCode::OK, text).into())
}
