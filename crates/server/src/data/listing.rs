//! Turning storage entries into `LIST`, `NLST` and `MLSD` lines.

use crate::auth::{FolderRights, Rights};
use crate::storage::{DirEntry, Metadata, VirtualPath};
use ferroftp_proto::listing::{self, Entry, Facts, FileKind, TypeContext};
use std::time::SystemTime;

/// The line format of a listing.
#[derive(Debug, Clone)]
pub(crate) enum ListFormat {
    /// `LIST`: `ls -l` lines.
    Long,
    /// `NLST`: names, each prefixed with `prefix` (the directory part of a glob
    /// argument, so the names can be given back to `RETR` as they are).
    Names { prefix: String },
    /// `MLSD`: RFC 3659 fact lines.
    /// `MLSD`: each entry's `perm` fact comes from the rights at `dir/name`.
    Facts { facts: Facts, rights: FolderRights, dir: VirtualPath },
}

/// Which entries a listing shows.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntryFilter {
    /// Show names starting with `.` (`ls -a`; always on for `MLSD`).
    pub show_hidden: bool,
    /// A glob (`*`, `?`) the name must match.
    pub pattern: Option<String>,
}

impl EntryFilter {
    pub(crate) fn accepts(&self, name: &str) -> bool {
        if let Some(p) = &self.pattern {
            return glob_match(p.as_bytes(), name.as_bytes())
                && (self.show_hidden || !name.starts_with('.') || p.starts_with('.'));
        }
        self.show_hidden || !name.starts_with('.')
    }
}

/// True if the last path component has glob characters.
pub(crate) fn is_glob(component: &str) -> bool {
    component.contains(['*', '?'])
}

/// Matches `*` (any run) and `?` (one character); everything else literally.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Builds the protocol-level entry for a storage entry.
pub(crate) fn to_entry(name: &str, m: &Metadata, rights: &Rights) -> Entry {
    Entry {
        name: name.to_string(),
        kind: m.kind,
        size: m.size,
        modified: m.modified,
        mode: m.mode,
        nlink: m.nlink,
        owner: m.uid.to_string(),
        group: m.gid.to_string(),
        link_target: m.link_target.clone(),
        unique: Some(m.unique.clone()),
        perm: Some(rights.perm_fact(m.kind == FileKind::Dir)),
    }
}

impl ListFormat {
    /// Appends one line, CRLF-terminated, to `out`.
    pub(crate) fn write_line(&self, e: &DirEntry, now: SystemTime, out: &mut Vec<u8>) {
        match self {
            ListFormat::Long => out.extend_from_slice(
                listing::unix_line(&to_entry(&e.name, &e.metadata, &Rights::READ_ONLY), now).as_bytes(),
            ),
            ListFormat::Names { prefix } => {
                out.extend_from_slice(prefix.as_bytes());
                out.extend_from_slice(e.name.as_bytes());
            }
            ListFormat::Facts { facts, rights, dir } => out.extend_from_slice(
                listing::mlsx_line(
                    &to_entry(&e.name, &e.metadata, &rights.at(&dir.join(&e.name))),
                    facts,
                    TypeContext::Entry,
                )
                .as_bytes(),
            ),
        }
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match(b"*.txt", b"a.txt"));
        assert!(glob_match(b"*", b"x"));
        assert!(glob_match(b"a?c*", b"abcdef"));
        assert!(!glob_match(b"*.txt", b"a.txz"));
        assert!(glob_match(b"*a*b", b"xxaxxb"));
        let f = EntryFilter { show_hidden: false, pattern: Some("*".into()) };
        assert!(!f.accepts(".hidden"));
        assert!(f.accepts("seen"));
    }
}
