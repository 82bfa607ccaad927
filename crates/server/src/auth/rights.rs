//! Rights: what a user may do, and where.

use crate::storage::VirtualPath;

/// What a logged-in user may do. Each operation checks exactly one right, and a
/// refusal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights {
    pub list: bool,
    pub read: bool,
    /// Create files (`STOR`, `STOU`).
    pub write: bool,
    /// Extend files (`APPE`, `REST`+`STOR` at the end of a file).
    pub append: bool,
    /// Remove files, and anything else that removes or replaces bytes already
    /// stored: `STOR` over an existing file, `RNTO` onto an existing name, a
    /// restart below a file's size, `MFMT` on a file this session did not store.
    pub delete: bool,
    pub rename: bool,
    pub mkdir: bool,
    pub rmdir: bool,
    /// Change permission bits (`SITE CHMOD`).
    pub chmod: bool,
}

impl Rights {
    pub const NONE: Rights = Rights {
        list: false,
        read: false,
        write: false,
        append: false,
        delete: false,
        rename: false,
        mkdir: false,
        rmdir: false,
        chmod: false,
    };
    pub const READ_ONLY: Rights = Rights { list: true, read: true, ..Rights::NONE };
    pub const FULL: Rights = Rights {
        list: true,
        read: true,
        write: true,
        append: true,
        delete: true,
        rename: true,
        mkdir: true,
        rmdir: true,
        chmod: true,
    };
    /// Anonymous "write" mode: add files and folders, never change or remove what exists.
    pub const UPLOAD: Rights = Rights { write: true, mkdir: true, ..Rights::READ_ONLY };

    /// Upload-only (an anonymous `incoming` folder, RFC 1635): new files can be
    /// put, nothing can be listed, downloaded, replaced or removed.
    pub const DROP_BOX: Rights = Rights { write: true, ..Rights::NONE };

    /// These rights plus `right`.
    pub fn with(mut self, right: Right) -> Rights {
        match right {
            Right::List => self.list = true,
            Right::Read => self.read = true,
            Right::Write => self.write = true,
            Right::Append => self.append = true,
            Right::Delete => self.delete = true,
            Right::Rename => self.rename = true,
            Right::Mkdir => self.mkdir = true,
            Right::Rmdir => self.rmdir = true,
            Right::Chmod => self.chmod = true,
        }
        self
    }

    /// The rights granted, in the order of [`Right::ALL`].
    pub fn granted(&self) -> impl Iterator<Item = Right> + '_ {
        Right::ALL.into_iter().filter(|r| r.granted_by(self))
    }

    /// The RFC 3659 §7.5.5 `perm` fact for a file or directory.
    pub fn perm_fact(&self, is_dir: bool) -> String {
        let mut p = String::new();
        let mut add = |on: bool, c: char| {
            if on {
                p.push(c);
            }
        };
        if is_dir {
            add(self.write, 'c');
            add(self.rmdir, 'd');
            add(self.list, 'e');
            add(self.rename, 'f');
            add(self.list, 'l');
            add(self.mkdir, 'm');
            add(self.delete, 'p');
        } else {
            add(self.append, 'a');
            add(self.delete, 'd');
            add(self.rename, 'f');
            add(self.read, 'r');
            add(self.write && self.delete, 'w');
        }
        p
    }
}

/// One right, named in refusals ("550 Permission denied: no 'delete' right").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Right {
    List,
    Read,
    Write,
    Append,
    Delete,
    Rename,
    Mkdir,
    Rmdir,
    Chmod,
}

impl Right {
    pub const ALL: [Right; 9] = [
        Right::List,
        Right::Read,
        Right::Write,
        Right::Append,
        Right::Delete,
        Right::Rename,
        Right::Mkdir,
        Right::Rmdir,
        Right::Chmod,
    ];

