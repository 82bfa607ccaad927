//! The client side of the binary: one-shot commands (`ls`, `get`, `put`, `rm`,
//! `mkdir`, `mv`, `mirror`, `fxp`) and the interactive shell, over the
//! `ferroftp-client` library.

pub mod commands;
pub mod mirror;
pub mod progress;
pub mod shell;
pub mod transfer;

use anyhow::Context as _;
use clap::Args;
use ferroftp_client::netrc::Netrc;
use ferroftp_client::{ClientError, ConnectOptions, DataMode, FtpUrl, Security, Session, TransferType, Verify};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

/// Connection options shared by every client command.
#[derive(Args, Debug, Clone, Default)]
pub struct ConnectArgs {
    /// Use explicit TLS (AUTH TLS) on an ftp:// URL, like ftpes://. Implied
    /// by --ca, --fingerprint and --insecure.
    #[arg(long, global = true)]
    pub tls: bool,
    /// Trust the certificate authorities in this PEM file too.
    #[arg(long, value_name = "FILE", global = true, conflicts_with_all = ["fingerprint", "insecure"])]
    pub ca: Option<PathBuf>,
    /// Trust exactly the server certificate with this SHA-256 fingerprint
    /// (as `ferroftp serve` prints it); for self-signed servers.
    #[arg(long, value_name = "SHA256", global = true, conflicts_with = "insecure")]
    pub fingerprint: Option<String>,
    /// Accept any server certificate (encrypted, but the server is not authenticated).
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Active mode: the server connects back to this machine (EPRT/PORT).
    #[arg(long, global = true)]
    pub active: bool,
    /// Take the user and password from ~/.netrc (or $NETRC) when the URL has none.
    #[arg(long, global = true)]
    pub netrc: bool,
    /// Retry failed connections and transfers this many times, waiting 1, 2,
    /// 4 … seconds (at most 30) between tries; transfers resume where they stopped.
    #[arg(long, value_name = "N", default_value_t = 0, global = true)]
    pub retries: u32,
    /// Seconds to wait for the server before giving up.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, global = true)]
    pub timeout: u64,
    /// Print the commands sent and the replies received to standard error.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Print nothing but errors.
    #[arg(short, long, global = true, conflicts_with = "json")]
    pub quiet: bool,
    /// Print results as JSON lines on standard output, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
}

impl ConnectArgs {
    pub fn options(&self, url: &FtpUrl) -> ConnectOptions {
        let mut o = ConnectOptions::from_url(url);
        // Any TLS option asks for TLS: never ignore it and go on in clear text.
        let wants_tls = self.tls || self.ca.is_some() || self.fingerprint.is_some() || self.insecure;
        if wants_tls && o.security == Security::None {
            o.security = Security::Explicit;
        }
        o.verify = if self.insecure {
            Verify::Insecure
        } else if let Some(fp) = &self.fingerprint {
            Verify::Fingerprint(fp.clone())
        } else if let Some(ca) = &self.ca {
            Verify::CaFile(ca.clone())
        } else {
            Verify::System
        };
        o.mode = if self.active { DataMode::Active } else { DataMode::Passive };
        o.timeout = Duration::from_secs(self.timeout.max(1));
        o.connect_timeout = o.timeout.min(Duration::from_secs(30));
        o
    }

    /// User and password: the URL's, else `.netrc`'s with `--netrc`, else anonymous.
    pub fn credentials(&self, url: &FtpUrl) -> anyhow::Result<(String, String)> {
        if let Some(user) = &url.user {
            return Ok((user.clone(), url.password.clone().unwrap_or_default()));
        }
        if self.netrc
            && let Some(path) = Netrc::default_path()
        {
            let netrc = Netrc::load(&path).with_context(|| format!("reading {}", path.display()))?;
            if let Some(entry) = netrc.lookup(&url.host)
                && let Some(login) = &entry.login
            {
                return Ok((login.clone(), entry.password.clone().unwrap_or_default()));
            }
        }
        Ok(("anonymous".into(), "ferroftp@".into()))
    }

    /// Connects, logs in and sets binary type, retrying transient failures.
    pub async fn open(&self, url: &FtpUrl) -> anyhow::Result<Session> {
        let options = self.options(url);
        let (user, password) = self.credentials(url)?;
        let verbose = self.verbose;
        retry(self.retries, "connecting", || async {
            let mut session = Session::connect(&options).await?;
            if verbose {
                session.set_trace(Some(trace_to_stderr()));
            }
            session.login(&user, &password).await?;
            session.set_type(TransferType::Binary).await?;
            Ok(session)
        })
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("{url}")))
    }
}

/// Prints the control connection's traffic to standard error (`-v`, `debug`).
pub fn trace_to_stderr() -> ferroftp_client::Trace {
    Box::new(|event| match event {
        ferroftp_client::TraceEvent::Sent(line) => eprintln!("---> {line}"),
        ferroftp_client::TraceEvent::Received(reply) => {
            let n = reply.lines.len();
            for (i, line) in reply.lines.iter().enumerate() {
                let sep = if i + 1 == n { ' ' } else { '-' };
                if i == 0 || i + 1 == n { eprintln!("{}{sep}{line}", reply.code) } else { eprintln!("{line}") }
            }
        }
    })
}

/// Runs `op` until it succeeds, fails for good, or `retries` are used up.
pub async fn retry<T, F, Fut>(retries: u32, what: &str, mut op: F) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < retries && e.is_transient() => {
                let wait = Duration::from_secs((1u64 << attempt.min(5)).min(30));
                eprintln!("{what}: {e}; retrying in {} s ({}/{retries})", wait.as_secs(), attempt + 1);
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Parses a URL argument, naming it in the error.
pub fn parse_url(s: &str) -> anyhow::Result<FtpUrl> {
    FtpUrl::parse(s).with_context(|| format!("{:?} is not a usable FTP URL", hide_password(s)))
}

/// The URL text with any password replaced by `***`, for messages.
fn hide_password(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else { return s.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
            None => s.to_string(),
        },
        None => s.to_string(),
    }
}

/// Runs a client command on a single-threaded runtime.
pub fn block_on<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the runtime")?.block_on(future)
}

/// Some files of a mirror or multi-file command failed; the others were done.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} files failed")]
pub struct Partial {
    pub failed: usize,
    pub total: usize,
}

/// Exit codes of the client commands (documented in the README):
/// 0 done; 1 other error; 2 bad command line (clap); 3 could not connect
/// (name, refused, TLS); 4 login refused; 5 the server refused an operation
/// (no such file, permission); 6 a local file could not be read or written;
/// 7 a transfer broke off, timed out or failed verification; 8 some files of
/// a mirror or multi-file command failed.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<Partial>().is_some() {
        return 8;
    }
    if let Some(e) = error.chain().find_map(|c| c.downcast_ref::<ClientError>()) {
        return match e {
            ClientError::Url(_) => 2,
            ClientError::Resolve { .. } | ClientError::Connect { .. } | ClientError::Tls { .. } => 3,
            ClientError::Login { .. } => 4,
            ClientError::Reply { .. } | ClientError::Unsupported(_) => 5,
            ClientError::Local { .. } => 6,
            ClientError::Protocol { .. }
            | ClientError::Closed
            | ClientError::Timeout { .. }
            | ClientError::Control(_)
            | ClientError::Data(_)
            | ClientError::Verify { .. } => 7,
        };
    }
    if error.chain().any(|c| c.downcast_ref::<ferroftp_client::UrlError>().is_some()) {
        return 2;
    }
    1
}
