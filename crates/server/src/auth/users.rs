//! Accounts from the configuration file: users with argon2id password hashes,
//! groups, folders and per-user settings, already resolved (user over groups
//! over defaults) when the file was loaded.

use super::{
    Account, AccountPolicy, AuthError, Authenticator, Credentials, FolderRights, PasswordChecks, normalize_fingerprint,
};
use crate::config::values::Cidr;
use crate::storage::{LocalFs, MountedFs, Storage, VirtualPath};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Argon2, Params};
use async_trait::async_trait;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Hashes a password as argon2id with a random salt (the PHC string that
/// `ferroftp passwd` prints and `password = ` takes).
pub fn hash_password(password: &str) -> Result<String, String> {
    hash_password_with(password, Params::default())
}

/// As [`hash_password`], with other argon2 parameters.
fn hash_password_with(password: &str, params: Params) -> Result<String, String> {
    use argon2::password_hash::{Output, Salt};
    let salt = SaltString::generate(&mut OsRng);
    let argon2 = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::default(), params.clone());
    // The same computation as `Argon2::hash_password`, in memory that goes
    // back to the system afterwards (see `checks::working_memory`).
    let mut memory = super::checks::working_memory(params.block_count());
    let mut salt_bytes = [0u8; 64];
    let raw_salt = Salt::from(&salt).decode_b64(&mut salt_bytes).map_err(|e| e.to_string())?;
    let mut out = [0u8; Output::B64_MAX_LENGTH];
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    argon2
        .hash_password_into_with_memory(password.as_bytes(), raw_salt, &mut out[..len], &mut memory)
        .map_err(|e| e.to_string())?;
    let output = Output::new(&out[..len]).map_err(|e| e.to_string())?;
    let hash = PasswordHash {
        algorithm: argon2::Algorithm::default().ident(),
        version: Some(argon2::Version::default().into()),
        params: (&params).try_into().map_err(|e: argon2::password_hash::Error| e.to_string())?,
        salt: Some(Salt::from(&salt)),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Checks a stored hash's form: an argon2 PHC string.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| e.to_string())?;
    match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => Ok(()),
        other => Err(format!("unsupported algorithm {other}")),
    }
}

#[cfg(test)]
fn verify(hash: &str, password: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Where a setting's value came from, for `ferroftp config explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    User,
    Group(String),
    Defaults,
    Anonymous,
    BuiltIn,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::User => f.write_str("user"),
            Origin::Group(g) => write!(f, "group {g}"),
            Origin::Defaults => f.write_str("[defaults]"),
            Origin::Anonymous => f.write_str("[anonymous]"),
            Origin::BuiltIn => f.write_str("built-in default"),
        }
    }
}

/// A setting's value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved<T> {
    pub value: T,
    pub from: Origin,
}

/// Addresses a user may log in from: allowed unless denied, and when an allow
/// list is given, only from it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpFilter {
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
}

impl IpFilter {
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if self.deny.iter().any(|c| c.0.contains(&ip)) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(|c| c.0.contains(&ip))
    }
}

/// A user's effective settings.
#[derive(Debug, Clone)]
pub struct UserSettings {
    pub max_sessions: Resolved<Option<u32>>,
    pub download_limit: Resolved<Option<u64>>,
    pub upload_limit: Resolved<Option<u64>>,
    /// (bytes, files); the quota is shared by everyone it came from (a group's
    /// quota by the whole group).
    pub quota: Resolved<Option<(Option<u64>, Option<u64>)>>,
    /// `Some(true)`: TLS required for this user; `Some(false)`: not required
    /// even when the server requires it; `None`: the server's policy.
    pub tls_required: Resolved<Option<bool>>,
    pub ip_filter: Resolved<IpFilter>,
    pub fxp: Resolved<bool>,
    pub login_message: Resolved<Option<String>>,
}

impl Default for UserSettings {
    /// Nothing set anywhere: no limits, no quota, the server's TLS policy.
    fn default() -> Self {
        fn builtin<T>(value: T) -> Resolved<T> {
            Resolved { value, from: Origin::BuiltIn }
        }
        UserSettings {
            max_sessions: builtin(None),
            download_limit: builtin(None),
            upload_limit: builtin(None),
            quota: builtin(None),
            tls_required: builtin(None),
            ip_filter: builtin(IpFilter::default()),
            fxp: builtin(false),
            login_message: builtin(None),
        }
    }
}

/// How a user proves who they are.
#[derive(Clone)]
pub enum Secret {
    /// An argon2 PHC string.
    Hash(String),
    /// A password given on the command line (`--user NAME:PASSWORD`). It is
    /// hashed when the accounts are built, so that checking it costs what
    /// checking any other password costs: a wrong password and an unknown
    /// name cannot be told apart by their timing (RFC 2577 §5).
    Plain(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Secret::Hash(_) => "Hash(..)",
            Secret::Plain(_) => "Plain(..)",
        })
    }
}

