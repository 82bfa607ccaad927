//! `SIZE` (RFC 3659 §4): the number of octets a `RETR` would send in the current
//! TYPE. In TYPE A that is counted by reading the file, for files up to a limit.
//!
//! In TYPE I, a name the client has an interrupted upload of answers that
//! upload's size, even where a complete file of the name exists: resuming
//! clients (curl, lftp, FileZilla) ask `SIZE` to learn where to continue.
//! Nobody else sees interrupted uploads. The size of a complete file needs
//! `list` on its folder, as a listing that shows it does.

use super::HandlerResult;
use crate::auth::Right;
use crate::error::{CommandError, StorageError};
use crate::session::{Session, TransferType};
use crate::storage::UploadState;
use ferroftp_proto::ascii::Encoder;
use ferroftp_proto::{Reply, ReplyCode};

/// Largest file whose TYPE A size is computed (it must be read whole).
const ASCII_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve(arg.as_deref().unwrap_or_default())?;
    let storage = s.storage()?;
    if s.transfer_type == TransferType::Binary
        && let Ok(UploadState { partial: Some(size), .. }) = storage.upload_state(&path, &s.uploader(&path)?).await
    {
        return Ok(Reply::new(ReplyCode::FILE_STATUS, size.to_string()).into());
    }
    s.require(Right::List, &path.parent())?;
    let meta = s.file_metadata(&path).await?;
    let size = match s.transfer_type {
        TransferType::Binary => meta.size,
        TransferType::Ascii if meta.size > ASCII_SIZE_LIMIT => {
            return Err(CommandError::reply(
                ReplyCode::FILE_UNAVAILABLE,
                "SIZE in ASCII mode is only computed for files up to 64 MiB; use TYPE I.",
            ));
        }
        TransferType::Ascii => {
            // Counting reads the file: only for who may read it.
            s.require(Right::Read, &path)?;
            let (mut reader, _) = storage.read(&path, 0).await?;
            let mut buf = Vec::new();
            let mut total = 0;
            loop {
                let (b, result) = reader.read_chunk(buf, 1024 * 1024).await;
                buf = b;
                let n = result.map_err(|e| StorageError::io(e, path.to_string()))?;
                if n == 0 {
                    break;
                }
                total += Encoder::encoded_len(&buf[..n]);
            }
            total
        }
    };
    Ok(Reply::new(ReplyCode::FILE_STATUS, size.to_string()).into())
}
