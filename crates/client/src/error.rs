//! Client errors: each says what failed, and a server's refusal keeps its reply
//! code and text.

use crate::url::UrlError;
use std::io;
use std::time::Duration;

/// Everything a client operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Url(#[from] UrlError),
    // The I/O errors are part of the message, not a separate `source`, so
    // that a chain of contexts does not print them twice.
    #[error("cannot resolve {host}: {cause}")]
    Resolve { host: String, cause: io::Error },
    #[error("cannot connect to {addr}: {cause}")]
    Connect { addr: String, cause: io::Error },
    #[error("TLS with {host}: {reason}")]
    Tls { host: String, reason: String },
    /// The server refused the login (`530`, or `332` for an account).
    #[error("login refused: {code} {text}")]
    Login { code: u16, text: String },
    /// The server answered a command with an error reply.
    #[error("{command}: {code} {text}")]
    Reply { command: String, code: u16, text: String },
    /// The server said something the protocol does not allow at that point.
    #[error("unexpected reply to {command}: {reply}")]
    Protocol { command: String, reply: String },
    #[error("the server closed the control connection")]
    Closed,
    #[error("{what}: no answer within {} s", .after.as_secs())]
    Timeout { what: &'static str, after: Duration },
    #[error("control connection: {0}")]
    Control(io::Error),
    #[error("data connection: {0}")]
    Data(io::Error),
    /// Reading or writing a local file.
    #[error("{path}: {cause}")]
    Local { path: String, cause: io::Error },
    /// The server lacks a feature the operation needs.
    #[error("the server does not support {0}")]
    Unsupported(&'static str),
    /// A transferred file differs from its source.
    #[error("verification of {path} failed: {detail}")]
    Verify { path: String, detail: String },
}

impl ClientError {
    /// The reply code, when the server refused.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClientError::Login { code, .. } | ClientError::Reply { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether retrying the same operation later may succeed: connection
    /// trouble, timeouts and transient (`4xx`) replies.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connect { .. }
            | ClientError::Closed
            | ClientError::Timeout { .. }
            | ClientError::Control(_)
            | ClientError::Data(_) => true,
            ClientError::Reply { code, .. } => (400..500).contains(code),
            _ => false,
        }
    }

    /// A file or directory the server says does not exist or is not accessible
    /// (`550`).
    pub fn is_not_found(&self) -> bool {
        self.code() == Some(550)
    }

    pub(crate) fn local(path: impl AsRef<std::path::Path>, source: io::Error) -> ClientError {
        ClientError::Local { path: path.as_ref().display().to_string(), cause: source }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
