//! `APPE` (RFC 959 §4.1.3): append to a file, creating it if missing. Clients
//! (curl, lftp) resume uploads this way, so what arrives stays even if the
//! transfer breaks. After `REST n` (RFC 3659 §5: REST applies to RETR, STOR and
//! APPE) writing starts at offset `n`, exactly as for `STOR`.

use super::{HandlerResult, mode_label};
use crate::auth::Right;
use crate::data::Job;
use crate::session::{Session, TransferType};
use crate::storage::WriteMode;

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve_new(arg.as_deref().unwrap_or_default())?;
    let storage = s.storage()?;
    s.require(Right::Append, &path)?;
    if storage.symlink_metadata(&path).await.is_err() {
        s.require(Right::Write, &path)?;
    }
    let mode = match s.pending.rest.take() {
        Some(offset) if offset > 0 => WriteMode::ResumeAt(offset),
        _ => WriteMode::Append,
    };
    let cut_at = match mode {
        WriteMode::ResumeAt(offset) => Some(offset),
        _ => None,
    };
    let quota = s.quota_charge(&path, true, cut_at).await?;
    let upload = storage.write(&path, mode).await?;
    let ascii = s.transfer_type == TransferType::Ascii;
    let opened = format!("Opening {} mode data connection to append to {path}.", mode_label(s));
    s.start_transfer(
        Job::Receive { upload, ascii, quota },
        "APPE",
        &path,
        opened,
        "Transfer complete ({bytes} bytes appended).".into(),
    )
}
