//! `MLSD` (RFC 3659 §7): a directory's entries as fact lines over the data connection.

use super::HandlerResult;
use super::list::{ListKind, start_listing};
use crate::session::Session;

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    start_listing(s, arg, ListKind::Facts).await
}
