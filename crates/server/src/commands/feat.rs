//! `FEAT` (RFC 2389 §3): one feature per line, each with a leading space. The
//! lines come from the command table, plus TVFS (RFC 3659 §6), which is a
//! property of path handling, not a command.

use super::{COMMANDS, HandlerResult, TLS_FEATURES};
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, _arg: Option<String>) -> HandlerResult {
    let mut features: Vec<String> = COMMANDS
        .iter()
        .filter_map(|c| c.feat)
        .filter(|f| s.tls_context().is_some() || !TLS_FEATURES.contains(f))
        .map(|f| if f == "MLST" { format!("MLST {}", s.facts.feat_line()) } else { f.to_string() })
        .collect();
    features.push("TVFS".into());
    features.sort();
    let mut lines = vec!["Extensions supported:".to_string()];
    lines.extend(features.into_iter().map(|f| format!(" {f}")));
    lines.push("End".into());
    Ok(Reply::multi(ReplyCode::SYSTEM_STATUS, lines).into())
}
