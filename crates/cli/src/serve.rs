//! `ferroftp serve`: run the server with safe embedded defaults.

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use ferroftp_server::{AnonymousAccess, LocalFs, Server, ServerConfig, StaticAuthenticator};
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Options of `ferroftp serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Directory to serve.
    #[arg(default_value = ".")]
    dir: PathBuf,

    /// Address and port to listen on; repeat for several.
    /// Default: 127.0.0.1:2121 and [::1]:2121.
    #[arg(long = "listen", value_name = "ADDR:PORT")]
    listen: Vec<SocketAddr>,

    /// A login with full rights on DIR, as NAME:PASSWORD; repeat for several.
    #[arg(long = "user", value_name = "NAME:PASSWORD", value_parser = parse_user)]
    users: Vec<(String, String)>,

    /// Anonymous access (users "anonymous" and "ftp"): off, read (list and download), or
    /// write (also upload new files and create folders; nothing existing can be changed).
    #[arg(long, value_enum, default_value_t = Anonymous::Read)]
    anonymous: Anonymous,

    /// Range of ports for passive data connections, e.g. 50000-50100 (default: any free port).
    #[arg(long, value_name = "FIRST-LAST", value_parser = parse_port_range)]
    passive_ports: Option<RangeInclusive<u16>>,

    /// Address or host name to announce in PASV replies, for servers behind NAT.
    #[arg(long, value_name = "HOST")]
    public_address: Option<String>,

    /// Seconds without a command before a session is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    idle_timeout: u64,

    /// Log every command and reply (protocol trace).
    #[arg(short, long)]
    debug: bool,

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

fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let err =
        || format!("expected FIRST-LAST with 1024 <= FIRST <= LAST <= 65535 (for example 50000-50100), got {s:?}");
    let (a, b) = s.split_once('-').ok_or_else(err)?;
    let (a, b): (u16, u16) = (a.trim().parse().map_err(|_| err())?, b.trim().parse().map_err(|_| err())?);
    if a < 1024 || a > b {
        return Err(err());
    }
    Ok(a..=b)
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let default_level = if args.debug { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let dir =
        args.dir.canonicalize().with_context(|| format!("cannot serve {}: no such directory", args.dir.display()))?;
    if !dir.is_dir() {
        bail!("cannot serve {}: not a directory", dir.display());
    }
    let storage = LocalFs::open(&dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let anonymous = match args.anonymous {
        Anonymous::Off => AnonymousAccess::Off,
        Anonymous::Read => AnonymousAccess::Read,
        Anonymous::Write => AnonymousAccess::Write,
    };
    if anonymous == AnonymousAccess::Off && args.users.is_empty() {
        bail!("nobody could log in: anonymous access is off and no --user was given");
    }
    let mut config = ServerConfig {
        passive_ports: args.passive_ports,
        public_address: args.public_address,
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        ..ServerConfig::default()
    };
    if !args.listen.is_empty() {
        config.listen = args.listen;
    }
    let mut names = vec!["localhost".to_string()];
    names.extend(config.listen.iter().map(|a| a.ip().to_string()));
    names.extend(args.tls.implicit_tls_hosts());
    names.extend(config.public_address.clone());
    names.dedup();
    let tls = args.tls.settings(&names)?;
    let generated_cert = tls.as_ref().and_then(|(_, g)| g.clone());
    config.tls = tls.map(|(settings, _)| settings);
    let user_names: Vec<String> = args.users.iter().map(|(n, _)| n.clone()).collect();
    for (name, _) in &args.tls.user_certificates {
        if !user_names.contains(name) {
            bail!("--tls-user-cert names {name:?}, which is not a --user");
        }
    }
    let auth = args
        .tls
        .user_certificates
        .iter()
        .fold(StaticAuthenticator::new(Arc::new(storage), anonymous, args.users), |auth, (name, fingerprint)| {
            auth.bind_certificate(name.clone(), fingerprint.clone())
        });
    let server = Server::bind(config, Arc::new(auth)).await.context("starting the server")?;
    let addrs = server.local_addrs();
    let implicit_addrs = server.implicit_tls_addrs();

    let access = match anonymous {
        AnonymousAccess::Off => "no anonymous access",
        AnonymousAccess::Read => "read-only to anonymous users",
        AnonymousAccess::Write => "to anonymous users, who may upload new files",
    };
    println!("ferroftp {} serving {} ({access})", env!("CARGO_PKG_VERSION"), dir.display());
    for addr in &addrs {
        let host = match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        if anonymous != AnonymousAccess::Off {
            println!("  ftp://{host}:{}/", addr.port());
        }
        for name in &user_names {
            println!("  ftp://{name}@{host}:{}/", addr.port());
        }
        if !addr.ip().is_loopback() && anonymous == AnonymousAccess::Write {
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
    #[cfg(unix)]
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else { return };
            while hup.recv().await.is_some() {
                match handle.reload_tls() {
                    Ok(Some(fingerprint)) => info!(%fingerprint, "SIGHUP: TLS certificate reloaded"),
                    Ok(None) => info!("SIGHUP: nothing to reload"),
                    Err(e) => warn!(error = %e, "SIGHUP: certificate not reloaded; the old one stays in use"),
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
        assert_eq!(parse_port_range("50000-50100").unwrap(), 50000..=50100);
        assert!(parse_port_range("50100-50000").is_err());
        assert!(parse_port_range("20-30").is_err());
        assert!(parse_port_range("x").is_err());
    }
}