/// One account as configured.
#[derive(Debug, Clone)]
pub struct UserEntry {
    pub name: String,
    pub secret: Option<Secret>,
    pub disabled: bool,
    pub groups: Vec<String>,
    /// (virtual path, real directory, where it was configured).
    pub mounts: Vec<(VirtualPath, PathBuf, Origin)>,
    pub rights: FolderRights,
    pub settings: UserSettings,
    /// SHA-256 fingerprint (normalised) of the client certificate the user must present.
    pub certificate: Option<String>,
}

/// The accounts of a configuration; an [`Authenticator`].
pub struct UserDirectory {
    users: HashMap<String, UserEntry>,
    anonymous: Option<UserEntry>,
    /// Each user's argon2 hash (plain passwords hashed when built).
    hashes: HashMap<String, Arc<str>>,
    /// Verified against when the user is unknown or has no password, so that
    /// takes as long as a wrong password (RFC 2577 §5, no user-name probing).
    dummy_hash: Arc<str>,
    /// The TLS requirement an unknown name gets: that of `[defaults]`, so that
    /// `USER` answers an unknown name as it answers most known ones.
    unknown_tls: Option<bool>,
}

impl fmt::Debug for UserDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserDirectory")
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("anonymous", &self.anonymous.is_some())
            .finish()
    }
}

impl UserDirectory {
    pub fn new(users: Vec<UserEntry>, anonymous: Option<UserEntry>) -> Self {
        let hashes: HashMap<String, Arc<str>> = users
            .iter()
            .filter_map(|u| {
                let hash = match u.secret.as_ref()? {
                    Secret::Hash(h) => h.clone(),
                    Secret::Plain(p) => hash_password(p).ok()?,
                };
                Some((u.name.clone(), Arc::from(hash)))
            })
            .collect();
        // The dummy costs what the costliest real check costs: an unknown
        // name never answers faster than a wrong password.
        let cost = |p: &Params| (p.block_count() as u64) * u64::from(p.t_cost());
        let costliest = hashes
            .values()
            .filter_map(|h| PasswordHash::new(h).ok().and_then(|p| Params::try_from(&p).ok()))
            .max_by_key(cost)
            .filter(|p| cost(p) > cost(&Params::default()))
            .unwrap_or_default();
        let dummy_hash: Arc<str> = hash_password_with("ferroftp-no-such-user", costliest).unwrap_or_default().into();
        UserDirectory {
            users: users.into_iter().map(|u| (u.name.clone(), u)).collect(),
            anonymous,
            hashes,
            dummy_hash,
            unknown_tls: None,
        }
    }

    /// Unknown names get this TLS requirement (`[defaults] tls`).
    pub fn with_unknown_tls(mut self, required: Option<bool>) -> Self {
        self.unknown_tls = required;
        self
    }

    /// The account called `name` (`anonymous` and `ftp` name the anonymous account).
    pub fn get(&self, name: &str) -> Option<&UserEntry> {
        if self.is_anonymous(name) {
            return self.anonymous.as_ref();
        }
        self.users.get(name)
    }

    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.users.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Every directory some account is served from (deduplicated), for a
    /// sandbox that allows only these.
    pub fn folders(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .users
            .values()
            .chain(&self.anonymous)
            .flat_map(|u| u.mounts.iter().map(|(_, d, _)| d.clone()))
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// True if some user must present a TLS client certificate.
    pub fn wants_client_certificates(&self) -> bool {
        self.users.values().any(|u| u.certificate.is_some())
    }

    pub fn anonymous(&self) -> Option<&UserEntry> {
        self.anonymous.as_ref()
    }

    /// Checks the password of `user` (known or not: one argon2 check of the
    /// same cost either way).
    async fn password_ok(&self, user: &str, c: &Credentials, checks: &PasswordChecks) -> Result<bool, AuthError> {
        let (hash, known) = match self.hashes.get(user) {
            Some(h) => (Arc::clone(h), true),
            None => (Arc::clone(&self.dummy_hash), false),
        };
        let ok = checks.verify(c.peer, hash, &c.password).await.map_err(|_| AuthError::Busy)?;
        Ok(ok && known)
    }
}

/// Opens every mount of an account beneath its directory handle.
fn open_tree(entry: &UserEntry) -> std::io::Result<Arc<dyn Storage>> {
    let mut mounts: Vec<(VirtualPath, Arc<dyn Storage>)> = Vec::new();
    for (at, dir, _) in &entry.mounts {
        mounts.push((at.clone(), LocalFs::shared(dir)?));
    }
    if let [(at, only)] = mounts.as_slice()
        && at.is_root()
    {
        return Ok(Arc::clone(only));
    }
    Ok(Arc::new(MountedFs::new(mounts)))
}

fn account(entry: &UserEntry, anonymous: bool) -> Result<Account, AuthError> {
    let storage = open_tree(entry).map_err(|e| {
        tracing::error!(user = %entry.name, error = %e, "a folder of this account cannot be opened");
        AuthError::Unavailable
    })?;
    let s = &entry.settings;
    // A group's quota counts the group's folders; any other, all of the user's.
    let in_scope: Vec<&(VirtualPath, PathBuf, Origin)> = match &s.quota.from {
        Origin::Group(g) => entry.mounts.iter().filter(|(_, _, o)| *o == Origin::Group(g.clone())).collect(),
        _ => entry.mounts.iter().collect(),
    };
    Ok(Account {
        name: entry.name.clone(),
        anonymous,
        storage,
        rights: entry.rights.clone(),
        policy: AccountPolicy {
            max_sessions: s.max_sessions.value,
            download_limit: s.download_limit.value,
            upload_limit: s.upload_limit.value,
            quota: s.quota.value,
            quota_owner: match &s.quota.from {
                Origin::Group(g) => format!("group:{g}"),
                _ => format!("user:{}", entry.name),
            },
            quota_roots: in_scope.iter().map(|(_, dir, _)| dir.clone()).collect(),
            quota_mounts: in_scope.iter().map(|(at, _, _)| at.clone()).collect(),
            mounts: entry.mounts.iter().map(|(at, _, _)| at.clone()).collect(),
            fxp: s.fxp.value,
            login_message: s.login_message.value.clone(),
        },
    })
}

#[async_trait]
impl Authenticator for UserDirectory {
    fn tls_required(&self, user: &str) -> Option<bool> {
        match self.get(user) {
            Some(u) => u.settings.tls_required.value,
            None => self.unknown_tls,
        }
    }

