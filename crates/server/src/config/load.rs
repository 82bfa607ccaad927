//! From the file as written to the running configuration: settings resolved
//! user over groups over defaults, folders turned into mounts and rights, and
//! every cross-reference checked. All mistakes are collected and reported
//! together, each at its line and column; a configuration with any mistake is
//! refused whole.

use super::ServerConfig;
use super::error::{ConfigError, ConfigErrors, Source};
use super::file::{AnonymousMode, ConfigFile, Folder, GroupSection, Settings, TlsMode, UserSection, UserTls};
use super::values::Cidr;
use crate::auth::{
    FolderRights, IpFilter, Origin, Resolved, Rights, Secret, UserDirectory, UserEntry, UserSettings, check_hash,
};
use crate::storage::VirtualPath;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// Reads the TOML text. Syntax errors, unknown keys and malformed values are
/// reported here, at their place.
pub fn parse(source: &Source) -> Result<ConfigFile, ConfigErrors> {
    toml::from_str(&source.text).map_err(|e| {
        let message = e.message().trim().replace('\n', "; ");
        ConfigErrors(vec![source.error(e.span(), message)])
    })
}

/// How [`build`] treats what lies outside the file.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Check that folders exist on disk (off for printing examples).
    pub check_paths: bool,
    /// Relative paths in the file are relative to this directory (the file's).
    pub base_dir: Option<PathBuf>,
    /// `--user NAME:PASSWORD` logins from the command line: full rights on
    /// `server.root`. They replace a user of the same name from the file.
    pub flag_users: Vec<(String, String)>,
    /// `--tls-user-cert NAME=FINGERPRINT`: binds a user (from the file or a
    /// flag) to a client certificate.
    pub flag_certificates: Vec<(String, String)>,
}

impl BuildOptions {
    /// A path from the file, relative ones taken from the file's directory.
    fn resolve(&self, path: &Path) -> PathBuf {
        self.base_dir.as_ref().map_or_else(|| path.to_path_buf(), |base| base.join(path))
    }
}

/// The running configuration.
#[derive(Debug)]
pub struct Loaded {
    /// Everything but TLS, which the caller builds from `file.tls`.
    pub server: ServerConfig,
    pub directory: UserDirectory,
    /// `server.root`, made absolute.
    pub server_root: Option<PathBuf>,
}

struct Builder<'a> {
    source: &'a Source,
    options: &'a BuildOptions,
    errors: Vec<ConfigError>,
}

impl Builder<'_> {
    fn error<T>(&mut self, spanned: Option<&Spanned<T>>, message: impl Into<String>) {
        let e = self.source.error(spanned.map(Spanned::span), message);
        self.errors.push(e);
    }

    /// A real directory from the file: made absolute against the file's
    /// directory, and checked to exist when asked to.
    fn directory(&mut self, path: &Spanned<PathBuf>, what: &str) -> PathBuf {
        let p = self.options.resolve(path.get_ref());
        if self.options.check_paths && !p.is_dir() {
            let why = if p.exists() { "is not a directory" } else { "does not exist" };
            self.error(Some(path), format!("{what} {} {why}: create it or correct the path", p.display()));
        }
        p
    }

    /// A folder key: an absolute virtual path.
    fn virtual_path(&mut self, key: &Spanned<String>) -> Option<VirtualPath> {
        let k = key.get_ref();
        let bad = !k.starts_with('/') || k.split('/').any(|c| c == "." || c == "..") || k.contains(['\\', '\0']);
        if k.split('/').any(crate::storage::is_reserved) {
            self.error(
                Some(key),
                format!(
                    "folder {k:?}: names beginning with {:?} are reserved by the server; choose another name",
                    crate::storage::RESERVED_PREFIX
                ),
            );
            return None;
        }
        if bad {
            self.error(
                Some(key),
                format!(
                    "folder {k:?} must be an absolute path inside the user's tree, such as \"/\" or \"/shared/reports\""
                ),
            );
            return None;
        }
        Some(VirtualPath::root().join(k))
    }
}

/// The setting layers of one user, most specific first.
struct Layers<'a> {
    user: Option<&'a UserSection>,
    groups: Vec<(&'a str, &'a GroupSection)>,
    defaults: Option<&'a Settings>,
}

macro_rules! resolve {
    ($layers:expr, $field:ident) => {{
        let l = &$layers;
        if let Some(v) = l.user.and_then(|u| u.$field.clone()) {
            Some(Resolved { value: v, from: Origin::User })
        } else if let Some((g, v)) = l.groups.iter().find_map(|(g, s)| s.$field.clone().map(|v| (*g, v))) {
            Some(Resolved { value: v, from: Origin::Group(g.to_string()) })
        } else {
            l.defaults.and_then(|d| d.$field.clone()).map(|v| Resolved { value: v, from: Origin::Defaults })
        }
    }};
}

