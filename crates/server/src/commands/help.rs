//! `HELP` (RFC 959 §4.1.3): the recognised commands, or one command's syntax.

use super::{COMMANDS, HandlerResult, lookup};
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(_s: &mut Session, arg: Option<String>) -> HandlerResult {
    if let Some(topic) = arg {
        let verb = topic.trim().to_ascii_uppercase();
        return match lookup(&verb) {
            Some(spec) => Ok(Reply::new(ReplyCode::HELP, format!("Syntax: {}", spec.syntax)).into()),
            None => Err(CommandError::reply(ReplyCode::NOT_IMPLEMENTED, format!("Unknown command {verb}."))),
        };
    }
    let verbs: Vec<&str> = COMMANDS.iter().flat_map(|c| c.verbs.iter().copied()).collect();
    let mut lines = vec!["The following commands are recognized:".to_string()];
    for row in verbs.chunks(8) {
        lines.push(row.iter().map(|v| format!(" {v:<5}")).collect());
    }
    lines.push("Help OK.".into());
    Ok(Reply::multi(ReplyCode::HELP, lines).into())
}
