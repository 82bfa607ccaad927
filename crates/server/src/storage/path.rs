//! Virtual paths: what the user sees, normalised before any backend sees them.

use std::fmt;

/// Longest path a client may name, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH: usize = 4096;
/// Longest name of one file or folder, in bytes (Linux's `NAME_MAX`).
pub const MAX_NAME: usize = 255;

/// Names beginning with this are the server's own (the folders where uploads
/// are staged until they are complete): no client can name, list, read or
/// create them.
pub const RESERVED_PREFIX: &str = ".ferroftp-";

/// Why a client's path or new name is refused (`553`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameProblem {
    #[error("path longer than {MAX_PATH} bytes")]
    PathTooLong,
    #[error("name longer than {MAX_NAME} bytes")]
    NameTooLong,
    #[error("control character in the name")]
    Control,
    #[error("backslash in the name")]
    Backslash,
    /// A character that looks like `/`, `\` or `.` (U+2215 DIVISION SLASH,
    /// U+FF0E FULLWIDTH FULL STOP, ...): harmless here, since only `/`
    /// separates, but a name like `∕..∕etc` misleads people and the clients
    /// that later copy it to a system that folds such characters.
    #[error("character that imitates a path separator or dot")]
    LookAlike,
    /// Bidirectional overrides and zero-width characters, which make a name
    /// display as something else (`gpj.exe` shown as `exe.jpg`).
    #[error("invisible or direction-changing character in the name")]
    Invisible,
    #[error("'.' and '..' cannot be created")]
    Dots,
    /// A name the server keeps for itself ([`RESERVED_PREFIX`]).
    #[error("names beginning with {RESERVED_PREFIX:?} are reserved by the server")]
    Reserved,
}

/// Characters that render like `/`, `\` or `.`.
fn looks_like_separator(c: char) -> bool {
    matches!(
        c,
        '\u{2044}' | '\u{2215}' | '\u{2571}' | '\u{29F8}' | '\u{FF0F}' | '\u{1735}' // slashes
        | '\u{2216}' | '\u{29F5}' | '\u{29F9}' | '\u{FE68}' | '\u{FF3C}' // backslashes
        | '\u{2024}' | '\u{2025}' | '\u{2026}' | '\u{FE52}' | '\u{FF0E}' | '\u{3002}' | '\u{FF61}' // dots
    )
}

/// Characters that are invisible or reorder text around them.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FEFF}' | '\u{061C}' | '\u{00AD}'
    )
}

/// True if `name` begins with [`RESERVED_PREFIX`], in any case (a
/// case-insensitive file system would find the server's folders by them).
pub fn is_reserved(name: &str) -> bool {
    name.as_bytes().get(..RESERVED_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(RESERVED_PREFIX.as_bytes()))
}

/// Checks a path argument as the client sent it, before it is resolved: any
/// path that can be used at all (`RETR`, `CWD`, ...).
pub fn check_path(arg: &str) -> Result<(), NameProblem> {
    if arg.len() > MAX_PATH {
        return Err(NameProblem::PathTooLong);
    }
    for component in arg.split('/') {
        if component.len() > MAX_NAME {
            return Err(NameProblem::NameTooLong);
        }
        if is_reserved(component) {
            return Err(NameProblem::Reserved);
        }
    }
    if arg.chars().any(char::is_control) {
        return Err(NameProblem::Control);
    }
    Ok(())
}

/// Checks the last component of a path that is about to be created (`STOR`,
/// `MKD`, `RNTO`, ...): stricter than [`check_path`], so that nothing the
/// server stores can mislead a person or a client reading the listing.
pub fn check_new_name(name: &str) -> Result<(), NameProblem> {
    check_path(name)?;
    if name == "." || name == ".." || name.is_empty() {
        return Err(NameProblem::Dots);
    }
    if name.contains('\\') {
        return Err(NameProblem::Backslash);
    }
    if name.chars().any(looks_like_separator) {
        return Err(NameProblem::LookAlike);
    }
    if name.chars().any(is_invisible) {
        return Err(NameProblem::Invisible);
    }
    Ok(())
}

/// An absolute, normalised path in a user's tree: `/` or `/a/b`, never with
/// empty, `.` or `..` components.
///
/// RFC 3659 §6 (TVFS): `/` separates components and a path starting with `/`
/// is absolute. `..` above the root stays at the root, as on every Unix server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VirtualPath(String);

impl VirtualPath {
    /// The root of the tree.
    pub fn root() -> Self {
        VirtualPath("/".to_string())
    }

    /// Resolves a client-supplied path against this directory.
    pub fn join(&self, arg: &str) -> VirtualPath {
        let mut parts: Vec<&str> = if arg.starts_with('/') { Vec::new() } else { self.components().collect() };
        for c in arg.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
        VirtualPath(format!("/{}", parts.join("/")))
    }

