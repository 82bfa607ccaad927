//! FTP wire formats, with no I/O and no async runtime.
//!
//! Everything a server or client needs to put on, or take off, an FTP control or data
//! connection lives here as plain functions and small state machines:
//!
//! - [`line`]: framing of the control connection (CRLF and bare LF, Telnet IAC stripping,
//!   the 8 KiB line limit) and parsing a line into a verb and its argument.
//! - [`reply`]: reply codes and single/multi-line replies (RFC 959 §4.2).
//! - [`hostport`]: `PORT`/`PASV` host-port and the RFC 2428 `EPRT`/`EPSV` forms.
//! - [`listing`]: `LIST` lines in the Unix `ls -l` style, `NLST` names and RFC 3659 MLSx facts.
//! - [`ascii`]: the streaming TYPE A codec (LF on disk, CRLF on the wire).
//! - [`timeval`]: the RFC 3659 time-val used by `MDTM` and the `modify` fact.

pub mod ascii;
pub mod hostport;
pub mod line;
pub mod listing;
pub mod reply;
pub mod timeval;

pub use line::{Command, LineDecoder, LineError};
pub use reply::{Reply, ReplyCode};