    /// The right called `name` (as written in the configuration).
    pub fn from_name(name: &str) -> Option<Right> {
        Right::ALL.into_iter().find(|r| r.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Right::List => "list",
            Right::Read => "read",
            Right::Write => "write",
            Right::Append => "append",
            Right::Delete => "delete",
            Right::Rename => "rename",
            Right::Mkdir => "mkdir",
            Right::Rmdir => "rmdir",
            Right::Chmod => "chmod",
        }
    }

    pub fn granted_by(self, r: &Rights) -> bool {
        match self {
            Right::List => r.list,
            Right::Read => r.read,
            Right::Write => r.write,
            Right::Append => r.append,
            Right::Delete => r.delete,
            Right::Rename => r.rename,
            Right::Mkdir => r.mkdir,
            Right::Rmdir => r.rmdir,
            Right::Chmod => r.chmod,
        }
    }
}

impl std::fmt::Display for Rights {
    /// `list, read` or `none`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.granted().map(Right::name).collect();
        if names.is_empty() { f.write_str("none") } else { f.write_str(&names.join(", ")) }
    }
}

/// Rights by folder. A path has the rights of the deepest rule at or above it,
/// so a rule on `/pub` covers `/pub/a/b` unless `/pub/a` has its own. A path
/// under no rule has no rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderRights {
    /// Deepest first.
    rules: Vec<(VirtualPath, Rights)>,
}

impl FolderRights {
    /// The same rights everywhere.
    pub fn uniform(rights: Rights) -> Self {
        FolderRights { rules: vec![(VirtualPath::root(), rights)] }
    }

    /// Rules as (folder, rights); a later rule for the same folder replaces an earlier one.
    pub fn new(rules: impl IntoIterator<Item = (VirtualPath, Rights)>) -> Self {
        let mut out: Vec<(VirtualPath, Rights)> = Vec::new();
        for (path, rights) in rules {
            match out.iter_mut().find(|(p, _)| *p == path) {
                Some(rule) => rule.1 = rights,
                None => out.push((path, rights)),
            }
        }
        out.sort_by_key(|(p, _)| std::cmp::Reverse(p.depth()));
        FolderRights { rules: out }
    }

    /// The rights at `path`.
    pub fn at(&self, path: &VirtualPath) -> Rights {
        self.rules.iter().find(|(p, _)| path.starts_with(p)).map_or(Rights::NONE, |(_, r)| *r)
    }

    /// The rules, shallowest first (for `config explain`).
    pub fn rules(&self) -> impl Iterator<Item = &(VirtualPath, Rights)> {
        self.rules.iter().rev()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> VirtualPath {
        VirtualPath::root().join(s)
    }

    #[test]
    fn deepest_rule_wins_and_is_inherited() {
        let r = FolderRights::new([
            (p("/"), Rights::READ_ONLY),
            (p("/pub/upload"), Rights::DROP_BOX),
            (p("/home"), Rights::FULL),
            (p("/home/secret"), Rights::NONE),
        ]);
        assert_eq!(r.at(&p("/")), Rights::READ_ONLY);
        assert_eq!(r.at(&p("/pub/x/y")), Rights::READ_ONLY);
        assert_eq!(r.at(&p("/pub/upload")), Rights::DROP_BOX);
        assert_eq!(r.at(&p("/pub/upload/a/b")), Rights::DROP_BOX);
        assert_eq!(r.at(&p("/pub/uploads")), Rights::READ_ONLY);
        assert_eq!(r.at(&p("/home/a")), Rights::FULL);
        assert_eq!(r.at(&p("/home/secret/x")), Rights::NONE);
        assert_eq!(FolderRights::new([(p("/a"), Rights::FULL)]).at(&p("/b")), Rights::NONE);
    }

    #[test]
    fn names_round_trip() {
        for r in Right::ALL {
            assert_eq!(Right::from_name(r.name()), Some(r));
        }
        assert_eq!(Right::from_name("upload"), None);
        assert_eq!(Rights::READ_ONLY.to_string(), "list, read");
        assert_eq!(Rights::NONE.to_string(), "none");
        assert_eq!(Rights::NONE.with(Right::Delete), Rights { delete: true, ..Rights::NONE });
    }
}
