//! `STAT` (RFC 959 §4.1.3): with no argument, the session's status (also while
//! a transfer runs); with a path, its listing over the control connection.

use super::{HandlerResult, Outcome};
use crate::auth::Right;
use crate::data::{EntryFilter, ListFormat};
use crate::error::CommandError;
use crate::session::{Login, Session, TransferType};
use crate::storage::DirEntry;
use ferroftp_proto::listing::FileKind;
use ferroftp_proto::{Reply, ReplyCode};
use std::time::SystemTime;

/// The 211 reply describing the session.
pub(crate) fn session_status(s: &Session) -> Reply {
    let mut lines = vec!["ferroftp status:".to_string(), format!("     Connected from {}", s.peer)];
    lines.push(match &s.login {
        Login::LoggedIn(a) => format!("     Logged in as {}", a.name),
        Login::User(u) => format!("     Waiting for the password of {u}"),
        Login::None => "     Not logged in".into(),
    });
    let ty = match s.transfer_type {
        TransferType::Ascii => "ASCII",
        TransferType::Binary => "BINARY",
    };
    lines.push(format!("     TYPE: {ty}; STRUcture: File; MODE: Stream"));
    lines.push(match &s.data {
        Some(crate::data::DataSetup::Passive(l)) => {
            format!("     Data connection: passive, listening on port {}", l.port())
        }
        Some(crate::data::DataSetup::Active(a)) => format!("     Data connection: active, to {a}"),
        Some(crate::data::DataSetup::Open(_)) => "     Data connection: open".into(),
        None => "     Data connection: none".into(),
    });
    if s.tls_context().is_some() {
        let control = if s.control_protected() { "TLS" } else { "clear" };
        let data = if s.prot_private { "Private (TLS)" } else { "Clear" };
        lines.push(format!("     Control connection: {control}; data protection: {data}"));
    }
    if let Some((what, bytes)) = s.transfer_status() {
        lines.push(format!("     Transferring: {what}, {bytes} bytes so far"));
    }
    lines.push("End of status".into());
    Reply::multi(ReplyCode::SYSTEM_STATUS, lines)
}

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let Some(arg) = arg else {
        return Ok(session_status(s).into());
    };
    s.account()?;
    let (show_hidden, path_arg) = super::list::split_ls_options(Some(&arg));
    let path = s.resolve(path_arg.unwrap_or("."))?;
    s.require(Right::List, &path)?;
    let storage = s.storage()?;
    let meta = storage.metadata(&path).await?;
    let now = SystemTime::now();
    let filter = EntryFilter { show_hidden, pattern: None };
    // RFC 959 §4.2: 212 for a directory, 213 for a file.
    let code = if meta.kind == FileKind::Dir { ReplyCode::DIRECTORY_STATUS } else { ReplyCode::FILE_STATUS };
    s.send_raw(format!("{code}-Status of {path}:\r\n").as_bytes()).await?;
    let mut out = Vec::new();
    if meta.kind == FileKind::Dir {
        let mut entries = storage.list(&path).await?;
        while let Some(entry) = entries.recv().await {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    s.send_raw(&out).await?;
                    return Err(CommandError::Storage(e));
                }
            };
            if filter.accepts(&entry.name) {
                ListFormat::Long.write_line(&entry, now, &mut out);
            }
            if out.len() > 64 * 1024 {
                s.send_raw(&out).await?;
                out.clear();
            }
        }
    } else {
        let metadata = storage.symlink_metadata(&path).await.map_err(CommandError::from)?;
        let name = path.file_name().unwrap_or_default().to_string();
        ListFormat::Long.write_line(&DirEntry { name, metadata }, now, &mut out);
    }
    s.send_raw(&out).await?;
    s.send(&Reply::new(code, "End of status.")).await?;
    Ok(Outcome::Done)
}
