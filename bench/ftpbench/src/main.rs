//! A minimal, fast FTP/FTPS client for benchmarks: blocking sockets, 1 MiB
//! buffers, rustls with session resumption on data connections.
//!
//!   ftpbench ADDR USER PASS plain|tls retr PATH
//!   ftpbench ADDR USER PASS plain|tls stor PATH BYTES
//!
//! Prints `bytes seconds MB/s`. Over plain FTP, for the small-operation
//! workloads (see `load`):
//!
//!   ftpbench ADDR USER PASS plain files N PREFIX
//!   ftpbench ADDR USER PASS plain logins N
//!   ftpbench ADDR USER PASS plain sessions N FILE SERVER_PID
//!   ftpbench ADDR USER PASS plain transfers N FILE
//!   ftpbench - - - plain pss SERVER_PID     (its memory now, KiB)
//!
//! and the machine's limit, a raw TCP transfer of BYTES over loopback
//! (sendfile from FILE, or to FILE):
//!
//!   ftpbench - - - plain raw-send FILE
//!   ftpbench - - - plain raw-receive FILE BYTES

mod load;
mod raw;

use ferroftp_proto::hostport::parse_epsv_reply;
use ferroftp_proto::reply::ReplyParser;
use rustls::client::UnbufferedClientConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::unbuffered::{AppDataRecord, ConnectionState, UnbufferedStatus};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

/// Benchmarks run against a throw-away self-signed certificate on loopback.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

trait Wire: Read + Write {}
impl<T: Read + Write> Wire for T {}

struct Control {
    io: BufReader<Box<dyn Wire>>,
}

impl Control {
    fn reply(&mut self) -> (u16, String) {
        let mut parser = ReplyParser::new();
        loop {
            let mut line = String::new();
            if self.io.read_line(&mut line).expect("read reply") == 0 {
                panic!("connection closed");
            }
            if let Some(r) = parser.feed(line.trim_end_matches(['\r', '\n'])).expect("reply") {
                return (r.code.0, r.text());
            }
        }
    }
    /// A transfer command: 150, or 125 when the data connection is already
    /// open (pyftpdlib says so after EPSV).
    fn open_data(&mut self, line: &str) {
        let w = self.io.get_mut();
        w.write_all(format!("{line}\r\n").as_bytes()).expect("send");
        w.flush().expect("flush");
        let (code, text) = self.reply();
        assert!(code == 150 || code == 125, "{line} -> {code} {text}");
    }
    fn cmd(&mut self, line: &str, want: u16) -> String {
        let w = self.io.get_mut();
        w.write_all(format!("{line}\r\n").as_bytes()).expect("send");
        w.flush().expect("flush");
        let (code, text) = self.reply();
        assert_eq!(code, want, "{line} -> {code} {text}");
        text
    }
}

