//! `HASH` (draft-bryan-ftpext-hash §3) and its older form `XSHA256`: the
//! SHA-256 digest of a file, so that clients can verify a transfer without
//! fetching it again. `213 SHA-256 0-SIZE HEX path` (for `XSHA256`, `213 HEX`).

use super::HandlerResult;
use crate::auth::Right;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};
use sha2::{Digest, Sha256};

const CHUNK: usize = 256 * 1024;

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let (hex, size, path) = digest(s, arg).await?;
    Ok(Reply::new(ReplyCode::FILE_STATUS, format!("SHA-256 0-{size} {hex} {path}")).into())
}

/// `XSHA256`: the digest alone.
pub(crate) async fn run_x(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let (hex, _, _) = digest(s, arg).await?;
    Ok(Reply::new(ReplyCode::FILE_STATUS, hex).into())
}

/// The hex digest, size and shown path of the file `arg` names.
async fn digest(s: &mut Session, arg: Option<String>) -> Result<(String, u64, String), CommandError> {
    let path = s.resolve(arg.as_deref().unwrap_or_default())?;
    s.require(Right::Read, &path)?;
    // The open refuses directories and special files and gives the size.
    let (mut reader, meta) = s.storage()?.read(&path, 0).await?;
    let mut hasher = Sha256::new();
    let mut buf = Vec::with_capacity(CHUNK);
    loop {
        let (back, result) = reader.read_chunk(buf, CHUNK).await;
        buf = back;
        match result {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) => {
                return Err(CommandError::Storage(crate::error::StorageError::io(e, path.to_string())));
            }
        }
    }
    let hex: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((hex, meta.size, path.to_string()))
}