fn or_builtin<T>(r: Option<Resolved<T>>, fallback: T) -> Resolved<T> {
    r.unwrap_or(Resolved { value: fallback, from: Origin::BuiltIn })
}

fn map<T, U>(r: Option<Resolved<T>>, f: impl FnOnce(T) -> U) -> Option<Resolved<U>> {
    r.map(|r| Resolved { value: f(r.value), from: r.from })
}

fn settings(layers: &Layers<'_>) -> UserSettings {
    let opt = |r: Option<Resolved<u32>>| or_builtin(map(r, Some), None);
    let allow = resolve!(layers, allow);
    let deny = resolve!(layers, deny);
    let from = allow.as_ref().or(deny.as_ref()).map_or(Origin::BuiltIn, |r| r.from.clone());
    let ip_filter = Resolved {
        value: IpFilter {
            allow: allow.map(|r| r.value).unwrap_or_default(),
            deny: deny.map(|r| r.value).unwrap_or_default(),
        },
        from,
    };
    UserSettings {
        max_sessions: opt(resolve!(layers, max_sessions)),
        download_limit: or_builtin(map(resolve!(layers, download_limit), |r| Some(r.0)), None),
        upload_limit: or_builtin(map(resolve!(layers, upload_limit), |r| Some(r.0)), None),
        quota: or_builtin(map(resolve!(layers, quota), |q| Some((q.bytes.map(|b| b.0), q.files))), None),
        tls_required: or_builtin(map(resolve!(layers, tls), |t| Some(t == UserTls::Required)), None),
        ip_filter,
        fxp: or_builtin(resolve!(layers, fxp), false),
        login_message: or_builtin(map(resolve!(layers, login_message), Some), None),
    }
}

/// A user's (or the anonymous account's) folders, layered: defaults first,
/// then groups from last to first, then the user, a later entry for the same
/// folder replacing an earlier one.
fn folders(
    b: &mut Builder<'_>,
    owner: &Spanned<String>,
    layers: Vec<(Origin, &BTreeMap<Spanned<String>, Folder>)>,
    home: Option<(&Spanned<PathBuf>, Origin)>,
) -> (Vec<(VirtualPath, PathBuf, Origin)>, FolderRights) {
    let mut mounts: Vec<(VirtualPath, PathBuf, Origin)> = Vec::new();
    let mut rules: Vec<(VirtualPath, Rights, &Spanned<String>)> = Vec::new();
    let set_mount = |mounts: &mut Vec<(VirtualPath, PathBuf, Origin)>, at: VirtualPath, dir: PathBuf, o: Origin| {
        mounts.retain(|(p, _, _)| *p != at);
        mounts.push((at, dir, o));
    };
    if let Some((home, origin)) = home {
        let dir = b.directory(home, "home folder");
        set_mount(&mut mounts, VirtualPath::root(), dir, origin);
        rules.push((VirtualPath::root(), Rights::FULL, owner));
    }
    for (origin, entries) in layers {
        for (key, folder) in entries {
            let Some(at) = b.virtual_path(key) else { continue };
            if let Some(path) = &folder.path {
                let dir = b.directory(path, "folder");
                set_mount(&mut mounts, at.clone(), dir, origin.clone());
            }
            rules.retain(|(p, _, _)| *p != at);
            rules.push((at, folder.rights.get_ref().0, key));
        }
    }
    for (at, _, key) in &rules {
        if !mounts.iter().any(|(m, _, _)| at.starts_with(m)) {
            b.error(
                Some(*key),
                format!("folder {at} has rights but no path and is not inside a mounted folder: give it a path = \"/real/directory\""),
            );
        }
    }
    let rights = FolderRights::new(rules.into_iter().map(|(p, r, _)| (p, r)));
    (mounts, rights)
}

fn check_message_file(b: &mut Builder<'_>, file: &ConfigFile) {
    if let Some(name) = &file.server.directory_message
        && (name.is_empty() || name.contains(['/', '\\', '\0']))
    {
        b.errors.push(b.source.error(
            None,
            format!("server.directory_message {name:?} must be a file name such as \".message\", not a path"),
        ));
    }
}

const RESERVED: [&str; 2] = ["anonymous", "ftp"];

