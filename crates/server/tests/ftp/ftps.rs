//! FTPS (RFC 4217): explicit and implicit TLS, PROT P and C, policies, TLS
//! session reuse on data connections, CCC, certificates and bad input.

use crate::common::*;
use ferroftp_server::{AnonymousAccess, CertificateSource, TlsPolicy, TlsSettings};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

fn tls_server(tweak: impl FnOnce(&mut TlsSettings)) -> (TestServer, Arc<rustls::ClientConfig>) {
    let (mut settings, cert) = tls_settings();
    tweak(&mut settings);
    let srv = TestServer::start_with(AnonymousAccess::Read, move |c| c.tls = Some(settings));
    (srv, tls_client(&cert))
}

/// EPSV and a protected data connection.
fn epsv_tls(c: &mut Raw, tls: &Arc<rustls::ClientConfig>) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let r = c.expect("EPSV", 229);
    let port = ferroftp_proto::hostport::parse_epsv_reply(&r.text()).unwrap();
    tls_data(SocketAddr::new(c.peer().ip(), port), tls)
}

/// Reads a whole protected download and checks the server closed it cleanly.
fn read_all(mut d: rustls::StreamOwned<rustls::ClientConnection, TcpStream>) -> Vec<u8> {
    let mut out = Vec::new();
    d.read_to_end(&mut out).expect("download ends with close_notify");
    out
}

/// Writes an upload and ends it with close_notify.
fn write_all(mut d: rustls::StreamOwned<rustls::ClientConnection, TcpStream>, bytes: &[u8]) {
    d.write_all(bytes).unwrap();
    d.conn.send_close_notify();
    d.flush().unwrap();
}

#[test]
fn explicit_tls_prot_p_every_transfer_command_passive() {
    let (srv, tls) = tls_server(|_| {});
    let data = content(3 * 1024 * 1024 + 11, 1);
    let mut c = srv.raw();
    c.protect(&tls);
    c.login(USER, PASS);
    c.expect("TYPE I", 200);
    let d = epsv_tls(&mut c, &tls);
    c.expect("STOR up.bin", 150);
    write_all(d, &data);
    assert_eq!(c.reply().code, 226);
    assert_eq!(sha256(&srv.read("up.bin")), sha256(&data));
    let d = epsv_tls(&mut c, &tls);
    c.expect("RETR up.bin", 150);
    assert_eq!(sha256(&read_all(d)), sha256(&data));
    assert_eq!(c.reply().code, 226);
    let d = epsv_tls(&mut c, &tls);
    c.expect("APPE up.bin", 150);
    write_all(d, b"tail");
    assert_eq!(c.reply().code, 226);
    assert!(srv.read("up.bin").ends_with(b"tail"));
    let d = epsv_tls(&mut c, &tls);
    let opened = c.expect("STOU up.bin", 150);
    write_all(d, b"unique");
    assert_eq!(c.reply().code, 226);
    assert_eq!(srv.read(opened.text().trim_start_matches("FILE: ")), b"unique");
    for (cmd, needle) in [("LIST", " up.bin"), ("NLST", "up.bin"), ("MLSD", "; up.bin")] {
        let d = epsv_tls(&mut c, &tls);
        c.expect(cmd, 150);
        let text = String::from_utf8(read_all(d)).unwrap();
        assert!(text.contains(needle), "{cmd}: {text}");
        assert_eq!(c.reply().code, 226);
    }
    let stat = c.expect("STAT", 211);
    assert!(stat.text().contains("Control connection: TLS; data protection: Private"), "{stat:?}");
}

#[test]
fn explicit_tls_prot_p_active_mode() {
    let (srv, tls) = tls_server(|_| {});
    srv.write("f.bin", &content(500_000, 2));
    let mut c = srv.raw();
    c.protect(&tls);
    c.login(USER, PASS);
    c.expect("TYPE I", 200);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    c.expect(&format!("EPRT |1|127.0.0.1|{port}|"), 200);
    c.expect("RETR f.bin", 150);
    let (s, _) = listener.accept().unwrap();
    // The server is the TLS server even though it opened the connection (RFC 4217 §7).
    let conn = rustls::ClientConnection::new(Arc::clone(&tls), server_name()).unwrap();
    let got = read_all(rustls::StreamOwned::new(conn, s));
    assert_eq!(got, srv.read("f.bin"));
    assert_eq!(c.reply().code, 226);
}

