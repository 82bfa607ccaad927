//! `APPE` (RFC 959 §4.1.3): append to a file, creating it if missing. Clients
//! (curl, FileZilla, `ferroftp put --resume`) resume uploads this way after
//! `SIZE`: the uploader's interrupted upload of the name is continued if there
//! is one, else the file is appended to in place. After `REST n` (RFC 3659
//! §5: REST applies to RETR, STOR and APPE) writing starts at offset `n`,
//! exactly as for `STOR`.

use super::HandlerResult;
use super::upload;
use crate::session::Session;
use crate::storage::UploadStart;

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve_new(arg.as_deref().unwrap_or_default())?;
    let start = match s.pending.rest.take() {
        Some(offset) if offset > 0 => UploadStart::At(offset),
        _ => UploadStart::End,
    };
    let opened = format!("Opening {{mode}} mode data connection to append to {path}.");
    upload::start(s, "APPE", &path, start, true, opened, "Transfer complete ({bytes} bytes appended).".into()).await
}
