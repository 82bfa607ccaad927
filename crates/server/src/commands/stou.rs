//! `STOU` (RFC 959 §4.1.3): store under a name the server makes unique. The name
//! is sent in the 150 reply as `FILE: name` (RFC 1123 §4.1.2.9).

use super::HandlerResult;
use super::upload;
use crate::error::CommandError;
use crate::session::Session;
use crate::storage::UploadStart;
use ferroftp_proto::ReplyCode;

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let storage = s.storage()?;
    let base = arg.as_deref().map(|a| s.resolve_new(a)).transpose()?.filter(|p| !p.is_root());
    let base = base.unwrap_or_else(|| s.cwd.join("ferroftp.upload"));
    let mut chosen = None;
    for n in 0..1000u32 {
        let candidate = if n == 0 {
            base.clone()
        } else {
            base.parent().join(&format!("{}.{n}", base.file_name().unwrap_or("file")))
        };
        if storage.symlink_metadata(&candidate).await.is_err() {
            chosen = Some(candidate);
            break;
        }
    }
    let path = chosen.ok_or_else(|| CommandError::reply(ReplyCode::NAME_NOT_ALLOWED, "Cannot find a unique name."))?;
    let name = path.file_name().unwrap_or_default().to_string();
    let done = format!("Transfer complete ({{bytes}} bytes); stored as {name}.");
    // Never replaces: if the name is taken before the upload ends, 553.
    upload::start(s, "STOU", &path, UploadStart::New, false, format!("FILE: {name}"), done).await
}