#[test]
fn prot_c_data_in_clear_when_allowed() {
    let (srv, tls) = tls_server(|_| {});
    srv.write("f.txt", b"clear data");
    let mut c = srv.raw();
    c.auth_tls(&tls);
    c.login(USER, PASS);
    c.expect("PBSZ 0", 200);
    c.expect("PROT C", 200);
    let (_, bytes, done) = c.data_cmd("RETR f.txt");
    assert_eq!((bytes.as_slice(), done.code), (&b"clear data"[..], 226));
}

#[test]
fn security_command_reply_codes() {
    let plain = TestServer::start();
    let mut c = plain.raw();
    c.expect("AUTH TLS", 502);
    c.send("FEAT");
    assert!(!c.reply().text().contains("AUTH TLS"));

    let (srv, tls) = tls_server(|_| {});
    let mut c = srv.raw();
    c.send("FEAT");
    let feat = c.reply();
    for line in [" AUTH TLS", " PBSZ", " PROT"] {
        assert!(feat.lines.iter().any(|l| l == line), "FEAT lacks {line:?}: {feat:?}");
    }
    c.expect("PBSZ 0", 503);
    c.expect("PROT P", 503);
    c.expect("CCC", 533);
    c.expect("AUTH KERBEROS_V4", 504);
    c.auth_tls(&tls);
    c.expect("AUTH TLS", 503);
    c.expect("PROT P", 503); // PBSZ first (RFC 4217 §9)
    c.expect("PBSZ x", 501);
    assert_eq!(c.expect("PBSZ 1024", 200).text(), "PBSZ=0");
    c.expect("PROT S", 536);
    c.expect("PROT E", 536);
    c.expect("PROT Q", 504);
    c.expect("CCC", 534); // not allowed unless configured
    c.login(USER, PASS);
    c.expect("NOOP", 200);
}

#[test]
fn required_policy_refuses_clear_logins_and_clear_data() {
    let (srv, tls) = tls_server(|t| {
        t.control = TlsPolicy::Required;
        t.data_required = true;
    });
    srv.write("f.txt", b"x");
    let mut c = srv.raw();
    let r = c.expect("USER alice", 530);
    assert!(r.text().contains("TLS required"), "{r:?}");
    c.expect("PASS secret", 503);
    c.auth_tls(&tls);
    c.login(USER, PASS);
    let _d = c.epsv();
    let r = c.expect("RETR f.txt", 521);
    assert!(r.text().contains("PROT P"), "{r:?}");
    c.expect("PBSZ 0", 200);
    assert!(c.expect("PROT C", 534).text().contains("requires protected"));
    c.expect("PROT P", 200);
    // The data connection prepared before the refusal is still there; use a fresh one.
    let d = epsv_tls(&mut c, &tls);
    c.expect("RETR f.txt", 150);
    assert_eq!(read_all(d), b"x");
    assert_eq!(c.reply().code, 226);
}

#[test]
fn data_connection_must_resume_the_control_session_when_required() {
    let (srv, tls) = tls_server(|_| {});
    srv.write("f.txt", b"secret data");
    let mut c = srv.raw();
    c.protect(&tls);
    c.login(USER, PASS);
    // A client with another session store cannot resume: refused.
    let stranger = tls_client_like(&tls);
    let r = c.expect("EPSV", 229);
    let port = ferroftp_proto::hostport::parse_epsv_reply(&r.text()).unwrap();
    let mut d = tls_data(SocketAddr::new(c.peer().ip(), port), &stranger);
    c.expect("RETR f.txt", 150);
    let mut buf = Vec::new();
    assert!(d.read_to_end(&mut buf).is_err() || buf.is_empty());
    let refused = c.reply();
    assert_eq!(refused.code, 425, "{refused:?}");
    assert!(refused.text().contains("reuse"), "{refused:?}");
    // The same client, resuming: accepted.
    let d = epsv_tls(&mut c, &tls);
    c.expect("RETR f.txt", 150);
    assert_eq!(read_all(d), b"secret data");
    assert_eq!(c.reply().code, 226);
}

