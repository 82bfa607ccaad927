//! FTPS (RFC 4217): certificates, TLS settings, and the per-session TLS state
//! that makes data connections resume the control connection's TLS session.
//!
//! Session reuse: every control session gets its own copy of the server's
//! rustls configuration with a private session cache. The control handshake
//! fills that cache; a data connection accepted with the same configuration can
//! only resume a session from it, so "the data connection resumed" means "it
//! resumed *this* control connection's session" (what vsftpd's
//! `require_ssl_reuse` checks, and what stops data-connection hijacking).

use rustls::server::StoresServerSessions;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio_rustls::TlsAcceptor;

/// TLS on the control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Clients may use `AUTH TLS`.
    Optional,
    /// USER and PASS are refused until the control connection is protected.
    Required,
}

/// Where the certificate chain and key come from.
#[derive(Debug, Clone)]
pub enum CertificateSource {
    /// PEM files, re-read on [`reload`](crate::ServerHandle::reload_tls).
    Files { cert: PathBuf, key: PathBuf },
    /// PEM text held in memory.
    Pem { cert: String, key: String },
    /// PEM read by someone else on each load: for a server that gave up the
    /// privileges its key files need (the binary's key-reading helper).
    Provider(std::sync::Arc<dyn CertificateProvider>),
}

/// Reads a certificate chain and its key on request, as the files hold them
/// now (after a renewal too).
pub trait CertificateProvider: Send + Sync + std::fmt::Debug {
    /// The PEM certificate chain and the PEM private key.
    fn load(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError>;
    /// What to call the certificate and the key in messages (their files).
    fn names(&self) -> (String, String);
}

/// Everything about FTPS.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub certificate: CertificateSource,
    pub control: TlsPolicy,
    /// Data connections must be protected (`PROT P`); transfers under `PROT C` get 521.
    pub data_required: bool,
    /// A protected data connection must resume the control connection's TLS session.
    pub require_session_reuse: bool,
    /// Allow `CCC` (clear command channel). Off by default.
    pub allow_ccc: bool,
    /// Listeners speaking TLS from the first byte (implicit FTPS, usually port 990).
    pub implicit_listen: Vec<SocketAddr>,
    /// Time allowed for a TLS handshake.
    pub handshake_timeout: Duration,
    /// Ask clients for a certificate (optional for them). Its SHA-256 fingerprint is
    /// given to the authenticator, which may bind users to certificates.
    pub client_certificates: bool,
}

impl TlsSettings {
    /// Optional explicit TLS with the safe defaults.
    pub fn new(certificate: CertificateSource) -> Self {
        TlsSettings {
            certificate,
            control: TlsPolicy::Optional,
            data_required: false,
            require_session_reuse: true,
            allow_ccc: false,
            implicit_listen: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            client_certificates: false,
        }
    }
}

/// Why a certificate or key could not be used. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{cert} and {key} do not belong together: the key does not match the certificate")]
    Mismatch { cert: String, key: String },
    #[error("{path}: the certificate expired on {not_after}; renew it")]
    Expired { path: String, not_after: String },
    #[error("{path}: the certificate is not valid before {not_before}")]
    NotYetValid { path: String, not_before: String },
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("generating a certificate: {0}")]
    Generate(String),
}

/// A loaded certificate chain and key.
#[derive(Debug)]
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn file_error(path: &str, message: impl Into<String>) -> TlsError {
    TlsError::File { path: path.to_string(), message: message.into() }
}

impl Identity {
    /// Loads and checks a certificate source: the chain parses, the key
    /// matches, and the leaf certificate is valid now.
    pub fn load(source: &CertificateSource) -> Result<Identity, TlsError> {
        let (cert_name, key_name, chain, key) = match source {
            CertificateSource::Files { cert, key } => {
                let (c, k) = (cert.display().to_string(), key.display().to_string());
                let chain = read_chain(cert.as_path(), &c)?;
                let key_pem = std::fs::read(key).map_err(|e| file_error(&k, format!("cannot read: {e}")))?;
                let key = parse_key(&key_pem, &k)?;
                (c, k, chain, key)
            }
            CertificateSource::Pem { cert, key } => {
                let chain = parse_chain(cert.as_bytes(), "certificate")?;
                let key =
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| file_error("key", e.to_string()))?;
                ("certificate".to_string(), "key".to_string(), chain, key)
            }
            CertificateSource::Provider(provider) => {
                let (c, k) = provider.names();
                let (chain_pem, key_pem) = provider.load()?;
                let chain = parse_chain(&chain_pem, &c)?;
                let key = parse_key(&key_pem, &k)?;
                (c, k, chain, key)
            }
        };
        if chain.is_empty() {
            return Err(file_error(&cert_name, "no CERTIFICATE block found; expected a PEM certificate chain"));
        }
        check_validity(&chain[0], &cert_name)?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let signing = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| file_error(&key_name, format!("unsupported private key: {e}")))?;
        let certified = rustls::sign::CertifiedKey::new(chain.clone(), signing);
        if certified.keys_match().is_err() {
            return Err(TlsError::Mismatch { cert: cert_name, key: key_name });
        }
        Ok(Identity { chain, key })
    }

    /// SHA-256 fingerprint of the leaf certificate, as `AB:CD:…`, for pinning.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.chain[0])
    }

    fn server_config(&self, client_certificates: bool) -> Result<rustls::ServerConfig, TlsError> {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        // AES-128-GCM first: as strong as needed and the cheapest suite on both ends
        // of a bulk transfer (OpenSSL clients list AES-256 first).
        provider.cipher_suites.sort_by_key(|s| match s.suite() {
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
            | rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => 1,
            _ => 2,
        });
        let provider = Arc::new(provider);
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
        let builder = if client_certificates {
            builder.with_client_cert_verifier(Arc::new(AnyClientCertificate { provider }))
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_single_cert(self.chain.clone(), self.key.clone_key())?;
        config.ignore_client_order = true;
        Ok(config)
    }
}

