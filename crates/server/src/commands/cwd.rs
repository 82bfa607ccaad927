//! `CWD`/`XCWD` (RFC 959 §4.1.1, RFC 775).

use super::HandlerResult;
use crate::error::{CommandError, StorageError, StorageErrorKind};
use crate::session::Session;
use crate::storage::VirtualPath;
use ferroftp_proto::listing::FileKind;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let path = s.resolve(arg.as_deref().unwrap_or("/"))?;
    let meta = s.storage()?.metadata(&path).await?;
    if meta.kind != FileKind::Dir {
        return Err(CommandError::Storage(StorageError::new(StorageErrorKind::NotADirectory, path.to_string())));
    }
    let mut lines = directory_message(s, &path).await;
    lines.push(format!("Directory changed to {path}."));
    s.cwd = path;
    Ok(Reply::multi(ReplyCode::FILE_ACTION_OK, lines).into())
}

/// Most of a directory message shown; the rest is cut.
const MESSAGE_MAX: usize = 8 * 1024;

/// The lines of the folder's message file (`server.directory_message`), if
/// there is one, as vsftpd and ProFTPD show `.message` on entering a folder.
async fn directory_message(s: &Session, dir: &VirtualPath) -> Vec<String> {
    let Some(name) = &s.ctx.config.directory_message else { return Vec::new() };
    let Ok(storage) = s.storage() else { return Vec::new() };
    let path = dir.join(name);
    // A missing message, a folder or a special file of that name: no message.
    let Ok((mut reader, _)) = storage.read(&path, 0).await else { return Vec::new() };
    let (buf, n) = reader.read_chunk(Vec::new(), MESSAGE_MAX).await;
    let Ok(n) = n else { return Vec::new() };
    String::from_utf8_lossy(&buf[..n]).lines().map(str::to_string).collect()
}
