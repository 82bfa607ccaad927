//! The ferroftp client library.
//!
//! - [`url`]: `ftp://`, `ftps://` and `ftpes://` URLs (RFC 1738 §3.2), with
//!   percent-decoding of names, passwords and paths.
//! - [`Session`]: one control connection: connect (plain, explicit or implicit
//!   TLS), log in, and every command (RFC 959, 2389, 2428, 3659, 4217).
//! - [`transfer`]: data connections (EPSV/PASV, EPRT/PORT, TLS resumed from the
//!   control connection), downloads and uploads with resume, listings.
//! - [`listing`]: `LIST` parsers for Unix and DOS styles.
//! - [`features`]: `FEAT`, and the checksums a server can compute.
//! - [`fxp`]: server-to-server copies.

pub mod control;
pub mod error;
pub mod features;
pub mod fxp;
pub mod listing;
pub mod netrc;
pub mod session;
pub mod tls;
pub mod transfer;
pub mod url;

pub use control::{Trace, TraceEvent};
pub use error::{ClientError, Result};
pub use features::{Features, HashAlgorithm};
pub use ferroftp_proto::listing::{Entry, FileKind};
pub use listing::Listing;
pub use session::{ConnectOptions, DataMode, Session, TransferType};
pub use tls::Verify;
pub use transfer::StoreMode;
pub use url::{FtpUrl, Security, TypeCode, UrlError};
