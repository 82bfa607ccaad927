//! FTPS options of `ferroftp serve`, and `ferroftp cert generate`.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use ferroftp_server::config::file::{ConfigFile, TlsMode, TlsSection};
use ferroftp_server::tls::{CertificateSource, TlsPolicy, TlsSettings, generate_self_signed};
use ferroftp_server::toml::Spanned;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// FTPS (FTP over TLS, RFC 4217).
#[derive(Args, Debug, Default)]
pub struct TlsArgs {
    /// Offer explicit FTPS (AUTH TLS). Without --tls-cert/--tls-key a self-signed
    /// certificate is generated once and kept in the state directory.
    #[arg(long)]
    tls: bool,

    /// Require TLS: USER before AUTH TLS and data transfers without PROT P are refused.
    #[arg(long)]
    tls_required: bool,

    /// PEM certificate chain (leaf first). Implies --tls.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// PEM private key of the certificate. Implies --tls.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Also listen for implicit FTPS (TLS from the first byte; clients use ftps://).
    /// Repeatable. Implies --tls.
    #[arg(long = "implicit-tls", value_name = "ADDR:PORT")]
    implicit_tls: Vec<SocketAddr>,

    /// Accept protected data connections that do not resume the control
    /// connection's TLS session (for clients that cannot; weaker against hijacking).
    #[arg(long)]
    no_tls_session_reuse: bool,

    /// Allow CCC (return the control connection to clear text after login).
    #[arg(long)]
    allow_ccc: bool,

    /// Bind a --user to a TLS client certificate, by its SHA-256 fingerprint: that user
    /// must then log in over TLS presenting it (and still give the password). Repeatable.
    /// Implies --tls.
    #[arg(long = "tls-user-cert", value_name = "NAME=FINGERPRINT", value_parser = parse_binding)]
    pub user_certificates: Vec<(String, String)>,

    /// Where a generated certificate is kept
    /// (default: $XDG_STATE_HOME/ferroftp or ~/.local/state/ferroftp).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

impl TlsArgs {
    fn enabled(&self) -> bool {
        self.tls
            || self.tls_required
            || self.tls_cert.is_some()
            || !self.implicit_tls.is_empty()
            || !self.user_certificates.is_empty()
    }

    /// Applies these flags over the `[tls]` section of a configuration (flags win).
    pub fn apply(&self, file: &mut ConfigFile) {
        if !self.enabled() && !self.no_tls_session_reuse && !self.allow_ccc && self.state_dir.is_none() {
            return;
        }
        let t = file.tls.get_or_insert_with(TlsSection::default);
        if self.tls && matches!(t.mode, None | Some(TlsMode::Off)) {
            t.mode = Some(TlsMode::Optional);
        }
        if self.tls_required {
            t.mode = Some(TlsMode::Required);
            t.require_protected_data = Some(true);
        }
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            t.cert = Some(Spanned::new(0..0, cert.clone()));
            t.key = Some(Spanned::new(0..0, key.clone()));
            t.mode = t.mode.or(Some(TlsMode::Optional));
        }
        if !self.implicit_tls.is_empty() {
            t.implicit_listen = self.implicit_tls.clone();
            t.mode = t.mode.or(Some(TlsMode::Optional));
        }
        if self.no_tls_session_reuse {
            t.session_reuse = Some(false);
        }
        if self.allow_ccc {
            t.allow_ccc = Some(true);
        }
        if let Some(dir) = &self.state_dir {
            t.state_dir = Some(dir.clone());
        }
    }
}

