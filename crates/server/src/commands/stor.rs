//! `STOR` (RFC 959 §4.1.3). A new upload is written under a hidden name and
//! renamed into place only when complete, so an interrupted upload never leaves
//! a file that looks whole. After `REST n` (RFC 3659 §5) the file is written in
//! place from offset `n`, as the client asked to resume.

use super::{HandlerResult, mode_label};
use crate::auth::Right;
use crate::data::Job;
use crate::session::{Session, TransferType};
use crate::storage::WriteMode;

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve_new(arg.as_deref().unwrap_or_default())?;
    let storage = s.storage()?;
    let mode = match s.pending.rest.take() {
        Some(offset) if offset > 0 => {
            s.require(Right::Append, &path)?;
            WriteMode::ResumeAt(offset)
        }
        _ => {
            s.require(Right::Write, &path)?;
            if storage.symlink_metadata(&path).await.is_ok() {
                // Replacing a file destroys the old one.
                s.require(Right::Delete, &path)?;
            }
            WriteMode::Replace
        }
    };
    let quota = match mode {
        WriteMode::ResumeAt(offset) => s.quota_charge(&path, true, Some(offset)).await?,
        _ => s.quota_charge(&path, false, None).await?,
    };
    let upload = storage.write(&path, mode).await?;
    let ascii = s.transfer_type == TransferType::Ascii;
    let opened = format!("Opening {} mode data connection for {path}.", mode_label(s));
    s.start_transfer(
        Job::Receive { upload, ascii, quota },
        "STOR",
        &path,
        opened,
        "Transfer complete ({bytes} bytes received).".into(),
    )
}