fn user_entry(b: &mut Builder<'_>, file: &ConfigFile, name: &Spanned<String>, user: &UserSection) -> Option<UserEntry> {
    let n = name.get_ref();
    if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(n)) {
        b.error(Some(name), format!("{n:?} is the anonymous account's name: configure it in [anonymous]"));
        return None;
    }
    if n.is_empty() || n.chars().any(|c| c.is_control() || c == ' ') {
        b.error(Some(name), "user names cannot be empty or contain spaces or control characters");
        return None;
    }
    let mut groups = Vec::new();
    for g in &user.groups {
        match file.groups.iter().find(|(k, _)| k.get_ref() == g.get_ref()) {
            Some((k, section)) => groups.push((k.get_ref().as_str(), section)),
            None => {
                let known: Vec<&str> = file.groups.keys().map(|k| k.get_ref().as_str()).collect();
                let hint = if known.is_empty() {
                    "no groups are defined; add a [groups.NAME] section".to_string()
                } else {
                    format!("the groups are {}", known.join(", "))
                };
                b.error(Some(g), format!("unknown group {:?}: {hint}", g.get_ref()));
            }
        }
    }
    let secret = match &user.password {
        Some(p) => {
            match check_hash(p.get_ref()) {
                Ok(()) => Some(Secret::Hash(p.get_ref().clone())),
                Err(why) => {
                    b.error(
                    Some(p),
                    format!("password must be an argon2 hash ({why}): run `ferroftp passwd` and paste the line it prints"),
                );
                    None
                }
            }
        }
        None if user.disabled => None,
        None => {
            b.error(Some(name), format!("user {n} has no password: add password = \"...\" from `ferroftp passwd`"));
            None
        }
    };
    let certificate = match &user.certificate {
        Some(c) => {
            let hex = crate::auth::normalize_fingerprint(c);
            if hex.len() != 64 || c.chars().any(|ch| !(ch.is_ascii_hexdigit() || ch == ':')) {
                b.error(
                    Some(name),
                    format!("user {n}: certificate must be a SHA-256 fingerprint (64 hex digits, colons allowed), as `ferroftp serve --tls` prints"),
                );
            }
            Some(hex)
        }
        None => None,
    };
    let layers = Layers { user: Some(user), groups: groups.clone(), defaults: Some(&file.defaults) };
    let settings = settings(&layers);
    let mut folder_layers = vec![(Origin::Defaults, &file.defaults.folders)];
    folder_layers.extend(groups.iter().rev().map(|(g, s)| (Origin::Group(g.to_string()), &s.folders)));
    folder_layers.push((Origin::User, &user.folders));
    let (mounts, rights) = folders(b, name, folder_layers, user.home.as_ref().map(|h| (h, Origin::User)));
    if mounts.is_empty() {
        b.error(
            Some(name),
            format!("user {n} has no folders: add home = \"/srv/ftp/{n}\" or a [users.{n}.folders] entry with a path"),
        );
    }
    if settings.tls_required.value == Some(true) && file.tls.as_ref().is_none_or(|t| t.mode == Some(TlsMode::Off)) {
        b.error(
            Some(name),
            format!("user {n} requires TLS ({}), but TLS is off: add a [tls] section", settings.tls_required.from),
        );
    }
    Some(UserEntry {
        name: n.clone(),
        secret,
        disabled: user.disabled,
        groups: groups.iter().map(|(g, _)| g.to_string()).collect(),
        mounts,
        rights,
        settings,
        certificate,
    })
}

