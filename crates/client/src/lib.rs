//! The ferroftp client library.
//!
//! - [`url`]: `ftp://`, `ftps://` and `ftpes://` URLs (RFC 1738 §3.2), with
//!   percent-decoding of names, passwords and paths.
//!
//! Sessions, transfers and FXP build on these.

pub mod url;

pub use url::{FtpUrl, Security, TypeCode, UrlError};
