//! Server settings. The defaults are the safe zero-config mode: loopback only,
//! ephemeral passive ports, short data-connection timeouts.
//!
//! The configuration file (TOML) is read by [`load`]: [`file`] is its schema,
//! [`values`] its value types, [`error`] the errors that point at a line.

pub mod error;
pub mod file;
pub mod load;
pub mod values;

pub use error::{ConfigError, ConfigErrors, Source};
pub use load::{BuildOptions, Loaded, build, parse};

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::auth::IpFilter;
use crate::limits::LoginPolicy;
use crate::tls::TlsSettings;

/// Sessions one address may have open unless `server.max_connections_per_ip`
/// says otherwise: enough for parallel clients (lftp, rclone and FileZilla
/// open up to 10 or so) and a few users behind one NAT, not enough for one
/// address to take every descriptor of the server.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: u32 = 64;

/// Everything the engine needs to know that is not an account.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Control-connection listen addresses. An IPv6 address that the machine
    /// cannot bind is skipped with one warning.
    pub listen: Vec<SocketAddr>,
    /// Passive data ports; `None` lets the kernel pick any free port.
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// Address (or host name) put in `227` replies instead of the control
    /// connection's local address, for servers behind NAT.
    pub public_address: Option<String>,
    /// The `220` greeting (several lines allowed).
    pub banner: String,
    /// A file of this name in a folder is shown on `CWD` into it.
    pub directory_message: Option<String>,
    /// Sessions in all (`421` above it).
    pub max_connections: Option<u32>,
    /// Sessions from one address (`421` above it).
    pub max_connections_per_ip: Option<u32>,
    /// Who may connect at all.
    pub ip_filter: IpFilter,
    /// Bytes per second for all downloads together, and all uploads.
    pub download_limit: Option<u64>,
    pub upload_limit: Option<u64>,
    /// How often a host name in `public_address` is looked up again.
    pub resolve_interval: Duration,
    /// Clients on private, loopback or link-local networks get the local
    /// address in `227` instead of `public_address`.
    pub local_clients_direct: bool,
    /// A session with no command for this long gets `421` and is closed.
    pub idle_timeout: Duration,
    /// A session not logged in this long after connecting gets `421` and is
    /// closed, however it trickles bytes (slowloris).
    pub login_timeout: Duration,
    /// A transfer that moves no byte for this long is abandoned (`426`).
    pub stall_timeout: Duration,
    /// A transfer that moves fewer than `min_transfer_rate` bytes per second,
    /// counted over this much time spent waiting for the network, is
    /// abandoned (`426`); zero turns the check off. Time spent waiting for a
    /// speed limit does not count.
    pub min_rate_window: Duration,
    /// Bytes per second a transfer must at least move (see `min_rate_window`).
    pub min_transfer_rate: u64,
    /// How long what arrived of an interrupted upload stays staged for its
    /// uploader to continue; zero discards it at once.
    pub keep_partial_uploads: Duration,
    /// Uploads are on disk (fdatasync of the file, fsync of its folder)
    /// before `226` is sent.
    pub sync_uploads: bool,
    /// Failed-login delays and bans (RFC 2577 §4).
    pub login: LoginPolicy,
    /// How long a passive listener waits for the client, and an active
    /// connection attempt may take.
    pub data_timeout: Duration,
    /// On shutdown, how long running transfers may go on before they are aborted.
    pub shutdown_grace: Duration,
    /// FTPS; `None` serves plain FTP only.
    pub tls: Option<TlsSettings>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: vec!["127.0.0.1:2121".parse().expect("literal"), "[::1]:2121".parse().expect("literal")],
            passive_ports: None,
            public_address: None,
            banner: "ferroftp ready".to_string(),
            directory_message: None,
            max_connections: None,
            max_connections_per_ip: Some(DEFAULT_MAX_CONNECTIONS_PER_IP),
            ip_filter: IpFilter::default(),
            download_limit: None,
            upload_limit: None,
            resolve_interval: Duration::from_secs(300),
            local_clients_direct: true,
            idle_timeout: Duration::from_secs(300),
            login_timeout: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(120),
            min_rate_window: Duration::from_secs(60),
            min_transfer_rate: 1024,
            keep_partial_uploads: Duration::from_secs(24 * 3600),
            sync_uploads: true,
            login: LoginPolicy::default(),
            data_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// A complete, annotated configuration file (`ferroftp config example`).
pub const EXAMPLE: &str = include_str!("example.toml");

#[cfg(test)]
mod tests;
