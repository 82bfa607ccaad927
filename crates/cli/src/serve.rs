//! `ferroftp serve`: run the server with safe embedded defaults.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use ferroftp_server::config::file::{AnonymousMode, ConfigFile, LogLevel};
use ferroftp_server::config::values::{Period, PortRange};
use ferroftp_server::config::{self, BuildOptions, Loaded, Source};
use ferroftp_server::limits::set_open_files;
use ferroftp_server::toml::Spanned;
use ferroftp_server::{Authenticator, Listeners, Server, ServerConfig, ServerHandle};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Options of `ferroftp serve`. Each has a key in the configuration file
/// (named in its help) and wins over it.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Directory to serve [key: server.root]. Default: the current directory,
    /// read-only to anonymous users (without --config).
    dir: Option<PathBuf>,

    /// Configuration file (TOML); `ferroftp config example` prints a complete one.
    #[arg(short, long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Address and port to listen on; repeat for several [key: server.listen].
    /// Default: 127.0.0.1:2121 and [::1]:2121.
    #[arg(long = "listen", value_name = "ADDR:PORT")]
    listen: Vec<SocketAddr>,

    /// A login with full rights on DIR, as NAME:PASSWORD; repeat for several
    /// [key: users.NAME with password from `ferroftp passwd`].
    #[arg(long = "user", value_name = "NAME:PASSWORD", value_parser = parse_user)]
    users: Vec<(String, String)>,

    /// Anonymous access (users "anonymous" and "ftp"): off, read (list and download), or
    /// write (also upload new files and create folders; nothing existing can be changed)
    /// [key: anonymous.access]. Default: read without --config, off with it.
    #[arg(long, value_enum)]
    anonymous: Option<Anonymous>,

    /// Range of ports for passive data connections, e.g. 50000-50100 (default: any free
    /// port) [key: passive.ports].
    #[arg(long, value_name = "FIRST-LAST", value_parser = parse_port_range)]
    passive_ports: Option<PortRange>,

    /// Address or host name to announce in PASV replies, for servers behind NAT
    /// [key: passive.public_address].
    #[arg(long, value_name = "HOST")]
    public_address: Option<String>,

    /// Seconds without a command before a session is closed (default 300)
    /// [key: server.idle_timeout].
    #[arg(long, value_name = "SECONDS")]
    idle_timeout: Option<u64>,

    /// Log every command and reply (protocol trace) [key: server.log_level = "debug"].
    #[arg(short, long)]
    debug: bool,

    /// Unix socket on which `ferroftp reload` reaches this server [key: server.control_socket].
    #[arg(long, value_name = "PATH")]
    control_socket: Option<PathBuf>,

    /// When started as root: the user (and group) to run as once the ports are
    /// bound, e.g. ftp or ftp:ftp [keys: server.user, server.group].
    #[arg(long, value_name = "USER[:GROUP]")]
    run_as: Option<String>,

    /// Do not restrict the process's file access to the served folders
    /// (Landlock, on kernels that have it) [key: server.sandbox = false].
    #[arg(long)]
    no_sandbox: bool,

    #[command(flatten)]
    tls: crate::tls::TlsArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Anonymous {
    Off,
    Read,
    Write,
}

fn parse_user(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, pass)) if !name.is_empty() && !pass.is_empty() => Ok((name.to_string(), pass.to_string())),
        _ => Err("expected NAME:PASSWORD, both non-empty (for example alice:s3cret)".into()),
    }
}

fn parse_port_range(s: &str) -> Result<PortRange, String> {
    PortRange::parse(s)
}

/// A configuration ready to serve: the file (or the zero-config defaults) with
/// the flags applied, checked and built.
pub(crate) struct Prepared {
    pub(crate) file: ConfigFile,
    pub(crate) loaded: Loaded,
    /// Where relative paths of the file start.
    pub(crate) base: PathBuf,
    /// What to call the configuration in messages.
    pub(crate) described: String,
}

/// The directory relative paths in a configuration file start from: the file's own.
pub(crate) fn config_dir(path: &Path) -> PathBuf {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf())
}

