//! `NLST` (RFC 959 §4.1.3): bare names, one per line. A glob argument (`*.txt`,
//! `dir/*`) is expanded, with the directory part kept so each name can be given
//! back to `RETR` (what `mget` in the classic client relies on).

use super::HandlerResult;
use super::list::{ListKind, start_listing};
use crate::session::Session;

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    start_listing(s, arg, ListKind::Names).await
}
