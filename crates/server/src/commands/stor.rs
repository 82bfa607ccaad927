//! `STOR` (RFC 959 §4.1.3). An upload is staged and takes its name only when
//! complete, so an interrupted upload never leaves a file that looks whole;
//! what arrived stays staged for the uploader to continue with `REST` +
//! `STOR` or `APPE` (RFC 3659 §5). After `REST n` writing starts at `n`: in
//! the uploader's interrupted upload if there is one, else in the file (see
//! `upload` for what each case does and the rights it needs).

use super::HandlerResult;
use super::upload;
use crate::session::Session;
use crate::storage::UploadStart;

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve_new(arg.as_deref().unwrap_or_default())?;
    let start = match s.pending.rest.take() {
        Some(offset) if offset > 0 => UploadStart::At(offset),
        _ => UploadStart::New,
    };
    let opened = format!("Opening {{mode}} mode data connection for {path}.");
    upload::start(s, "STOR", &path, start, true, opened, "Transfer complete ({bytes} bytes received).".into()).await
}