/// Reads the configuration file, if any, and applies the flags over it.
pub(crate) fn prepare(args: &ServeArgs) -> anyhow::Result<Prepared> {
    let (mut file, source, base, described) = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let source = Source::new(path.display().to_string(), text);
            let file = config::parse(&source)?;
            (file, source, config_dir(path), path.display().to_string())
        }
        None => {
            let mut file = ConfigFile::default();
            file.anonymous.access = Some(AnonymousMode::Read);
            (
                file,
                Source::new("(command line)", ""),
                std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
                String::new(),
            )
        }
    };
    let dir = match (&args.dir, &args.config) {
        (Some(d), _) => Some(d.clone()),
        (None, None) => Some(PathBuf::from(".")),
        (None, Some(_)) => None,
    };
    if let Some(dir) = dir {
        let abs = dir.canonicalize().with_context(|| format!("cannot serve {}: no such directory", dir.display()))?;
        if !abs.is_dir() {
            bail!("cannot serve {}: not a directory", abs.display());
        }
        file.server.root = Some(Spanned::new(0..0, abs));
    }
    if let Some(a) = args.anonymous {
        file.anonymous.access = Some(match a {
            Anonymous::Off => AnonymousMode::Off,
            Anonymous::Read => AnonymousMode::Read,
            Anonymous::Write => AnonymousMode::Write,
        });
    }
    if file.anonymous.access.is_some_and(|a| a != AnonymousMode::Off) && file.anonymous.root.is_none() {
        file.anonymous.root = file.server.root.clone();
    }
    if !args.listen.is_empty() {
        file.server.listen = Some(args.listen.clone());
    }
    if let Some(p) = &args.passive_ports {
        file.passive.ports = Some(p.clone());
    }
    if let Some(a) = &args.public_address {
        file.passive.public_address = Some(a.clone());
    }
    if let Some(secs) = args.idle_timeout {
        file.server.idle_timeout = Some(Period(Duration::from_secs(secs)));
    }
    if args.debug {
        file.server.log_level = Some(LogLevel::Debug);
    }
    if let Some(p) = &args.control_socket {
        file.server.control_socket = Some(p.clone());
    }
    if let Some(run_as) = &args.run_as {
        let (user, group) = match run_as.split_once(':') {
            Some((u, g)) => (u.to_string(), Some(g.to_string())),
            None => (run_as.clone(), None),
        };
        file.server.user = Some(user);
        file.server.group = group;
    }
    if args.no_sandbox {
        file.server.sandbox = Some(false);
    }
    args.tls.apply(&mut file);
    let options = BuildOptions {
        check_paths: true,
        base_dir: Some(base.clone()),
        flag_users: args.users.clone(),
        flag_certificates: args.tls.user_certificates.clone(),
    };
    let loaded = config::build(&file, &source, &options)?;
    if loaded.directory.names().is_empty() && loaded.directory.anonymous().is_none() {
        bail!("nobody could log in: anonymous access is off and no user is configured (give --user or a config file)");
    }
    Ok(Prepared { file, loaded, base, described })
}