fn read_chain(path: &Path, name: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|e| file_error(name, format!("cannot read: {e}")))?;
    parse_chain(&pem, name)
}

fn parse_chain(pem: &[u8], name: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(name, format!("not a PEM certificate chain: {e}")))
}

fn parse_key(pem: &[u8], name: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| file_error(name, format!("no usable private key ({e}); expected a PEM PRIVATE KEY block")))
}

fn check_validity(cert: &CertificateDer<'_>, name: &str) -> Result<(), TlsError> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref())
        .map_err(|e| file_error(name, format!("cannot parse the certificate: {e}")))?;
    let validity = parsed.validity();
    let now = x509_parser::time::ASN1Time::now();
    if validity.not_after < now {
        return Err(TlsError::Expired { path: name.to_string(), not_after: validity.not_after.to_string() });
    }
    if validity.not_before > now {
        return Err(TlsError::NotYetValid { path: name.to_string(), not_before: validity.not_before.to_string() });
    }
    Ok(())
}

/// Asks for a client certificate without requiring one, and accepts any that
/// proves possession of its key: which certificate may log in as whom is the
/// authenticator's decision, by fingerprint (as with pinned self-signed
/// certificates, there is no CA to check against).
#[derive(Debug)]
struct AnyClientCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::server::danger::ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// The SHA-256 fingerprint of the client certificate presented on a connection.
pub(crate) fn peer_fingerprint(conn: &rustls::ServerConnection) -> Option<String> {
    conn.peer_certificates().and_then(|c| c.first()).map(fingerprint)
}

/// SHA-256 of a DER certificate as colon-separated upper-case hex.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// A new self-signed certificate for `names` (host names or IP addresses),
/// as PEM `(certificate, private key)`.
pub fn generate_self_signed(names: &[String]) -> Result<(String, String), TlsError> {
    let key = rcgen::generate_simple_self_signed(names.to_vec()).map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((key.cert.pem(), key.signing_key.serialize_pem()))
}

/// A session cache private to one control session. `take` keeps the entry, so
/// the client may resume the same TLS 1.3 ticket on every data connection, as
/// OpenSSL, GnuTLS and Python clients do.
#[derive(Debug, Default)]
struct SessionCache {
    entries: Mutex<CacheEntries>,
}

/// Stored sessions and their insertion order, for eviction.
#[derive(Debug, Default)]
struct CacheEntries {
    map: HashMap<Vec<u8>, Vec<u8>>,
    order: VecDeque<Vec<u8>>,
}

/// Sessions kept per control connection (the control session's tickets plus
/// those issued on recent data connections).
const SESSION_CACHE_SIZE: usize = 32;

impl StoresServerSessions for SessionCache {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let Ok(mut guard) = self.entries.lock() else { return false };
        let CacheEntries { map, order } = &mut *guard;
        if map.insert(key.clone(), value).is_none() {
            order.push_back(key);
        }
        while order.len() > SESSION_CACHE_SIZE {
            if let Some(old) = order.pop_front() {
                map.remove(&old);
            }
        }
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.entries.lock().ok()?.map.get(key).cloned()
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// The server's TLS state: settings and the current certificate, replaceable
/// while the server runs.
pub(crate) struct TlsContext {
    pub(crate) settings: TlsSettings,
    base: RwLock<Arc<rustls::ServerConfig>>,
}

impl TlsContext {
    pub(crate) fn new(settings: TlsSettings) -> Result<(TlsContext, String), TlsError> {
        let identity = Identity::load(&settings.certificate)?;
        let config = identity.server_config(settings.client_certificates)?;
        Ok((TlsContext { settings, base: RwLock::new(Arc::new(config)) }, identity.fingerprint()))
    }

    /// Re-reads the certificate source. New handshakes use the new certificate;
    /// running sessions keep theirs. On error the old certificate stays.
    pub(crate) fn reload(&self) -> Result<String, TlsError> {
        let identity = Identity::load(&self.settings.certificate)?;
        let config = Arc::new(identity.server_config(self.settings.client_certificates)?);
        if let Ok(mut base) = self.base.write() {
            *base = config;
        }
        Ok(identity.fingerprint())
    }

    /// TLS for one control session, with its private session cache.
    pub(crate) fn session(&self) -> SessionTls {
        let base = self.base.read().map(|b| Arc::clone(&b)).unwrap_or_else(|p| Arc::clone(&p.into_inner()));
        let cache: Arc<dyn StoresServerSessions> = Arc::new(SessionCache::default());
        let with_tickets = |tickets: usize| {
            let mut config = (*base).clone();
            config.session_storage = Arc::clone(&cache);
            config.send_tls13_tickets = tickets;
            TlsAcceptor::from(Arc::new(config))
        };
        // TLS 1.3 tickets are what data connections resume. Clients that use each
        // ticket once (rustls) get a supply on the control connection and more on
        // every download. Uploads get none: the client never reads during an upload,
        // and unread tickets would make its close a TCP reset that discards the end
        // of its own data.
        SessionTls { acceptor: with_tickets(4), data_send: with_tickets(2), data_receive: with_tickets(0) }
    }
}

/// One session's TLS acceptors, all sharing the session's private cache.
#[derive(Clone)]
pub(crate) struct SessionTls {
    /// For the control connection.
    pub(crate) acceptor: TlsAcceptor,
    /// For data connections that send (RETR, listings).
    pub(crate) data_send: TlsAcceptor,
    /// For data connections that receive (STOR, APPE, STOU).
    pub(crate) data_receive: TlsAcceptor,
}