/// A client configuration trusting the same certificate with an empty session store.
fn tls_client_like(tls: &Arc<rustls::ClientConfig>) -> Arc<rustls::ClientConfig> {
    let mut fresh = (**tls).clone();
    fresh.resumption = rustls::client::Resumption::in_memory_sessions(16);
    Arc::new(fresh)
}

#[test]
fn data_connection_without_resumption_is_accepted_when_reuse_is_off() {
    let (srv, tls) = tls_server(|t| t.require_session_reuse = false);
    srv.write("f.txt", b"data");
    let mut c = srv.raw();
    c.protect(&tls);
    c.login(USER, PASS);
    let r = c.expect("EPSV", 229);
    let port = ferroftp_proto::hostport::parse_epsv_reply(&r.text()).unwrap();
    let d = tls_data(SocketAddr::new(c.peer().ip(), port), &tls_client_like(&tls));
    c.expect("RETR f.txt", 150);
    assert_eq!(read_all(d), b"data");
    assert_eq!(c.reply().code, 226);
}

/// On an implicit-FTPS port, an address that may not connect (denied here)
/// is closed at once: no TLS handshake is waited for or done, so it holds no
/// descriptor and costs no cryptography.
#[test]
fn implicit_tls_refuses_denied_addresses_before_the_handshake() {
    let (mut settings, _) = tls_settings();
    settings.implicit_listen = vec!["127.0.0.1:0".parse().unwrap()];
    let srv = TestServer::start_with(AnonymousAccess::Read, move |c| {
        c.tls = Some(settings);
        c.ip_filter.deny = vec![ferroftp_server::config::values::Cidr::parse("127.0.0.7/32").unwrap()];
    });
    let implicit = srv.implicit.expect("implicit listener");
    let mut s = connect_from("127.0.0.7".parse().unwrap(), implicit).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(3))).unwrap();
    let mut buf = [0u8; 64];
    // Without sending a ClientHello: a handshake would wait for one (10 s).
    let n = std::io::Read::read(&mut s, &mut buf).expect("closed at once, not left waiting for a handshake");
    assert_eq!(n, 0);
}

#[test]
fn implicit_tls_protects_data_by_default() {
    let (srv, tls) = tls_server(|t| t.implicit_listen = vec!["127.0.0.1:0".parse().unwrap()]);
    srv.write("f.bin", &content(100_000, 3));
    let implicit = srv.implicit.expect("implicit listener");
    let mut c = Raw::connect_implicit(implicit, &tls);
    c.login(USER, PASS);
    c.expect("TYPE I", 200);
    let d = epsv_tls(&mut c, &tls);
    c.expect("RETR f.bin", 150);
    assert_eq!(read_all(d), srv.read("f.bin"));
    assert_eq!(c.reply().code, 226);
    c.expect("AUTH TLS", 503);
    // PROT C is still possible when the policy allows it.
    c.expect("PROT C", 200);
    let (_, bytes, done) = c.data_cmd("RETR f.bin");
    assert_eq!((bytes.len(), done.code), (100_000, 226));
}

#[test]
fn ccc_returns_to_clear_text_when_allowed() {
    let (srv, tls) = tls_server(|t| t.allow_ccc = true);
    let mut c = srv.raw();
    c.protect(&tls);
    c.login(USER, PASS);
    c.send("CCC");
    assert_eq!(c.reply().code, 200);
    // Send our close_notify, then continue in clear text on the same TCP connection.
    c.end_tls();
    c.expect("NOOP", 200);
    assert!(c.expect("STAT", 211).text().contains("Control connection: clear"));
}

#[test]
fn upload_closed_without_close_notify_completes_but_a_reset_does_not() {
    let (srv, tls) = tls_server(|_| {});
    let data = content(700_000, 4);
    let mut c = srv.raw();
    c.protect(&tls);
    c.login(USER, PASS);
    c.expect("TYPE I", 200);
    // FIN without close_notify, as curl and FileZilla end uploads: complete.
    let mut d = epsv_tls(&mut c, &tls);
    c.expect("STOR fin.bin", 150);
    d.write_all(&data).unwrap();
    d.flush().unwrap();
    d.sock.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(c.reply().code, 226);
    assert_eq!(sha256(&srv.read("fin.bin")), sha256(&data));
    // A reset in the middle: never 226, nothing left behind.
    let mut d = epsv_tls(&mut c, &tls);
    c.expect("STOR rst.bin", 150);
    d.write_all(&data[..300_000]).unwrap();
    d.flush().unwrap();
    socket2::SockRef::from(&d.sock).set_linger(Some(Duration::ZERO)).unwrap();
    drop(d);
    assert_eq!(c.reply().code, 426);
    assert!(!srv.path("rst.bin").exists());
}

