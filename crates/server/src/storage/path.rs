//! Virtual paths: what the user sees, normalised before any backend sees them.

use std::fmt;

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