/// The TLS settings and the complete server configuration of a prepared configuration.
pub(crate) fn server_config(p: &Prepared) -> anyhow::Result<(ServerConfig, Option<PathBuf>)> {
    let mut config = p.loaded.server.clone();
    let mut names = vec!["localhost".to_string()];
    names.extend(config.listen.iter().map(|a| a.ip().to_string()));
    if let Some(t) = &p.file.tls {
        names.extend(t.implicit_listen.iter().map(|a| a.ip().to_string()));
    }
    names.extend(config.public_address.clone());
    names.dedup();
    let tls =
        crate::tls::settings(p.file.tls.as_ref(), &p.base, &names, p.loaded.directory.wants_client_certificates())?;
    let generated = tls.as_ref().and_then(|(_, g)| g.clone());
    config.tls = tls.map(|(settings, _)| settings);
    // A server that gave up root reads its key files through its helper.
    if let Some(tls) = &mut config.tls
        && let ferroftp_server::CertificateSource::Files { cert, key } = &tls.certificate
        && let Some(running) = crate::keys::helper()
    {
        let Some(helper) = crate::keys::helper_for(cert, key) else {
            let (c, k) = ferroftp_server::tls::CertificateProvider::names(running.as_ref());
            bail!(
                "the TLS files are now {} and {}, but this server gave up root and reads only {c} and {k} \
                 (through its key helper): restart the server to use other files",
                cert.display(),
                key.display()
            );
        };
        tls.certificate = ferroftp_server::CertificateSource::Provider(helper);
    }
    Ok((config, generated))
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    // Read the configuration before logging starts: its log level applies.
    let prepared = prepare(&args)?;
    let level = prepared.file.server.log_level.map_or("info", LogLevel::as_str);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .init();
    let (mut config, generated_cert) = server_config(&prepared)?;
    // Started as root to run as another user: the key files (often readable
    // by root only) are read by a helper that keeps root for that alone.
    let server_section = &prepared.file.server;
    if server_section.user.is_some()
        && nix::unistd::Uid::effective().is_root()
        && let Some(tls) = &mut config.tls
        && let ferroftp_server::CertificateSource::Files { cert, key } = &tls.certificate
    {
        let helper = crate::keys::KeyHelper::start(cert, key)?;
        tls.certificate = ferroftp_server::CertificateSource::Provider(helper);
        info!("TLS key files are read by a helper that keeps root for that alone (privilege separation)");
    }
    let open_files = set_open_files(prepared.file.server.open_files).context("setting the limit of open files")?;
    info!(open_files, "limit of open files");
    // Everything that needs root happens now: the ports, the control socket.
    let listeners = Listeners::bind(&config).context("starting the server")?;
    let control_socket = prepared.file.server.control_socket.as_ref().map(|p| prepared.base.join(p));
    let control = control_socket.as_deref().map(crate::control::listen).transpose()?;
    crate::sandbox::drop_privileges(server_section.user.as_deref(), server_section.group.as_deref())?;
    if server_section.sandbox != Some(false) {
        crate::sandbox::restrict(&sandbox_allowed(&args, &prepared, &config))?;
    } else {
        info!("sandbox: off (server.sandbox = false)");
    }
    // The runtime's threads start only now, inside the sandbox.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(serve(args, prepared, config, generated_cert, listeners, control.zip(control_socket)))
}

/// What the sandbox lets the server reach: the served folders, and read-only
/// the folders of the configuration file, the certificate and the key (re-read
/// on reload), and the folder of generated certificates.
///
/// Folders, not the files: a file replaced by `mv`, `sed -i` or an editor is a
/// new file, and a renewed certificate (certbot) is a new file in
/// `archive/` behind a symbolic link moved in `live/`; the folders of both
/// the names and the files they lead to are allowed.
fn sandbox_allowed(args: &ServeArgs, prepared: &Prepared, config: &ServerConfig) -> crate::sandbox::Allowed {
    let mut folders = prepared.loaded.directory.folders();
    folders.extend(prepared.loaded.server_root.clone());
    folders.sort();
    folders.dedup();
    let mut read = Vec::new();
    if let Some(path) = &args.config {
        read.extend(crate::keys::folders_of(&std::path::absolute(path).unwrap_or_else(|_| path.clone())));
    }
    let files = match config.tls.as_ref().map(|t| &t.certificate) {
        Some(ferroftp_server::CertificateSource::Files { cert, key }) => vec![cert.clone(), key.clone()],
        Some(ferroftp_server::CertificateSource::Provider(p)) => {
            let (c, k) = p.names();
            vec![PathBuf::from(c), PathBuf::from(k)]
        }
        _ => Vec::new(),
    };
    for file in files {
        read.extend(crate::keys::folders_of(&file));
    }
    if let Some(t) = &prepared.file.tls {
        read.extend(t.state_dir.as_ref().map(|d| prepared.base.join(d)));
    }
    read.sort();
    read.dedup();
    crate::sandbox::Allowed { folders, read }
}