fn anonymous_entry(b: &mut Builder<'_>, file: &ConfigFile) -> Option<UserEntry> {
    let a = &file.anonymous;
    let access = a.access.unwrap_or(AnonymousMode::Off);
    if access == AnonymousMode::Off {
        return None;
    }
    let name = Spanned::new(0..0, "anonymous".to_string());
    let Some(root) = &a.root else {
        b.errors.push(b.source.error(
            None,
            "[anonymous] access is on but has no root: add root = \"/srv/ftp\" (the folder anonymous users see)",
        ));
        return None;
    };
    let root_dir = b.directory(root, "anonymous root");
    let base = if access == AnonymousMode::Write { Rights::UPLOAD } else { Rights::READ_ONLY };
    let mut mounts = vec![(VirtualPath::root(), root_dir.clone(), Origin::Anonymous)];
    let mut rules = vec![(VirtualPath::root(), base)];
    if let Some(incoming) = &a.incoming {
        let rel = incoming.get_ref().trim_matches('/');
        if rel.is_empty() || rel.split('/').any(|c| c == ".." || c == ".") {
            b.error(Some(incoming), "incoming must be a folder inside the anonymous root, such as \"incoming\"");
        } else {
            if b.options.check_paths && !root_dir.join(rel).is_dir() {
                b.error(
                    Some(incoming),
                    format!(
                        "{} does not exist: create it (mode 1733 is customary) or remove the key",
                        root_dir.join(rel).display()
                    ),
                );
            }
            rules.push((VirtualPath::root().join(rel), Rights::DROP_BOX));
        }
    }
    // Further folders of [anonymous.folders] layer on top.
    let (extra_mounts, extra_rules) = folders(b, &name, vec![(Origin::Anonymous, &a.folders)], None);
    for (at, dir, o) in extra_mounts {
        mounts.retain(|(p, _, _)| *p != at);
        mounts.push((at, dir, o));
    }
    rules.extend(extra_rules.rules().cloned());
    fn own<T>(v: Option<T>) -> Option<Resolved<T>> {
        v.map(|value| Resolved { value, from: Origin::Anonymous })
    }
    let settings = UserSettings {
        max_sessions: or_builtin(own(a.max_sessions.map(Some)), None),
        download_limit: or_builtin(own(a.download_limit.map(|r| Some(r.0))), None),
        upload_limit: or_builtin(own(a.upload_limit.map(|r| Some(r.0))), None),
        quota: or_builtin(own(a.quota.map(|q| Some((q.bytes.map(|b| b.0), q.files)))), None),
        tls_required: or_builtin(own(a.tls.map(|t| Some(t == UserTls::Required))), None),
        ip_filter: Resolved {
            value: IpFilter { allow: a.allow.clone().unwrap_or_default(), deny: a.deny.clone().unwrap_or_default() },
            from: Origin::Anonymous,
        },
        fxp: or_builtin(own(a.fxp), false),
        login_message: or_builtin(own(a.login_message.clone().map(Some)), None),
    };
    Some(UserEntry {
        name: "anonymous".into(),
        secret: None,
        disabled: false,
        groups: Vec::new(),
        mounts,
        rights: FolderRights::new(rules),
        settings,
        certificate: None,
    })
}

fn flag_user(root: &Path, name: &str, password: &str) -> UserEntry {
    UserEntry {
        name: name.to_string(),
        secret: Some(Secret::Plain(password.to_string())),
        disabled: false,
        groups: Vec::new(),
        mounts: vec![(VirtualPath::root(), root.to_path_buf(), Origin::User)],
        rights: FolderRights::uniform(Rights::FULL),
        settings: UserSettings::default(),
        certificate: None,
    }
}

fn server_config(b: &mut Builder<'_>, file: &ConfigFile) -> ServerConfig {
    let s = &file.server;
    let p = &file.passive;
    let mut config = ServerConfig::default();
    if let Some(listen) = &s.listen {
        if listen.is_empty() {
            b.errors.push(
                b.source.error(None, "server.listen is empty: list at least one address, such as \"0.0.0.0:21\""),
            );
        }
        config.listen = listen.clone();
    }
    if let Some(banner) = &s.banner {
        config.banner = banner.trim_end().to_string();
    }
    config.directory_message = s.directory_message.clone();
    for (value, key) in [(s.max_connections, "max_connections"), (s.max_connections_per_ip, "max_connections_per_ip")] {
        if value == Some(0) {
            b.errors.push(
                b.source.error(None, format!("server.{key} = 0 would refuse everyone: use 1 or more, or leave it out")),
            );
        }
    }
    config.max_connections = s.max_connections;
    config.max_connections_per_ip = s.max_connections_per_ip.or(config.max_connections_per_ip);
    if let Some(t) = s.idle_timeout {
        config.idle_timeout = t.0.max(std::time::Duration::from_secs(1));
    }
    if let Some(t) = s.data_timeout {
        config.data_timeout = t.0.max(std::time::Duration::from_secs(1));
    }
    if let Some(t) = s.login_timeout {
        config.login_timeout = t.0.max(std::time::Duration::from_secs(1));
    }
    if let Some(t) = s.stall_timeout {
        config.stall_timeout = t.0.max(std::time::Duration::from_secs(1));
    }
    if let Some(r) = s.min_transfer_rate {
        config.min_transfer_rate = r.0;
    }
    if let Some(w) = s.min_rate_window {
        config.min_rate_window = w.0;
    }
    if let Some(k) = s.keep_partial_uploads {
        config.keep_partial_uploads = k.0;
    }
    if let Some(sync) = s.sync_uploads {
        config.sync_uploads = sync;
    }
    let l = &file.login;
    let login = &mut config.login;
    if let Some(d) = l.failure_delay {
        login.failure_delay = d.0;
    }
    if let Some(d) = l.max_failure_delay {
        login.max_failure_delay = d.0;
    }
    login.max_failure_delay = login.max_failure_delay.max(login.failure_delay);
    if let Some(n) = l.ban_after {
        login.ban_after = n;
    }
    if let Some(d) = l.ban_window {
        login.ban_window = d.0;
    }
    if let Some(d) = l.ban_time {
        login.ban_time = d.0;
    }
    login.exempt = l.exempt.iter().map(|c| c.0).collect();
    config.ip_filter = IpFilter { allow: s.allow.clone(), deny: s.deny.clone() };
    config.download_limit = s.download_limit.map(|r| r.0);
    config.upload_limit = s.upload_limit.map(|r| r.0);
    config.passive_ports = p.ports.clone().map(|r| r.0);
    config.public_address = p.public_address.clone().filter(|a| !a.trim().is_empty());
    if let Some(i) = p.resolve_interval {
        config.resolve_interval = i.0;
    }
    if let Some(d) = p.local_clients_direct {
        config.local_clients_direct = d;
    }
    config
}

