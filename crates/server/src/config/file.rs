//! The configuration file as written: TOML sections and keys. Unknown keys are
//! errors; every value is checked while it is read (see [`super::values`]);
//! what needs the whole file (group names, folders on disk) is checked in
//! [`super::load`], which turns this into the running configuration.

use super::values::{ByteSize, Cidr, Period, PortRange, Rate, RightsValue};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub passive: PassiveSection,
    #[serde(default)]
    pub login: LoginSection,
    pub tls: Option<TlsSection>,
    #[serde(default)]
    pub anonymous: AnonymousSection,
    /// Settings of every user unless a group or the user says otherwise.
    #[serde(default)]
    pub defaults: Settings,
    #[serde(default)]
    pub groups: BTreeMap<Spanned<String>, GroupSection>,
    #[serde(default)]
    pub users: BTreeMap<Spanned<String>, UserSection>,
}

/// `[server]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Served to `--user` logins given on the command line.
    pub root: Option<Spanned<PathBuf>>,
    pub listen: Option<Vec<SocketAddr>>,
    /// The `220` greeting; several lines allowed.
    pub banner: Option<String>,
    /// A file with this name in a folder is shown when a client enters it.
    pub directory_message: Option<String>,
    pub max_connections: Option<u32>,
    pub max_connections_per_ip: Option<u32>,
    pub idle_timeout: Option<Period>,
    pub data_timeout: Option<Period>,
    pub login_timeout: Option<Period>,
    pub stall_timeout: Option<Period>,
    /// Slowest transfer allowed, over `min_rate_window`.
    pub min_transfer_rate: Option<Rate>,
    /// Network waiting time over which `min_transfer_rate` is measured; 0: off.
    pub min_rate_window: Option<Period>,
    /// How long an interrupted upload stays staged for its uploader; 0: discarded at once.
    pub keep_partial_uploads: Option<Period>,
    /// Flush uploads to disk before `226`.
    pub sync_uploads: Option<bool>,
    #[serde(default)]
    pub allow: Vec<Cidr>,
    #[serde(default)]
    pub deny: Vec<Cidr>,
    pub download_limit: Option<Rate>,
    pub upload_limit: Option<Rate>,
    pub log_level: Option<LogLevel>,
    /// A Unix socket (mode 0600) on which `ferroftp reload` asks the running
    /// server to reload.
    pub control_socket: Option<PathBuf>,
    /// Started as root: the user (and group) to run as once the ports are bound.
    pub user: Option<String>,
    pub group: Option<String>,
    /// Restrict the process's file access to the served folders (Landlock).
    pub sandbox: Option<bool>,
    /// The limit of open files the server sets for itself (default: the hard limit).
    pub open_files: Option<u64>,
}

/// How much the server logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// `[passive]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassiveSection {
    pub ports: Option<PortRange>,
    /// Address or host name announced in `227` replies (servers behind NAT).
    pub public_address: Option<String>,
    /// How often a host name in `public_address` is looked up again (dynamic DNS).
    pub resolve_interval: Option<Period>,
    /// Clients from private, loopback and link-local networks get the
    /// server's local address instead of `public_address`.
    pub local_clients_direct: Option<bool>,
}

/// `[login]`: failed-login delays and bans (RFC 2577 §4).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSection {
    pub failure_delay: Option<Period>,
    pub max_failure_delay: Option<Period>,
    pub ban_after: Option<u32>,
    pub ban_window: Option<Period>,
    pub ban_time: Option<Period>,
    #[serde(default)]
    pub exempt: Vec<Cidr>,
}

/// `[tls]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    pub mode: Option<TlsMode>,
    pub cert: Option<Spanned<PathBuf>>,
    pub key: Option<Spanned<PathBuf>>,
    #[serde(default)]
    pub implicit_listen: Vec<SocketAddr>,
    /// Refuse data transfers without `PROT P` (default: when `mode` is `required`).
    pub require_protected_data: Option<bool>,
    pub session_reuse: Option<bool>,
    pub allow_ccc: Option<bool>,
    pub state_dir: Option<PathBuf>,
}

/// TLS on the control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    Off,
    Optional,
    Required,
}

/// Anonymous access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnonymousMode {
    Off,
    Read,
    Write,
}

/// A folder entry: a mount (`path` given) or rights for a folder inside one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Folder {
    pub path: Option<Spanned<PathBuf>>,
    pub rights: Spanned<RightsValue>,
}

/// `quota = { bytes = "10 GiB", files = 10000 }`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaValue {
    pub bytes: Option<ByteSize>,
    pub files: Option<u64>,
}

/// Per-user TLS requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserTls {
    Optional,
    Required,
}

/// Declares a section with the settings every level (defaults, group, user,
/// anonymous) can carry, plus its own keys. Written out rather than
/// `#[serde(flatten)]`, which cannot be combined with `deny_unknown_fields`.
macro_rules! with_settings {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Concurrent sessions of one user (530 above it).
            pub max_sessions: Option<u32>,
            pub download_limit: Option<Rate>,
            pub upload_limit: Option<Rate>,
            pub quota: Option<QuotaValue>,
            pub tls: Option<UserTls>,
            pub allow: Option<Vec<Cidr>>,
            pub deny: Option<Vec<Cidr>>,
            /// Data connections to and from other hosts (server-to-server transfers).
            pub fxp: Option<bool>,
            /// Sent with the `230` reply.
            pub login_message: Option<String>,
            #[serde(default)]
            pub folders: BTreeMap<Spanned<String>, Folder>,
        }
    };
}

with_settings! {
    /// `[defaults]`: settings of every user.
    pub struct Settings {}
}

with_settings! {
    /// `[groups.NAME]`
    pub struct GroupSection {}
}

with_settings! {
    /// `[users.NAME]`
    pub struct UserSection {
        /// An argon2id hash from `ferroftp passwd`.
        pub password: Option<Spanned<String>>,
        #[serde(default)]
        pub groups: Vec<Spanned<String>>,
        #[serde(default)]
        pub disabled: bool,
        /// Shortcut for `folders."/" = { path = HOME, rights = "all" }`.
        pub home: Option<Spanned<PathBuf>>,
        /// SHA-256 fingerprint of a TLS client certificate the user must present.
        pub certificate: Option<String>,
    }
}

with_settings! {
    /// `[anonymous]`
    pub struct AnonymousSection {
        pub access: Option<AnonymousMode>,
        pub root: Option<Spanned<PathBuf>>,
        /// An upload-only folder under `root` (RFC 1635's `incoming`).
        pub incoming: Option<Spanned<String>>,
    }
}