async fn serve(
    args: ServeArgs,
    prepared: Prepared,
    config: ServerConfig,
    generated_cert: Option<PathBuf>,
    listeners: Listeners,
    control: Option<(std::os::unix::net::UnixListener, PathBuf)>,
) -> anyhow::Result<()> {
    let directory = &prepared.loaded.directory;
    let user_names: Vec<String> = directory.names().into_iter().map(str::to_string).collect();
    let anonymous = directory.anonymous().map(|a| {
        if a.rights.at(&ferroftp_server::VirtualPath::root()).write {
            "to anonymous users, who may upload new files"
        } else {
            "read-only to anonymous users"
        }
    });
    let Prepared { loaded, described, .. } = prepared;
    let auth: Arc<dyn Authenticator> = Arc::new(loaded.directory);
    let server = Server::with_listeners(config, auth, listeners).context("starting the server")?;
    let addrs = server.local_addrs();
    let implicit_addrs = server.implicit_tls_addrs();

    let access = anonymous.unwrap_or("no anonymous access");
    if described.is_empty() {
        let root = loaded.server_root.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
        println!("ferroftp {} serving {root} ({access})", env!("CARGO_PKG_VERSION"));
    } else {
        println!("ferroftp {} with {described}: {} users ({access})", env!("CARGO_PKG_VERSION"), user_names.len());
    }
    for addr in &addrs {
        let host = match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        if anonymous.is_some() {
            println!("  ftp://{host}:{}/", addr.port());
        }
        for name in user_names.iter().take(5) {
            println!("  ftp://{name}@{host}:{}/", addr.port());
        }
        if !addr.ip().is_loopback() && anonymous.is_some_and(|a| a.contains("upload")) {
            warn!(%addr, "anonymous uploads are enabled on a non-loopback address");
        }
    }
    for addr in &implicit_addrs {
        println!("  ftps://{}/ (implicit TLS)", url_host_port(addr));
    }
    if let Some(fingerprint) = server.tls_fingerprint() {
        let mode = if server.tls_required() { "required" } else { "offered (AUTH TLS)" };
        println!("TLS {mode}; certificate SHA-256 fingerprint:");
        println!("  {fingerprint}");
        if let Some(cert) = &generated_cert {
            println!("  (self-signed, kept in {}; clients must trust or pin it)", cert.display());
        }
    }
    println!("Press Ctrl-C to stop.");

    let handle = server.handle();
    let args = Arc::new(args);
    if let Some((listener, path)) = control {
        listener.set_nonblocking(true).context("control socket")?;
        let listener = tokio::net::UnixListener::from_std(listener).context("control socket")?;
        println!("Control socket: {} (ferroftp reload --socket {0})", path.display());
        tokio::spawn(crate::control::serve(listener, Arc::clone(&args), handle.clone()));
    }
    #[cfg(unix)]
    {
        let handle = handle.clone();
        let args = Arc::clone(&args);
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else { return };
            while hup.recv().await.is_some() {
                match reload(&args, &handle) {
                    Ok(()) => info!("SIGHUP: configuration reloaded; new sessions use it, running sessions go on"),
                    Err(e) => warn!("SIGHUP: configuration not reloaded, the running one stays:\n{e:#}"),
                }
            }
        });
    }
    tokio::spawn(async move {
        wait_for_signal().await;
        info!("signal received: stopping");
        handle.shutdown();
    });
    server.run().await;
    Ok(())
}

/// Reads the configuration again and hands it to the server; on any mistake
/// the running one stays and the error says why.
pub(crate) fn reload(args: &ServeArgs, handle: &ServerHandle) -> anyhow::Result<()> {
    let p = prepare(args)?;
    // Every folder must open for the running process: after giving up root,
    // or inside the sandbox, a new folder may be out of its reach.
    for dir in p.loaded.directory.folders() {
        if let Err(e) = std::fs::read_dir(&dir) {
            let why = if crate::sandbox::is_active() && e.kind() == std::io::ErrorKind::PermissionDenied {
                "; it is outside the folders the server was started with (Landlock sandbox): restart the server to serve it"
            } else {
                ""
            };
            bail!("cannot open the folder {}: {e}{why}", dir.display());
        }
    }
    let (config, _) = server_config(&p)?;
    if let Some(fingerprint) = handle.reload(config, Arc::new(p.loaded.directory))? {
        info!(fingerprint, "TLS certificate in use after the reload (SHA-256)");
    }
    Ok(())
}

fn url_host_port(addr: &SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_parsers() {
        assert_eq!(parse_user("alice:a:b").unwrap(), ("alice".to_string(), "a:b".to_string()));
        assert!(parse_user("alice").is_err());
        assert!(parse_user(":x").is_err());
        assert_eq!(parse_port_range("50000-50100").unwrap().0, 50000..=50100);
        assert!(parse_port_range("50100-50000").is_err());
        assert!(parse_port_range("20-30").is_err());
        assert!(parse_port_range("x").is_err());
    }
}
