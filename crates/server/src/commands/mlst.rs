//! `MLST` (RFC 3659 §7): the facts of one file over the control connection.

use super::HandlerResult;
use crate::auth::Right;
use crate::data::to_entry;
use crate::session::Session;
use ferroftp_proto::listing::{self, FileKind, TypeContext};
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = match arg.as_deref() {
        Some(a) => s.resolve(a)?,
        None => s.cwd.clone(),
    };
    s.require(Right::List, &path.parent())?;
    let meta = s.storage()?.symlink_metadata(&path).await?;
    let rights = s.account()?.rights.at(&path);
    let entry = to_entry(path.as_str(), &meta, &rights);
    let ctx = if meta.kind == FileKind::Dir && path == s.cwd { TypeContext::CurrentDir } else { TypeContext::Entry };
    // RFC 3659 §7.2: the fact line starts with exactly one space.
    let line = format!(" {}", listing::mlsx_line(&entry, &s.facts, ctx));
    Ok(Reply::multi(ReplyCode::FILE_ACTION_OK, vec![format!("Listing {path}"), line, "End".into()]).into())
}
