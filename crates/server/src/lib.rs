//! The ferroftp FTP server engine.
//!
//! - [`Server`] binds the control listeners and runs one task per session.
//! - `session`: the control connection, its state and the command loop; a running
//!   transfer is a separate task the session controls, so `ABOR`, `STAT` and `NOOP`
//!   are answered while it runs.
//! - `commands`: one small handler per FTP command, registered in one table that
//!   also feeds `FEAT` and `HELP`.
//! - `data`: passive and active data connections and the transfer loops.
//! - [`storage`]: the [`Storage`] trait and the local filesystem backend, which opens
//!   every path beneath the user's root directory handle.
//! - [`auth`]: the [`Authenticator`] trait and the built-in accounts.
//! - [`tls`]: FTPS (RFC 4217): certificates, policy, TLS session reuse on data connections.

pub mod auth;
mod commands;
pub mod config;
mod data;
pub mod error;
pub mod limits;
mod listener;
mod session;
pub mod storage;
pub mod tls;

pub use auth::{Account, AnonymousAccess, Authenticator, Rights, StaticAuthenticator};
pub use config::ServerConfig;
pub use error::{ServerError, StorageError, StorageErrorKind};
pub use listener::{Listeners, Server, ServerHandle};
pub use storage::{LocalFs, Storage, VirtualPath};
pub use tls::{CertificateSource, TlsError, TlsPolicy, TlsSettings};
/// The TOML library the configuration is read with (for [`toml::Spanned`] values).
pub use toml;