#[test]
fn bad_tls_input_is_contained() {
    let (srv, tls) = tls_server(|t| {
        t.implicit_listen = vec!["127.0.0.1:0".parse().unwrap()];
        t.handshake_timeout = Duration::from_millis(300);
    });
    let implicit = srv.implicit.unwrap();
    // A plain-text client on the implicit port: the handshake fails, the connection closes.
    let mut s = TcpStream::connect(implicit).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"USER anonymous\r\n").unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(!buf.starts_with(b"220"), "spoke FTP in clear on the implicit port");
    // A handshake that never completes is cut off by the timeout.
    let mut idle = TcpStream::connect(implicit).unwrap();
    idle.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    assert_eq!(idle.read(&mut [0u8; 16]).unwrap_or(0), 0);
    // Garbage after AUTH TLS ends that session only.
    let mut c = srv.raw();
    c.expect("AUTH TLS", 234);
    c.send_bytes(b"\x16\x03\x01\x00\x05garbage-that-is-not-tls\r\n");
    assert!(c.try_reply().is_none());
    // Meanwhile an honest TLS session works.
    let mut ok = srv.raw();
    ok.protect(&tls);
    ok.login(USER, PASS);
    ok.expect("NOOP", 200);
}

#[test]
fn plaintext_sent_after_auth_tls_is_not_executed() {
    let (srv, tls) = tls_server(|_| {});
    let mut c = srv.raw();
    // STARTTLS command injection: a command pipelined in clear after AUTH TLS
    // must be dropped, not run under the protection of TLS.
    c.send_bytes(b"AUTH TLS\r\nUSER alice\r\n");
    assert_eq!(c.reply().code, 234);
    c.upgrade_after_234(&tls);
    c.expect("PASS secret", 503);
}

fn write_pem(dir: &std::path::Path, name: &str, cert: &str, key: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let (c, k) = (dir.join(format!("{name}-cert.pem")), dir.join(format!("{name}-key.pem")));
    std::fs::write(&c, cert).unwrap();
    std::fs::write(&k, key).unwrap();
    (c, k)
}

#[test]
fn bad_certificates_are_refused_at_start_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a) = test_certificate();
    let (_, key_b) = test_certificate();
    let (cert, key) = write_pem(dir.path(), "mismatch", &cert_a, &key_b);
    let err = ferroftp_server::tls::Identity::load(&CertificateSource::Files { cert: cert.clone(), key }).unwrap_err();
    assert!(
        err.to_string().contains("do not belong together") && err.to_string().contains("mismatch-cert.pem"),
        "{err}"
    );

    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2001, 1, 1);
    params.not_after = rcgen::date_time_ymd(2002, 1, 1);
    let key_pair = rcgen::KeyPair::generate().unwrap();
    let expired = params.self_signed(&key_pair).unwrap();
    let (cert, key) = write_pem(dir.path(), "expired", &expired.pem(), &key_pair.serialize_pem());
    let err = ferroftp_server::tls::Identity::load(&CertificateSource::Files { cert, key }).unwrap_err();
    assert!(err.to_string().contains("expired") && err.to_string().contains("expired-cert.pem"), "{err}");

    let missing = CertificateSource::Files { cert: dir.path().join("none.pem"), key: dir.path().join("none.key") };
    let err = ferroftp_server::tls::Identity::load(&missing).unwrap_err();
    assert!(err.to_string().contains("none.pem"), "{err}");

    let (garbage, key) = write_pem(dir.path(), "garbage", "not a certificate", &key_a);
    let err = ferroftp_server::tls::Identity::load(&CertificateSource::Files { cert: garbage, key }).unwrap_err();
    assert!(err.to_string().contains("garbage-cert.pem"), "{err}");
}

