//! Server settings. The defaults are the safe zero-config mode: loopback only,
//! ephemeral passive ports, short data-connection timeouts.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::tls::TlsSettings;

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
    /// First line of the `220` greeting.
    pub banner: String,
    /// A session with no command for this long gets `421` and is closed.
    pub idle_timeout: Duration,
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
            idle_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            tls: None,
        }
    }
}
