//! `RETR` (RFC 959 §4.1.3), restartable with `REST` (RFC 3659 §5).

use super::{HandlerResult, mode_label};
use crate::auth::Right;
use crate::data::Job;
use crate::error::{CommandError, StorageError, StorageErrorKind};
use crate::session::{Session, TransferType};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve(arg.as_deref().unwrap_or_default())?;
    s.require(Right::Read, &path)?;
    let storage = s.storage()?;
    let offset = s.pending.rest.take().unwrap_or(0);
    // One open gives the file and its size: no separate stat per download.
    let (reader, meta) = storage.read(&path, offset).await?;
    if offset > meta.size {
        return Err(CommandError::Storage(StorageError::new(StorageErrorKind::InvalidOffset, path.to_string())));
    }
    let ascii = s.transfer_type == TransferType::Ascii;
    let opened = format!("Opening {} mode data connection for {path} ({} bytes).", mode_label(s), meta.size - offset);
    s.start_transfer(
        Job::Send { reader, ascii, size: meta.size, sent: 0 },
        "RETR",
        &path,
        opened,
        "Transfer complete ({bytes} bytes sent).".into(),
    )
}