#[test]
fn certificate_reload_keeps_sessions_and_serves_the_new_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a) = test_certificate();
    let (cert, key) = write_pem(dir.path(), "live", &cert_a, &key_a);
    let mut settings = TlsSettings::new(CertificateSource::Files { cert: cert.clone(), key: key.clone() });
    settings.require_session_reuse = true;
    let srv = TestServer::start_with(AnonymousAccess::Read, move |c| c.tls = Some(settings));
    let tls_a = tls_client(&cert_a);
    let mut old = srv.raw();
    old.protect(&tls_a);
    old.login(USER, PASS);

    let (cert_b, key_b) = test_certificate();
    write_pem(dir.path(), "live", &cert_b, &key_b);
    let fingerprint = srv.handle().reload_tls().unwrap().unwrap();
    assert!(!fingerprint.is_empty());
    // The running session goes on, with data connections, on its old certificate.
    old.expect("NOOP", 200);
    srv.write("f.txt", b"after reload");
    let d = epsv_tls(&mut old, &tls_a);
    old.expect("RETR f.txt", 150);
    assert_eq!(read_all(d), b"after reload");
    assert_eq!(old.reply().code, 226);
    // New sessions get the new certificate.
    let mut new = srv.raw();
    new.protect(&tls_client(&cert_b));
    new.login(USER, PASS);
    // A broken file is refused and the current certificate stays.
    std::fs::write(&key, "broken").unwrap();
    assert!(srv.handle().reload_tls().is_err());
    let mut again = srv.raw();
    again.protect(&tls_client(&cert_b));
    again.expect("NOOP", 200);
}

/// suppaftp (an independent client) over rustls: every transfer command in one
/// mode. Its data connections reuse the client configuration, so rustls resumes
/// the control session and the default (reuse required) policy holds.
fn suppaftp_round(ftp: &mut suppaftp::RustlsFtpStream, srv: &TestServer, tag: &str) {
    use std::io::Cursor;
    let data = content(2 * 1024 * 1024 + 3, 9);
    let name = format!("{tag}.bin");
    ftp.put_file(&name, &mut Cursor::new(&data)).unwrap_or_else(|e| panic!("{tag} STOR: {e}"));
    assert_eq!(sha256(&srv.read(&name)), sha256(&data), "{tag}");
    assert_eq!(sha256(&ftp.retr_as_buffer(&name).unwrap().into_inner()), sha256(&data), "{tag}");
    ftp.append_file(&name, &mut Cursor::new(b"+")).unwrap();
    assert_eq!(srv.read(&name).len(), data.len() + 1);
    assert!(ftp.list(None).unwrap().iter().any(|l| l.ends_with(&format!(" {name}"))), "{tag} LIST");
    assert!(ftp.nlst(None).unwrap().contains(&name), "{tag} NLST");
    assert!(ftp.mlsd(None).unwrap().iter().any(|l| l.ends_with(&format!("; {name}"))), "{tag} MLSD");
}

#[test]
fn suppaftp_explicit_and_implicit_passive_and_active() {
    use suppaftp::{Mode, RustlsConnector, RustlsFtpStream};
    let (srv, tls) = tls_server(|t| t.implicit_listen = vec!["127.0.0.1:0".parse().unwrap()]);
    let mut ftp = RustlsFtpStream::connect(srv.v4)
        .unwrap()
        .into_secure(RustlsConnector::from(Arc::clone(&tls)), "localhost")
        .unwrap();
    ftp.login(USER, PASS).unwrap();
    ftp.transfer_type(suppaftp::types::FileType::Binary).unwrap();
    for (mode, tag) in [(Mode::ExtendedPassive, "epsv"), (Mode::Passive, "pasv"), (Mode::Active, "active")] {
        ftp.set_mode(mode);
        suppaftp_round(&mut ftp, &srv, &format!("explicit-{tag}"));
    }
    // suppaftp has no PROT C mode (it wraps every data connection in TLS once
    // secured); `prot_c_data_in_clear_when_allowed` covers PROT C with raw sockets.
    ftp.quit().unwrap();

    #[allow(deprecated)]
    let mut implicit = RustlsFtpStream::connect_secure_implicit(
        srv.implicit.unwrap(),
        RustlsConnector::from(Arc::clone(&tls)),
        "localhost",
    )
    .unwrap();
    implicit.login(USER, PASS).unwrap();
    implicit.transfer_type(suppaftp::types::FileType::Binary).unwrap();
    for (mode, tag) in [(Mode::ExtendedPassive, "epsv"), (Mode::Active, "active")] {
        implicit.set_mode(mode);
        suppaftp_round(&mut implicit, &srv, &format!("implicit-{tag}"));
    }
}

