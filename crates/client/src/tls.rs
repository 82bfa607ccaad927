//! TLS for FTPS (RFC 4217): how the server's certificate is checked, and one
//! session cache per control connection so that every data connection resumes
//! the control connection's TLS session.
//!
//! vsftpd (`require_ssl_reuse`), ProFTPD (`TLSOptions` without
//! `NoSessionReuseRequired`), FileZilla Server and ferroftp refuse a protected
//! data connection that does not resume the session of *its* control
//! connection. Each [`Session`](crate::Session) therefore gets its own copy of
//! the configuration with its own resumption store: parallel sessions to one
//! server never offer each other's tickets.

use crate::error::{ClientError, Result};
use rustls::client::Resumption;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;

/// How the server's certificate is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Verify {
    /// The system's trusted certificate authorities and the host name.
    #[default]
    System,
    /// Certificate authorities from a PEM file (in addition to the system's).
    CaFile(PathBuf),
    /// Exactly this certificate: its SHA-256 fingerprint, as `ferroftp serve`
    /// prints it (`AB:CD:…`, colons and case optional). For self-signed servers.
    Fingerprint(String),
    /// Any certificate. The connection is encrypted but the server is not
    /// authenticated.
    Insecure,
}

/// Builds the TLS configuration of one control connection and its data connections.
pub(crate) fn client_config(verify: &Verify, host: &str) -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let err = |reason: String| ClientError::Tls { host: host.to_string(), reason };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| err(e.to_string()))?;
    let mut config = match verify {
        Verify::System | Verify::CaFile(_) => {
            let mut roots = RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
            if let Verify::CaFile(path) = verify {
                let pem = std::fs::read(path).map_err(|e| ClientError::local(path, e))?;
                let mut added = 0;
                for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
                    let cert: CertificateDer<'static> = cert.map_err(|e| err(format!("{}: {e}", path.display())))?;
                    roots.add(cert).map_err(|e| err(format!("{}: {e}", path.display())))?;
                    added += 1;
                }
                if added == 0 {
                    return Err(err(format!("{}: no PEM certificate in the file", path.display())));
                }
            }
            if roots.is_empty() {
                return Err(err(
                    "no trusted certificate authorities on this system: pass --ca FILE or --fingerprint".into()
                ));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Verify::Fingerprint(fp) => {
            let expected = parse_fingerprint(fp)
                .ok_or_else(|| err(format!("{fp:?} is not a SHA-256 fingerprint (64 hex digits, colons optional)")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned { expected: Some(expected), provider }))
                .with_no_client_auth()
        }
        Verify::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { expected: None, provider }))
            .with_no_client_auth(),
    };
    config.resumption = Resumption::in_memory_sessions(64);
    Ok(Arc::new(config))
}

/// The server name a certificate must carry (a DNS name or an IP address).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_string())
        .map_err(|e| ClientError::Tls { host: host.to_string(), reason: format!("not a valid server name: {e}") })
}

/// The SHA-256 fingerprint of a certificate, as `ferroftp serve` prints it.
pub fn fingerprint(cert: &[u8]) -> String {
    Sha256::digest(cert).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    let s = s.strip_prefix("SHA256:").or_else(|| s.strip_prefix("sha256:")).unwrap_or(s);
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b':').collect();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// Accepts one pinned certificate, or any when `expected` is `None`; the
/// handshake signatures are verified either way.
#[derive(Debug)]
struct Pinned {
    expected: Option<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.expected {
            Some(expected) if Sha256::digest(end_entity.as_ref()).as_slice() != expected => {
                Err(rustls::Error::General(format!(
                    "the certificate's fingerprint is {}, not the one given",
                    fingerprint(end_entity.as_ref())
                )))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_the_printed_form_and_without_colons() {
        let printed = fingerprint(b"cert");
        let bytes = parse_fingerprint(&printed).expect("printed form");
        assert_eq!(parse_fingerprint(&printed.replace(':', "").to_lowercase()), Some(bytes));
        assert_eq!(parse_fingerprint(&format!("SHA256:{printed}")), Some(bytes));
        assert_eq!(parse_fingerprint("AB:CD"), None);
        assert_eq!(parse_fingerprint(&"zz".repeat(32)), None);
    }
}
