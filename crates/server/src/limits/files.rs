//! The process's limit of open files, and what the listener does when it runs
//! out of them anyway.

use std::io;

/// Sets the soft limit of open files (`RLIMIT_NOFILE`) to `wanted`, or to the
/// hard limit when `wanted` is `None`; a `wanted` above the hard limit stops at
/// it (an unprivileged process cannot go higher). Returns the limit in force.
///
/// Each session needs a descriptor for its control connection and, while it
/// transfers, one or two for the data connection and one for the file.
pub fn set_open_files(wanted: Option<u64>) -> io::Result<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum;
    let target = match (wanted, hard) {
        (Some(w), Some(h)) => w.min(h),
        (Some(w), None) => w,
        (None, Some(h)) => h,
        (None, None) => return Ok(limit.current.unwrap_or(u64::MAX)),
    };
    if limit.current != Some(target) {
        setrlimit(Resource::Nofile, rustix::process::Rlimit { current: Some(target), maximum: hard })?;
    }
    Ok(target)
}

/// True for "too many open files" (per process or system-wide).
pub(crate) fn is_exhaustion(e: &io::Error) -> bool {
    // EMFILE, ENFILE
    matches!(e.raw_os_error(), Some(24) | Some(23))
}

/// A descriptor held back for the moment the process runs out: closing it
/// frees one, so the listener can accept the waiting connection and tell it
/// `421` instead of leaving it hanging in the backlog.
pub(crate) struct Reserve(Option<std::fs::File>);

impl Reserve {
    pub(crate) fn new() -> Self {
        Reserve(std::fs::File::open("/dev/null").ok())
    }

    /// Frees the reserved descriptor.
    pub(crate) fn release(&mut self) {
        self.0 = None;
    }

    /// Takes it again (when there is one to take).
    pub(crate) fn refill(&mut self) {
        if self.0.is_none() {
            self.0 = std::fs::File::open("/dev/null").ok();
        }
    }
}