/// Receives a protected download with rustls's unbuffered API: one read per
/// MiB, records decrypted in place, no copy after the socket's. Returns the
/// plaintext byte count.
fn download_tls(mut conn: UnbufferedClientConnection, mut tcp: TcpStream, incoming: &mut [u8]) -> u64 {
    let mut outgoing = vec![0u8; 64 * 1024];
    // Unprocessed bytes are incoming[start..used].
    let (mut start, mut used, mut total) = (0usize, 0usize, 0u64);
    loop {
        let UnbufferedStatus { mut discard, state } = conn.process_tls_records(&mut incoming[start..used]);
        let mut need_input = false;
        match state.expect("TLS") {
            ConnectionState::ReadTraffic(mut traffic) => {
                while let Some(record) = traffic.next_record() {
                    let AppDataRecord { discard: d, payload } = record.expect("TLS record");
                    discard += d;
                    total += payload.len() as u64;
                }
            }
            ConnectionState::EncodeTlsData(mut encode) => {
                let n = encode.encode(&mut outgoing).expect("encode");
                tcp.write_all(&outgoing[..n]).expect("send handshake");
            }
            ConnectionState::TransmitTlsData(transmit) => transmit.done(),
            ConnectionState::BlockedHandshake | ConnectionState::WriteTraffic(_) => need_input = true,
            ConnectionState::PeerClosed | ConnectionState::Closed => return total,
            _ => panic!("unexpected TLS state"),
        }
        start += discard;
        if need_input {
            // Only a partial record is left: move it to the front and read on.
            incoming.copy_within(start..used, 0);
            used -= start;
            start = 0;
            let n = tcp.read(&mut incoming[used..]).expect("read data");
            if n == 0 {
                return total;
            }
            used += n;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 7 {
        eprintln!("usage: ftpbench ADDR USER PASS plain|tls retr PATH | stor PATH BYTES");
        std::process::exit(2);
    }
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    let number = |i: usize| arg(i).parse::<usize>().expect("a number");
    match arg(5) {
        "files" => return load::files(arg(1).parse().expect("ADDR"), arg(2), arg(3), number(6), arg(7)),
        "puts" => return load::puts(arg(1).parse().expect("ADDR"), arg(2), arg(3), number(6), arg(7)),
        "logins" => return load::logins(arg(1).parse().expect("ADDR"), arg(2), arg(3), number(6)),
        "sessions" => {
            let pid = arg(8).parse().expect("SERVER_PID");
            return load::sessions(arg(1).parse().expect("ADDR"), arg(2), arg(3), number(6), arg(7), pid);
        }
        "transfers" => return load::transfers(arg(1).parse().expect("ADDR"), arg(2), arg(3), number(6), arg(7)),
        "pss" => return println!("{}", load::pss_kib(arg(6).parse().expect("PID"))),
        "raw-send" => return raw::send(arg(6)),
        "raw-receive" => return raw::receive(arg(6), number(7) as u64),
        _ => {}
    }
    let addr: SocketAddr = args[1].parse().expect("ADDR");
    let tls = args[4] == "tls";
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = Arc::new(
        ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth(),
    );
    let name = ServerName::try_from("localhost").expect("name");
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_nodelay(true).ok();
    let mut c = Control { io: BufReader::new(Box::new(tcp.try_clone().expect("clone"))) };
    assert_eq!(c.reply().0, 220);
    if tls {
        c.cmd("AUTH TLS", 234);
        let conn = ClientConnection::new(Arc::clone(&config), name.clone()).expect("tls");
        c = Control { io: BufReader::new(Box::new(StreamOwned::new(conn, tcp))) };
        c.cmd("PBSZ 0", 200);
        c.cmd("PROT P", 200);
    }
    // vsftpd lets anonymous users in on USER alone (230).
    let w = c.io.get_mut();
    w.write_all(format!("USER {}\r\n", args[2]).as_bytes()).expect("send");
    w.flush().expect("flush");
    match c.reply() {
        (331, _) => drop(c.cmd(&format!("PASS {}", args[3]), 230)),
        (230, _) => {}
        (code, text) => panic!("USER -> {code} {text}"),
    }
    c.cmd("TYPE I", 200);
    let port = parse_epsv_reply(&c.cmd("EPSV", 229)).expect("EPSV reply");
    let data_tcp = TcpStream::connect(SocketAddr::new(addr.ip(), port)).expect("data connect");
    let mut buf = vec![0u8; 1 << 20];
    let start = Instant::now();
    let mut total = 0u64;
    match args[5].as_str() {
        "retr" => {
            c.open_data(&format!("RETR {}", args[6]));
            total = if tls {
                let conn = UnbufferedClientConnection::new(Arc::clone(&config), name).expect("tls");
                download_tls(conn, data_tcp, &mut buf)
            } else {
                let mut data = data_tcp;
                let mut total = 0u64;
                loop {
                    let n = data.read(&mut buf).expect("read data");
                    if n == 0 {
                        break total;
                    }
                    total += n as u64;
                }
            };
        }
        "stor" => {
            let size: u64 = args.get(7).and_then(|s| s.parse().ok()).expect("BYTES");
            c.open_data(&format!("STOR {}", args[6]));
            let fill = |b: &mut [u8]| b.iter_mut().enumerate().for_each(|(i, x)| *x = (i * 31 % 251) as u8);
            fill(&mut buf);
            if tls {
                let conn = ClientConnection::new(Arc::clone(&config), name).expect("tls");
                let mut s = StreamOwned::new(conn, data_tcp);
                while total < size {
                    let n = buf.len().min((size - total) as usize);
                    s.write_all(&buf[..n]).expect("write data");
                    total += n as u64;
                }
                s.conn.send_close_notify();
                s.flush().expect("flush");
                let _ = s.read(&mut buf);
            } else {
                let mut s = data_tcp;
                while total < size {
                    let n = buf.len().min((size - total) as usize);
                    s.write_all(&buf[..n]).expect("write data");
                    total += n as u64;
                }
            }
        }
        other => panic!("unknown operation {other}"),
    }
    let (code, text) = c.reply();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(code, 226, "{text}");
    println!("{total} {secs:.3} {:.0}", total as f64 / secs / 1e6);
}
