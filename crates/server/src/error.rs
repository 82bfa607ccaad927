//! Errors, and the one place where each becomes an FTP reply.

use ferroftp_proto::{Reply, ReplyCode};
use std::io;

/// What went wrong in a storage operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    NotFound,
    PermissionDenied,
    AlreadyExists,
    NotADirectory,
    IsADirectory,
    /// A FIFO, socket or device where a plain file is needed.
    NotAFile,
    DirectoryNotEmpty,
    /// The name cannot be used (reply 553, RFC 959 "File name not allowed").
    InvalidName,
    /// The disk is full (reply 452, RFC 959 "Insufficient storage space").
    InsufficientSpace,
    /// A restart offset beyond the end of the file (reply 554, RFC 3659 §5.5).
    InvalidOffset,
    /// A mounted folder (or a folder holding one) cannot be removed or renamed.
    MountPoint,
    /// A rename from one mounted folder to another.
    CrossFolder,
    /// The user's or group's storage quota is used up (reply 552, RFC 959
    /// "Exceeded storage allocation").
    QuotaExceeded,
    /// Another upload of the same name by the same owner is running (reply
    /// 450, RFC 959 "file busy").
    Busy,
    /// The name was taken by someone else while an upload that may not
    /// replace files ran (reply 553).
    NameTaken,
    /// Any other I/O failure (reply 451, "local error in processing").
    Io,
}

impl StorageErrorKind {
    /// The reply code for this error: the single mapping the server uses.
    pub fn reply_code(self) -> ReplyCode {
        match self {
            StorageErrorKind::NotFound
            | StorageErrorKind::PermissionDenied
            | StorageErrorKind::AlreadyExists
            | StorageErrorKind::NotADirectory
            | StorageErrorKind::IsADirectory
            | StorageErrorKind::NotAFile
            | StorageErrorKind::DirectoryNotEmpty
            | StorageErrorKind::MountPoint
            | StorageErrorKind::CrossFolder => ReplyCode::FILE_UNAVAILABLE,
            StorageErrorKind::QuotaExceeded => ReplyCode::EXCEEDED_STORAGE,
            StorageErrorKind::Busy => ReplyCode::FILE_BUSY,
            StorageErrorKind::InvalidName | StorageErrorKind::NameTaken => ReplyCode::NAME_NOT_ALLOWED,
            StorageErrorKind::InsufficientSpace => ReplyCode::INSUFFICIENT_STORAGE,
            StorageErrorKind::InvalidOffset => ReplyCode::INVALID_RESTART,
            StorageErrorKind::Io => ReplyCode::LOCAL_ERROR,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            StorageErrorKind::NotFound => "No such file or directory",
            StorageErrorKind::PermissionDenied => "Permission denied",
            StorageErrorKind::AlreadyExists => "File exists",
            StorageErrorKind::NotADirectory => "Not a directory",
            StorageErrorKind::IsADirectory => "Is a directory",
            StorageErrorKind::NotAFile => "Not a plain file",
            StorageErrorKind::DirectoryNotEmpty => "Directory not empty",
            StorageErrorKind::InvalidName => "File name not allowed",
            StorageErrorKind::InsufficientSpace => "Insufficient storage space",
            StorageErrorKind::InvalidOffset => "Restart offset beyond end of file",
            StorageErrorKind::MountPoint => "Is a mounted folder; it cannot be removed or renamed",
            StorageErrorKind::CrossFolder => "Cannot move between mounted folders",
            StorageErrorKind::QuotaExceeded => "Quota exceeded",
            StorageErrorKind::Busy => "Being uploaded in another session; try again when it ends",
            StorageErrorKind::NameTaken => {
                "Created by someone else while this upload ran; nothing was stored (replacing files needs the 'delete' right)"
            }
            StorageErrorKind::Io => "Local error in processing",
        }
    }

    /// Classifies an I/O error from the filesystem.
    pub fn from_io(e: &io::Error) -> Self {
        use io::ErrorKind as K;
        match e.kind() {
            K::NotFound => StorageErrorKind::NotFound,
            K::PermissionDenied => StorageErrorKind::PermissionDenied,
            K::AlreadyExists => StorageErrorKind::AlreadyExists,
            K::NotADirectory => StorageErrorKind::NotADirectory,
            K::IsADirectory => StorageErrorKind::IsADirectory,
            K::DirectoryNotEmpty => StorageErrorKind::DirectoryNotEmpty,
            K::InvalidFilename | K::InvalidInput => StorageErrorKind::InvalidName,
            K::StorageFull | K::QuotaExceeded => StorageErrorKind::InsufficientSpace,
            K::ResourceBusy => StorageErrorKind::Busy,
            _ => match e.raw_os_error() {
                // ELOOP / EXDEV from a symlink that resolves outside the root.
                Some(40) | Some(18) => StorageErrorKind::PermissionDenied,
                Some(36) => StorageErrorKind::InvalidName,
                _ => StorageErrorKind::Io,
            },
        }
    }
}

/// A storage failure with the virtual path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {}", kind.describe())]
pub struct StorageError {
    pub kind: StorageErrorKind,
    /// The path as the user sees it.
    pub path: String,
    #[source]
    pub source: Option<io::Error>,
}

impl StorageError {
    pub fn new(kind: StorageErrorKind, path: impl Into<String>) -> Self {
        StorageError { kind, path: path.into(), source: None }
    }

    pub fn io(e: io::Error, path: impl Into<String>) -> Self {
        StorageError { kind: StorageErrorKind::from_io(&e), path: path.into(), source: Some(e) }
    }

    /// The reply for this error, naming the path.
    pub fn to_reply(&self) -> Reply {
        Reply::new(self.kind.reply_code(), self.to_string())
    }
}

/// Why a server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: io::Error },
    #[error("no listen address could be bound")]
    NoListener,
    #[error("cannot open the served directory {path}: {source}")]
    Root { path: std::path::PathBuf, source: io::Error },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// How a command handler failed. Every variant but `Control` becomes one reply.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A refusal already phrased as a reply.
    #[error("{0}")]
    Reply(Reply),
    /// The control connection failed; the session ends.
    #[error("control connection: {0}")]
    Control(#[from] io::Error),
}

impl CommandError {
    pub(crate) fn reply(code: ReplyCode, text: impl Into<String>) -> Self {
        CommandError::Reply(Reply::new(code, text))
    }

    /// The reply to send, or the fatal control-connection error.
    pub(crate) fn into_reply(self) -> Result<Reply, io::Error> {
        match self {
            CommandError::Storage(e) => Ok(e.to_reply()),
            CommandError::Reply(r) => Ok(r),
            CommandError::Control(e) => Err(e),
        }
    }
}