    fn folders(&self) -> Vec<PathBuf> {
        UserDirectory::folders(self)
    }

    async fn authenticate(&self, c: &Credentials, checks: &PasswordChecks) -> Result<Account, AuthError> {
        if self.is_anonymous(&c.user) {
            let Some(entry) = &self.anonymous else { return Err(AuthError::AnonymousDisabled) };
            if !entry.settings.ip_filter.value.permits(c.peer) {
                return Err(AuthError::AddressNotAllowed);
            }
            return account(entry, true);
        }
        let entry = self.users.get(&c.user);
        // Always verify a hash, also for unknown and disabled users, so timing
        // tells nothing.
        if !self.password_ok(&c.user, c, checks).await? {
            return Err(if entry.is_some() { AuthError::BadPassword } else { AuthError::UnknownUser });
        }
        let Some(entry) = entry else { return Err(AuthError::UnknownUser) };
        if entry.disabled {
            return Err(AuthError::Disabled);
        }
        if let Some(bound) = &entry.certificate {
            let presented = c.client_certificate.as_deref().map(normalize_fingerprint);
            if presented.as_deref() != Some(bound.as_str()) {
                return Err(AuthError::CertificateMismatch);
            }
        }
        if !entry.settings.ip_filter.value.permits(c.peer) {
            return Err(AuthError::AddressNotAllowed);
        }
        account(entry, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        check_hash(&h).unwrap();
        assert!(verify(&h, "s3cret"));
        assert!(!verify(&h, "s3cret "));
        assert!(check_hash("$2b$12$abc").is_err());
        assert!(check_hash("plaintext").is_err());
    }

    #[test]
    fn unknown_names_are_checked_at_the_cost_of_the_costliest_user() {
        let params = Params::new(32 * 1024, 3, 1, None).unwrap();
        let costly = hash_password_with("pw", params).unwrap();
        let entry = UserEntry {
            name: "u".into(),
            secret: Some(Secret::Hash(costly)),
            disabled: false,
            groups: Vec::new(),
            mounts: Vec::new(),
            rights: FolderRights::uniform(super::super::Rights::FULL),
            settings: UserSettings::default(),
            certificate: None,
        };
        let dir = UserDirectory::new(vec![entry], None);
        let dummy = PasswordHash::new(&dir.dummy_hash).unwrap();
        let p = Params::try_from(&dummy).unwrap();
        assert_eq!((p.m_cost(), p.t_cost()), (32 * 1024, 3));
    }

    #[test]
    fn ip_filters() {
        let f = IpFilter {
            allow: vec![Cidr::parse("10.0.0.0/8").unwrap(), Cidr::parse("2001:db8::/32").unwrap()],
            deny: vec![Cidr::parse("10.9.0.0/16").unwrap()],
        };
        assert!(f.permits("10.1.2.3".parse().unwrap()));
        assert!(f.permits("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!f.permits("10.9.2.3".parse().unwrap()));
        assert!(!f.permits("192.168.1.1".parse().unwrap()));
        assert!(f.permits("2001:db8::1".parse().unwrap()));
        assert!(!f.permits("2001:db9::1".parse().unwrap()));
        assert!(IpFilter::default().permits("192.168.1.1".parse().unwrap()));
    }
}
