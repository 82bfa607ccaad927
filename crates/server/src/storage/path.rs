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
}