/// The TLS settings a `[tls]` section asks for, generating a certificate if it
/// names none. `names` are the host names and addresses a generated certificate
/// covers; relative paths are taken from `base`.
pub fn settings(
    section: Option<&TlsSection>,
    base: &Path,
    names: &[String],
    client_certificates: bool,
) -> anyhow::Result<Option<(TlsSettings, Option<PathBuf>)>> {
    let Some(t) = section else { return Ok(None) };
    let mode = t.mode.unwrap_or(TlsMode::Optional);
    if mode == TlsMode::Off {
        return Ok(None);
    }
    let (source, generated) = match (&t.cert, &t.key) {
        (Some(cert), Some(key)) => {
            (CertificateSource::Files { cert: base.join(cert.get_ref()), key: base.join(key.get_ref()) }, None)
        }
        _ => {
            let dir = t.state_dir.as_ref().map(|d| base.join(d)).unwrap_or_else(default_state_dir);
            let (cert, key) = self_signed_in(&dir, names)?;
            (CertificateSource::Files { cert: cert.clone(), key }, Some(cert))
        }
    };
    let mut settings = TlsSettings::new(source);
    if mode == TlsMode::Required {
        settings.control = TlsPolicy::Required;
    }
    settings.data_required = t.require_protected_data.unwrap_or(mode == TlsMode::Required);
    settings.require_session_reuse = t.session_reuse.unwrap_or(true);
    settings.allow_ccc = t.allow_ccc.unwrap_or(false);
    settings.implicit_listen = t.implicit_listen.clone();
    settings.client_certificates = client_certificates;
    Ok(Some((settings, generated)))
}

fn parse_binding(s: &str) -> Result<(String, String), String> {
    let err = || "expected NAME=FINGERPRINT, the SHA-256 fingerprint as 64 hex digits (colons allowed)".to_string();
    let (name, fingerprint) = s.split_once('=').ok_or_else(err)?;
    let hex = fingerprint.chars().filter(|c| *c != ':').collect::<String>();
    if name.is_empty() || hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(err());
    }
    Ok((name.to_string(), fingerprint.to_string()))
}

fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("ferroftp");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".local/state/ferroftp"),
        None => PathBuf::from(".ferroftp-state"),
    }
}

/// The self-signed certificate in `dir`, created on first use.
fn self_signed_in(dir: &Path, names: &[String]) -> anyhow::Result<(PathBuf, PathBuf)> {
    let cert = dir.join("self-signed-cert.pem");
    let key = dir.join("self-signed-key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    write_pair(&cert, &key, names)?;
    Ok((cert, key))
}

fn write_pair(cert: &Path, key: &Path, names: &[String]) -> anyhow::Result<()> {
    let (cert_pem, key_pem) = generate_self_signed(names)?;
    if let Some(dir) = cert.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(cert, cert_pem).with_context(|| format!("writing {}", cert.display()))?;
    write_private(key, key_pem.as_bytes()).with_context(|| format!("writing {}", key.display()))?;
    Ok(())
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

/// Certificate tools.
#[derive(Subcommand, Debug)]
pub enum CertCommand {
    /// Write a new self-signed certificate and key (PEM) and print its SHA-256 fingerprint.
    Generate {
        /// Host names and addresses the certificate is for; repeatable.
        #[arg(long = "name", value_name = "HOST", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()])]
        names: Vec<String>,
        /// Certificate file to write.
        #[arg(long, value_name = "FILE", default_value = "ferroftp-cert.pem")]
        cert: PathBuf,
        /// Private key file to write (mode 0600).
        #[arg(long, value_name = "FILE", default_value = "ferroftp-key.pem")]
        key: PathBuf,
        /// Replace existing files.
        #[arg(long)]
        force: bool,
    },
}

pub fn run_cert(cmd: CertCommand) -> anyhow::Result<()> {
    match cmd {
        CertCommand::Generate { names, cert, key, force } => {
            for path in [&cert, &key] {
                if path.exists() && !force {
                    bail!("{} exists; pass --force to replace it", path.display());
                }
            }
            write_pair(&cert, &key, &names)?;
            let source = CertificateSource::Files { cert: cert.clone(), key: key.clone() };
            let identity = ferroftp_server::tls::Identity::load(&source)?;
            println!("wrote {} and {}", cert.display(), key.display());
            println!("for: {}", names.join(", "));
            println!("SHA-256 fingerprint: {}", identity.fingerprint());
            Ok(())
        }
    }
}