#[test]
fn users_bound_to_a_client_certificate_need_it() {
    let (client_cert, client_key) = test_certificate();
    let (other_cert, other_key) = test_certificate();
    let bound = {
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::CertificateDer::from_pem_slice(client_cert.as_bytes()).unwrap();
        // Any spelling of the fingerprint: lower case, no separators.
        ferroftp_server::tls::fingerprint(&der).replace(':', "").to_lowercase()
    };
    let (mut settings, server_cert) = tls_settings();
    settings.client_certificates = true;
    settings.implicit_listen = vec!["127.0.0.1:0".parse().unwrap()];
    let srv = TestServer::start_with_auth(
        AnonymousAccess::Read,
        move |c| c.tls = Some(settings),
        move |a| a.bind_certificate(USER, bound),
    );
    let with_cert = tls_client_presenting(&server_cert, Some((&client_cert, &client_key)));
    let wrong_cert = tls_client_presenting(&server_cert, Some((&other_cert, &other_key)));
    let no_cert = tls_client(&server_cert);

    let mut c = srv.raw();
    c.auth_tls(&with_cert);
    c.login(USER, PASS);
    // Data connections work as usual with the certificate-bearing session.
    srv.write("f.txt", b"cert");
    c.expect("PBSZ 0", 200);
    c.expect("PROT P", 200);
    let d = epsv_tls(&mut c, &with_cert);
    c.expect("RETR f.txt", 150);
    assert_eq!(read_all(d), b"cert");
    assert_eq!(c.reply().code, 226);

    for (config, what) in [(&wrong_cert, "another certificate"), (&no_cert, "no certificate")] {
        let mut c = srv.raw();
        c.auth_tls(config);
        c.expect("USER alice", 331);
        let r = c.expect("PASS secret", 530);
        assert_eq!(r.text(), "Login incorrect.", "{what}");
    }
    // The password is still needed with the right certificate.
    let mut c = srv.raw();
    c.auth_tls(&with_cert);
    c.expect("USER alice", 331);
    c.expect("PASS wrong", 530);
    // Without TLS there is no certificate at all.
    let mut c = srv.raw();
    c.expect("USER alice", 331);
    c.expect("PASS secret", 530);
    // Other users are unaffected; implicit TLS carries the certificate too.
    let mut anon = srv.raw();
    anon.auth_tls(&no_cert);
    anon.login("anonymous", "guest@");
    let mut implicit = Raw::connect_implicit(srv.implicit.unwrap(), &with_cert);
    implicit.login(USER, PASS);
}

/// Protected downloads (records encrypted from reused buffers) of an odd size
/// from odd `REST` offsets are exact, and `ABOR` in the middle of a large one
/// stops it (426, then 226) with the session still in step.
#[test]
fn protected_downloads_resume_exactly_and_abort_midway() {
    let (srv, tls) = tls_server(|_| {});
    let n = 2 * 1024 * 1024 + 4_097;
    let data = content(n, 41);
    srv.write("r.bin", &data);
    srv.write("big.bin", &content(100 * 1024 * 1024, 42));
    let mut c = srv.raw();
    c.protect(&tls);
    c.login(USER, PASS);
    c.expect("TYPE I", 200);
    for offset in [0, 1, 16_383, 262_145, n - 1, n] {
        let d = epsv_tls(&mut c, &tls);
        c.expect(&format!("REST {offset}"), 350);
        c.expect("RETR r.bin", 150);
        let got = read_all(d);
        assert_eq!(c.reply().code, 226, "from {offset}");
        assert_eq!(got.len(), n - offset, "from {offset}");
        assert_eq!(sha256(&got), sha256(&data[offset..]), "from {offset}");
    }
    let mut d = epsv_tls(&mut c, &tls);
    c.expect("RETR big.bin", 150);
    assert!(c.abort_after_first_mib(&mut d) < 99 * 1024 * 1024, "the transfer was not stopped");
    // The session goes on: the next download is whole.
    let d = epsv_tls(&mut c, &tls);
    c.expect("RETR r.bin", 150);
    assert_eq!(sha256(&read_all(d)), sha256(&data));
    assert_eq!(c.reply().code, 226);
}