fn check_tls(b: &mut Builder<'_>, file: &ConfigFile) {
    let Some(t) = &file.tls else { return };
    match (&t.cert, &t.key) {
        (Some(c), None) => b.error(Some(c), "tls.cert is given without tls.key: add key = \"/path/to/key.pem\""),
        (None, Some(k)) => b.error(Some(k), "tls.key is given without tls.cert: add cert = \"/path/to/cert.pem\""),
        (Some(c), Some(k)) if b.options.check_paths => {
            for (p, what) in [(c, "certificate"), (k, "key")] {
                let path = b.options.resolve(p.get_ref());
                // A folder this process may not enter (a root-only key, read by
                // the key helper of a server that gave up root) is checked when
                // the key is loaded, where the reason can be told.
                match std::fs::metadata(&path) {
                    Ok(m) if m.is_file() => {}
                    Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {}
                    Ok(_) => b.error(Some(p), format!("TLS {what} file {} is not a file", path.display())),
                    Err(_) => b.error(Some(p), format!("TLS {what} file {} does not exist", path.display())),
                }
            }
        }
        _ => {}
    }
    if t.mode == Some(TlsMode::Off) && !t.implicit_listen.is_empty() {
        b.errors
            .push(b.source.error(None, "tls.implicit_listen needs TLS: set tls.mode to \"optional\" or \"required\""));
    }
}

/// Turns a parsed file into the running configuration, or every mistake in it.
pub fn build(file: &ConfigFile, source: &Source, options: &BuildOptions) -> Result<Loaded, ConfigErrors> {
    let mut b = Builder { source, options, errors: Vec::new() };
    let server = server_config(&mut b, file);
    check_message_file(&mut b, file);
    check_tls(&mut b, file);
    for (name, group) in &file.groups {
        for key in group.folders.keys() {
            b.virtual_path(key);
        }
        if name.get_ref().is_empty() {
            b.error(Some(name), "group names cannot be empty");
        }
    }
    let mut users: Vec<UserEntry> =
        file.users.iter().filter_map(|(name, user)| user_entry(&mut b, file, name, user)).collect();
    if !options.flag_users.is_empty() {
        match &file.server.root {
            Some(root) => {
                let root = b.directory(root, "server.root");
                for (name, password) in &options.flag_users {
                    users.retain(|u| u.name != *name);
                    users.push(flag_user(&root, name, password));
                }
            }
            None => b.errors.push(source.error(None, "--user needs a served directory: give DIR or server.root")),
        }
    }
    for (name, fingerprint) in &options.flag_certificates {
        match users.iter_mut().find(|u| u.name == *name) {
            Some(u) => u.certificate = Some(crate::auth::normalize_fingerprint(fingerprint)),
            None => b.errors.push(source.error(None, format!("--tls-user-cert names {name:?}, which is not a user"))),
        }
    }
    let anonymous = anonymous_entry(&mut b, file);
    if !b.errors.is_empty() {
        // A group's mistake is found once per member; report it once.
        let mut seen = Vec::new();
        b.errors.retain(|e| {
            let new = !seen.contains(e);
            seen.push(e.clone());
            new
        });
        return Err(ConfigErrors(b.errors));
    }
    let server_root = file.server.root.as_ref().map(|r| options.resolve(r.get_ref()));
    let unknown_tls = file.defaults.tls.map(|t| t == UserTls::Required);
    Ok(Loaded { server, directory: UserDirectory::new(users, anonymous).with_unknown_tls(unknown_tls), server_root })
}

/// The address ranges of a filter, for display.
pub fn show_cidrs(list: &[Cidr]) -> String {
    if list.is_empty() { "-".into() } else { list.iter().map(Cidr::to_string).collect::<Vec<_>>().join(", ") }
}
