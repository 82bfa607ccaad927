//! `APPE` (RFC 959 §4.1.3): append to a file, creating it if missing. Clients
//! (curl, lftp) resume uploads this way, so what arrives stays even if the
//! transfer breaks.

use super::{HandlerResult, mode_label};
use crate::auth::Right;
use crate::data::Job;
use crate::session::{Session, TransferType};
use crate::storage::WriteMode;

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve(arg.as_deref().unwrap_or_default());
    let storage = s.storage()?;
    s.require(Right::Append)?;
    if storage.symlink_metadata(&path).await.is_err() {
        s.require(Right::Write)?;
    }
    s.rest = None;
    let upload = storage.write(&path, WriteMode::Append).await?;
    let ascii = s.transfer_type == TransferType::Ascii;
    let opened = format!(
        "Opening {} mode data connection to append to {path}.",
        mode_label(s)
    );
    s.start_transfer(
        Job::Receive { upload, ascii },
        "APPE",
        &path,
        opened,
        "Transfer complete ({bytes} bytes appended).".into(),
    )
}
