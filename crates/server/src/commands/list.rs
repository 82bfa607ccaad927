//! `LIST` (RFC 959 §4.1.3): `ls -l` lines over the data connection. Also home of
//! the listing logic `NLST` and `MLSD` share: `ls` options, globs, a file
//! argument listed as itself.

use super::HandlerResult;
use crate::auth::Right;
use crate::data::{EntryFilter, Job, ListFormat, is_glob};
use crate::error::{CommandError, StorageError, StorageErrorKind};
use crate::session::Session;
use crate::storage::{DirEntry, VirtualPath};
use ferroftp_proto::ReplyCode;
use ferroftp_proto::listing::FileKind;

/// Splits leading `ls` options (`-a`, `-l`, `-la`, `-aln`, as lftp, curl and
/// Windows clients send them) from the path. Returns whether `-a`/`-A` was
/// given and the path, if any.
pub(super) fn split_ls_options(arg: Option<&str>) -> (bool, Option<&str>) {
    let Some(mut rest) = arg else {
        return (false, None);
    };
    let mut all = false;
    loop {
        let word_end = rest.find(' ').unwrap_or(rest.len());
        let word = &rest[..word_end];
        let is_option = word.len() > 1 && word.starts_with('-') && word[1..].bytes().all(|b| b.is_ascii_alphabetic());
        if !is_option {
            break;
        }
        all |= word.contains(['a', 'A']);
        rest = rest[word_end..].strip_prefix(' ').unwrap_or("");
    }
    (all, (!rest.is_empty()).then_some(rest))
}

/// Which listing command is being served.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ListKind {
    Long,
    Names,
    Facts,
}

/// Prepares and starts a listing transfer.
pub(super) async fn start_listing(s: &mut Session, arg: Option<String>, kind: ListKind) -> HandlerResult {
    let (show_all, path_arg) = match kind {
        ListKind::Facts => (true, arg.as_deref()),
        _ => split_ls_options(arg.as_deref()),
    };
    let storage = s.storage()?;
    let mut filter = EntryFilter { show_hidden: show_all, pattern: None };
    let mut prefix = String::new();
    let mut target = match path_arg {
        Some(a) => s.resolve(a)?,
        None => s.cwd.clone(),
    };
    if kind != ListKind::Facts
        && let Some(a) = path_arg
        && let Some(last) = target.file_name().filter(|n| is_glob(n))
    {
        filter.pattern = Some(last.to_string());
        prefix = a.rfind('/').map(|i| a[..=i].to_string()).unwrap_or_default();
        target = target.parent();
    }
    let meta = storage.metadata(&target).await?;
    let listed_dir = if meta.kind == FileKind::Dir { target.clone() } else { target.parent() };
    s.require(Right::List, &listed_dir)?;
    let entries = if meta.kind == FileKind::Dir {
        storage.list(&target).await?
    } else if kind == ListKind::Facts {
        // RFC 3659 §7.2.2: MLSD of a file is an error; MLST is for files.
        return Err(CommandError::reply(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            format!("{target} is not a directory; use MLST."),
        ));
    } else {
        single_entry(s, &target, path_arg).await?
    };
    let format = match kind {
        ListKind::Long => ListFormat::Long,
        ListKind::Names => ListFormat::Names { prefix },
        ListKind::Facts => ListFormat::Facts { facts: s.facts, rights: s.account()?.rights.clone(), dir: listed_dir },
    };
    let verb = match kind {
        ListKind::Long => "LIST",
        ListKind::Names => "NLST",
        ListKind::Facts => "MLSD",
    };
    s.start_transfer(
        Job::List { entries, format, filter },
        verb,
        &target,
        "Here comes the directory listing.".into(),
        "Directory send OK.".into(),
    )
}

/// A listing of one file: `LIST file` shows its line, `NLST file` its name as given.
async fn single_entry(
    s: &Session,
    target: &VirtualPath,
    as_given: Option<&str>,
) -> Result<crate::storage::DirStream, CommandError> {
    let storage = s.storage()?;
    let metadata = storage.symlink_metadata(target).await?;
    let name = as_given
        .map(str::to_string)
        .or_else(|| target.file_name().map(str::to_string))
        .ok_or_else(|| StorageError::new(StorageErrorKind::NotFound, target.to_string()))?;
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    let _ = tx.try_send(Ok(DirEntry { name, metadata }));
    Ok(rx)
}

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    start_listing(s, arg, ListKind::Long).await
}

#[cfg(test)]
mod tests {
    use super::split_ls_options;

    #[test]
    fn ls_options_are_not_paths() {
        assert_eq!(split_ls_options(Some("-la")), (true, None));
        assert_eq!(split_ls_options(Some("-aln /pub")), (true, Some("/pub")));
        assert_eq!(split_ls_options(Some("-l my dir")), (false, Some("my dir")));
        assert_eq!(split_ls_options(Some("-l -a x")), (true, Some("x")));
        assert_eq!(split_ls_options(Some("-")), (false, Some("-")));
        assert_eq!(split_ls_options(Some("-1.txt")), (false, Some("-1.txt")));
        assert_eq!(split_ls_options(Some("dir")), (false, Some("dir")));
    }
}