    /// The components after the root.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// The path relative to the root (`""` for the root itself), for backends.
    pub fn relative(&self) -> &str {
        &self.0[1..]
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The last component, `None` for the root.
    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    /// The containing directory (the root is its own parent).
    pub fn parent(&self) -> VirtualPath {
        self.join("..")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True if `base` is this path or one of its ancestors.
    pub fn starts_with(&self, base: &VirtualPath) -> bool {
        base.is_root() || self.0 == base.0 || (self.0.starts_with(&base.0) && self.0.as_bytes()[base.0.len()] == b'/')
    }

    /// This path seen from `base` (which must contain it) as a rooted path:
    /// `/a/b/c` from `/a` is `/b/c`.
    pub fn strip_prefix(&self, base: &VirtualPath) -> Option<VirtualPath> {
        if !self.starts_with(base) {
            return None;
        }
        if base.is_root() {
            return Some(self.clone());
        }
        let rest = &self.0[base.0.len()..];
        Some(if rest.is_empty() { VirtualPath::root() } else { VirtualPath(rest.to_string()) })
    }

    /// Number of components (`/` has none).
    pub fn depth(&self) -> usize {
        self.components().count()
    }
}

impl fmt::Display for VirtualPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_normalises_and_clamps_at_root() {
        let cwd = VirtualPath::root().join("pub/docs");
        assert_eq!(cwd.as_str(), "/pub/docs");
        assert_eq!(cwd.join("../x").as_str(), "/pub/x");
        assert_eq!(cwd.join("../../../../etc/passwd").as_str(), "/etc/passwd");
        assert_eq!(cwd.join("/").as_str(), "/");
        assert_eq!(cwd.join("a//b/./c/").as_str(), "/pub/docs/a/b/c");
        assert_eq!(cwd.join("my file ").as_str(), "/pub/docs/my file ");
        assert_eq!(cwd.parent().parent().parent().as_str(), "/");
        assert_eq!(VirtualPath::root().relative(), "");
        assert_eq!(cwd.file_name(), Some("docs"));
    }

    #[test]
    fn paths_and_new_names_are_checked() {
        assert_eq!(check_path(&"a/".repeat(2049)), Err(NameProblem::PathTooLong));
        assert_eq!(check_path(&"n".repeat(256)), Err(NameProblem::NameTooLong));
        assert_eq!(check_path(&format!("/{}/x", "n".repeat(255))), Ok(()));
        assert_eq!(check_path("a\tb"), Err(NameProblem::Control));
        assert_eq!(check_path("a\u{7f}"), Err(NameProblem::Control));
        // Reading such names is allowed: only `/` separates, so they cannot escape.
        assert_eq!(check_path("..\\..\\etc"), Ok(()));
        for reserved in [".ferroftp-staging", "a/.ferroftp-staging/x", ".ferroftp-upload-1-f", "/x/.ferroftp-"] {
            assert_eq!(check_path(reserved), Err(NameProblem::Reserved), "{reserved}");
        }
        assert_eq!(check_path(".FERROFTP-Staging"), Err(NameProblem::Reserved));
        assert_eq!(check_path(".ferroftp"), Ok(()));
        assert_eq!(check_path("x.ferroftp-staging"), Ok(()));
        assert_eq!(check_path("\u{2215}etc\u{2215}passwd"), Ok(()));
        for (name, problem) in [
            ("..\\..\\etc", NameProblem::Backslash),
            ("\u{2215}..\u{2215}etc", NameProblem::LookAlike),
            ("\u{FF0E}\u{FF0E}", NameProblem::LookAlike),
            ("a\u{2024}\u{2024}", NameProblem::LookAlike),
            ("\u{FF0F}etc", NameProblem::LookAlike),
            ("photo\u{202E}gpj.exe", NameProblem::Invisible),
            ("a\u{200B}b", NameProblem::Invisible),
            ("..", NameProblem::Dots),
            (".", NameProblem::Dots),
        ] {
            assert_eq!(check_new_name(name), Err(problem), "{name:?}");
        }
        for ok in ["plain.txt", ".hidden", "...", "Grüße – 日本語 ✓.txt", "a b", "a'b\"c"] {
            assert_eq!(check_new_name(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn prefixes_compare_whole_components() {
        let p = VirtualPath::root().join("/pub/docs/a");
        assert!(p.starts_with(&VirtualPath::root().join("/pub")));
        assert!(p.starts_with(&p));
        assert!(p.starts_with(&VirtualPath::root()));
        assert!(!p.starts_with(&VirtualPath::root().join("/pu")));
        assert!(!VirtualPath::root().join("/pubx").starts_with(&VirtualPath::root().join("/pub")));
        assert_eq!(p.strip_prefix(&VirtualPath::root().join("/pub")).unwrap().as_str(), "/docs/a");
        assert_eq!(p.strip_prefix(&p).unwrap().as_str(), "/");
        assert_eq!(p.strip_prefix(&VirtualPath::root().join("/other")), None);
        assert_eq!(p.depth(), 3);
    }
}
