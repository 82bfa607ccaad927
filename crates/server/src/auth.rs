//! Authentication: the [`Authenticator`] trait and the built-in accounts
//! (anonymous and logins given on the command line).

use crate::storage::Storage;
use async_trait::async_trait;
use std::net::IpAddr;
use std::sync::Arc;

/// What a logged-in user may do. Each operation checks exactly one right, and a
/// refusal names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights {
    pub list: bool,
    pub read: bool,
    /// Create files (`STOR`, `STOU`).
    pub write: bool,
    /// Extend files (`APPE`, `REST`+`STOR`).
    pub append: bool,
    /// Remove files, and replace an existing file with `STOR`.
    pub delete: bool,
    pub rename: bool,
    pub mkdir: bool,
    pub rmdir: bool,
}

impl Rights {
    pub const READ_ONLY: Rights = Rights {
        list: true,
        read: true,
        write: false,
        append: false,
        delete: false,
        rename: false,
        mkdir: false,
        rmdir: false,
    };
    pub const FULL: Rights = Rights {
        list: true,
        read: true,
        write: true,
        append: true,
        delete: true,
        rename: true,
        mkdir: true,
        rmdir: true,
    };
    /// Anonymous "write" mode: add files and folders, never change or remove what exists.
    pub const UPLOAD: Rights = Rights { write: true, mkdir: true, ..Rights::READ_ONLY };

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
}

impl Right {
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
        }
    }
}

/// A logged-in user: a name, a tree and what they may do in it.
#[derive(Clone)]
pub struct Account {
    pub name: String,
    pub anonymous: bool,
    pub storage: Arc<dyn Storage>,
    pub rights: Rights,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account").field("name", &self.name).field("anonymous", &self.anonymous).finish()
    }
}

/// What a client presented at login.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    pub peer: IpAddr,
    /// The RFC 7151 `HOST` the client asked for, if any.
    pub host: Option<String>,
    /// SHA-256 fingerprint of the TLS client certificate, if one was presented.
    pub client_certificate: Option<String>,
}

/// Why a login failed. The client sees the same `530` for every variant, so
/// user names cannot be probed (RFC 2577 §5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("unknown user")]
    UnknownUser,
    #[error("wrong password")]
    BadPassword,
    #[error("anonymous login is disabled")]
    AnonymousDisabled,
    #[error("the user is bound to a TLS client certificate that was not presented")]
    CertificateMismatch,
}

/// Decides who may log in and with what. Later backends (config-file users,
/// LDAP) implement this.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// True if `user` names the anonymous account (RFC 1635: `anonymous` or `ftp`).
    fn is_anonymous(&self, user: &str) -> bool {
        user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp")
    }
    async fn authenticate(&self, credentials: &Credentials) -> Result<Account, AuthError>;
}

/// Anonymous access to the served tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnonymousAccess {
    Off,
    /// Download and list only (the zero-config default).
    #[default]
    Read,
    /// Also upload new files and create folders; nothing existing can be changed.
    Write,
}

/// Anonymous plus a fixed list of `name:password` logins, all on one tree.
pub struct StaticAuthenticator {
    storage: Arc<dyn Storage>,
    anonymous: AnonymousAccess,
    users: Vec<(String, String)>,
    /// Users who must also present this TLS client certificate (SHA-256 fingerprint).
    certificates: Vec<(String, String)>,
}

impl StaticAuthenticator {
    pub fn new(storage: Arc<dyn Storage>, anonymous: AnonymousAccess, users: Vec<(String, String)>) -> Self {
        StaticAuthenticator { storage, anonymous, users, certificates: Vec::new() }
    }

    /// Binds `user` to a client certificate: the login then needs both the
    /// password and a TLS control connection presenting that certificate.
    /// Fingerprints compare without regard to case or `:` separators.
    pub fn bind_certificate(mut self, user: impl Into<String>, fingerprint: impl Into<String>) -> Self {
        self.certificates.push((user.into(), normalize_fingerprint(&fingerprint.into())));
        self
    }
}

fn normalize_fingerprint(f: &str) -> String {
    f.chars().filter(char::is_ascii_hexdigit).map(|c| c.to_ascii_uppercase()).collect()
}

/// Compares without an early exit on the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[async_trait]
impl Authenticator for StaticAuthenticator {
    async fn authenticate(&self, c: &Credentials) -> Result<Account, AuthError> {
        if let Some((_, bound)) = self.certificates.iter().find(|(n, _)| n == &c.user) {
            let presented = c.client_certificate.as_deref().map(normalize_fingerprint);
            if presented.as_deref() != Some(bound.as_str()) {
                return Err(AuthError::CertificateMismatch);
            }
        }
        if let Some((name, _)) =
            self.users.iter().find(|(n, p)| n == &c.user && constant_time_eq(p.as_bytes(), c.password.as_bytes()))
        {
            return Ok(Account {
                name: name.clone(),
                anonymous: false,
                storage: Arc::clone(&self.storage),
                rights: Rights::FULL,
            });
        }
        if self.users.iter().any(|(n, _)| n == &c.user) {
            return Err(AuthError::BadPassword);
        }
        if self.is_anonymous(&c.user) {
            let rights = match self.anonymous {
                AnonymousAccess::Off => return Err(AuthError::AnonymousDisabled),
                AnonymousAccess::Read => Rights::READ_ONLY,
                AnonymousAccess::Write => Rights::UPLOAD,
            };
            return Ok(Account {
                name: "anonymous".into(),
                anonymous: true,
                storage: Arc::clone(&self.storage),
                rights,
            });
        }
        Err(AuthError::UnknownUser)
    }
}
