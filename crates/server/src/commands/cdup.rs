//! `CDUP`/`XCUP` (RFC 959 §4.1.1): to the parent directory; the root is its own parent.

use super::HandlerResult;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, _arg: Option<String>) -> HandlerResult {
    s.cwd = s.cwd.parent();
    // RFC 959 §5.4 lists 200 for CDUP; 250 is what vsftpd and ProFTPD send and
    // every client accepts, and it matches CWD.
    Ok(Reply::new(ReplyCode::FILE_ACTION_OK, format!("Directory changed to {}.", s.cwd)).into())
}
