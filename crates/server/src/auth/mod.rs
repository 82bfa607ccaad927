//! Authentication: the [`Authenticator`] trait and the built-in accounts
//! (anonymous and logins given on the command line).

mod checks;
mod rights;
mod users;

pub use checks::{Busy, CheckStats, PasswordChecks};
pub use rights::{FolderRights, Right, Rights};
pub use users::{
    IpFilter, Origin, Resolved, Secret, UserDirectory, UserEntry, UserSettings, check_hash, hash_password,
};

use crate::storage::Storage;
use async_trait::async_trait;
use std::net::IpAddr;
use std::sync::Arc;

/// A logged-in user: a name, a tree and what they may do in it.
#[derive(Clone)]
pub struct Account {
    pub name: String,
    pub anonymous: bool,
    pub storage: Arc<dyn Storage>,
    /// What the user may do, folder by folder.
    pub rights: FolderRights,
    /// Limits and settings of the account.
    pub policy: AccountPolicy,
}

/// Limits and settings that come with an account.
#[derive(Debug, Clone, Default)]
pub struct AccountPolicy {
    /// Concurrent sessions of this user.
    pub max_sessions: Option<u32>,
    /// Bytes per second, shared by all of the user's transfers.
    pub download_limit: Option<u64>,
    pub upload_limit: Option<u64>,
    /// (bytes, files) allowed in the account's folders.
    pub quota: Option<(Option<u64>, Option<u64>)>,
    /// Who shares the quota (`user:NAME` or `group:NAME`).
    pub quota_owner: String,
    /// The real directories the quota counts.
    pub quota_roots: Vec<std::path::PathBuf>,
    /// The mount points whose folders the quota covers (a group's quota covers
    /// the group's folders only).
    pub quota_mounts: Vec<crate::storage::VirtualPath>,
    /// Every mount point of the account.
    pub mounts: Vec<crate::storage::VirtualPath>,
    /// Data connections with other hosts are allowed (FXP).
    pub fxp: bool,
    /// Lines sent with the `230` reply.
    pub login_message: Option<String>,
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
    #[error("the account is disabled")]
    Disabled,
    #[error("logins from this address are not allowed for this user")]
    AddressNotAllowed,
    #[error("a folder of the account cannot be opened")]
    Unavailable,
    /// Too many password checks are waiting: the password was not checked.
    #[error("too many logins are being checked")]
    Busy,
}

/// Decides who may log in and with what. Later backends (LDAP, PAM)
/// implement this. Password hashes are checked with the server's
/// [`PasswordChecks`], which bounds how many run at once and how much memory
/// they take.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// True if `user` names the anonymous account (RFC 1635: `anonymous` or `ftp`).
    fn is_anonymous(&self, user: &str) -> bool {
        user.eq_ignore_ascii_case("anonymous") || user.eq_ignore_ascii_case("ftp")
    }
    async fn authenticate(&self, credentials: &Credentials, checks: &PasswordChecks) -> Result<Account, AuthError>;
    /// The real directories this authenticator's accounts are served from
    /// (for the start-up sweep of interrupted uploads).
    fn folders(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
    /// A per-user TLS requirement that overrides the server's policy:
    /// `Some(true)` requires TLS before the password is sent, `Some(false)`
    /// exempts the user. Asked at `USER`.
    fn tls_required(&self, _user: &str) -> Option<bool> {
        None
    }
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

pub(crate) fn normalize_fingerprint(f: &str) -> String {
    f.chars().filter(char::is_ascii_hexdigit).map(|c| c.to_ascii_uppercase()).collect()
}

/// Compares without an early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[async_trait]
impl Authenticator for StaticAuthenticator {
    fn folders(&self) -> Vec<std::path::PathBuf> {
        self.storage.folders()
    }

    async fn authenticate(&self, c: &Credentials, _checks: &PasswordChecks) -> Result<Account, AuthError> {
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
                rights: FolderRights::uniform(Rights::FULL),
                policy: AccountPolicy::default(),
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
                rights: FolderRights::uniform(rights),
                policy: AccountPolicy::default(),
            });
        }
        Err(AuthError::UnknownUser)
    }
}
