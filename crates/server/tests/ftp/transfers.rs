//! Transfers: sizes, modes, address families, resume, abort, TYPE A, non-ASCII names.

use crate::common::*;
use std::io::{Cursor, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use suppaftp::types::{FileType, FormatControl};
use suppaftp::{FtpStream, Mode};

const SIZES: [usize; 5] = [0, 1, 4095, 4096, 1024 * 1024 + 7];

/// Uploads and downloads each size, checking SHA-256 on the wire and on disk.
fn round_trip(srv: &TestServer, ftp: &mut FtpStream, sizes: &[usize], tag: &str) {
    for (i, &n) in sizes.iter().enumerate() {
        let data = content(n, i as u64 + 1);
        let name = format!("{tag}-{n}.bin");
        let sent = ftp.put_file(&name, &mut Cursor::new(&data)).unwrap_or_else(|e| panic!("{tag} STOR {n}: {e}"));
        assert_eq!(sent, n as u64);
        assert_eq!(sha256(&srv.read(&name)), sha256(&data), "{tag}: stored {n} bytes differ");
        let back = ftp.retr_as_buffer(&name).unwrap_or_else(|e| panic!("{tag} RETR {n}: {e}")).into_inner();
        assert_eq!(back.len(), n);
        assert_eq!(sha256(&back), sha256(&data), "{tag}: retrieved {n} bytes differ");
        assert_eq!(ftp.size(&name).unwrap(), n);
    }
}

#[test]
fn sizes_over_extended_passive_ipv4() {
    let srv = TestServer::start();
    let mut ftp = srv.ftp();
    ftp.set_mode(Mode::ExtendedPassive);
    round_trip(&srv, &mut ftp, &SIZES, "epsv4");
}

#[test]
fn sizes_over_passive_ipv4() {
    let srv = TestServer::start();
    let mut ftp = srv.ftp();
    ftp.set_mode(Mode::Passive);
    round_trip(&srv, &mut ftp, &SIZES, "pasv4");
}

#[test]
fn sizes_over_active_ipv4() {
    let srv = TestServer::start();
    let mut ftp = srv.ftp();
    ftp.set_mode(Mode::Active);
    round_trip(&srv, &mut ftp, &SIZES, "port4");
}

#[test]
fn passive_and_active_over_ipv6() {
    let srv = TestServer::start();
    let Some(v6) = srv.v6 else {
        eprintln!("this machine has no IPv6 loopback; IPv6 transfers not tested here");
        return;
    };
    let mut ftp = ftp_login(v6, USER, PASS);
    ftp.set_mode(Mode::ExtendedPassive);
    round_trip(&srv, &mut ftp, &SIZES, "epsv6");
    ftp.set_mode(Mode::Active);
    round_trip(&srv, &mut ftp, &SIZES[..4], "eprt6");
    // PASV has no IPv6 form (RFC 2428); the reply says to use EPSV.
    let mut raw = Raw::connect(v6);
    raw.login(USER, PASS);
    assert!(raw.expect("PASV", 425).text().contains("EPSV"));
    raw.expect("PORT 127,0,0,1,200,1", 501);
    raw.expect("EPSV 1", 522);
    raw.expect("EPRT |1|127.0.0.1|51000|", 522);
}

#[test]
fn hundred_mib_up_and_down() {
    let srv = TestServer::start();
    let data = content(100 * 1024 * 1024, 42);
    let mut ftp = srv.ftp();
    ftp.set_mode(Mode::ExtendedPassive);
    assert_eq!(ftp.put_file("big.bin", &mut Cursor::new(&data)).unwrap(), data.len() as u64);
    assert_eq!(sha256(&srv.read("big.bin")), sha256(&data));
    let back = ftp.retr_as_buffer("big.bin").unwrap().into_inner();
    assert_eq!(sha256(&back), sha256(&data));
}

#[test]
fn resume_download_and_upload() {
    let srv = TestServer::start();
    let data = content(300_001, 7);
    srv.write("r.bin", &data);
    let mut ftp = srv.ftp();
    ftp.set_mode(Mode::ExtendedPassive);
    ftp.resume_transfer(100_000).unwrap();
    let tail = ftp.retr_as_buffer("r.bin").unwrap().into_inner();
    assert_eq!(tail, &data[100_000..]);
    // Upload: half is there, REST + STOR sends the rest.
    srv.write("u.bin", &data[..150_000]);
    ftp.resume_transfer(150_000).unwrap();
    ftp.put_file("u.bin", &mut Cursor::new(&data[150_000..])).unwrap();
    assert_eq!(sha256(&srv.read("u.bin")), sha256(&data));
    // REST then STOR on a longer file cuts off what follows the new data.
    srv.write("v.bin", &data);
    ftp.resume_transfer(10).unwrap();
    ftp.put_file("v.bin", &mut Cursor::new(b"XYZ")).unwrap();
    assert_eq!(srv.read("v.bin"), [&data[..10], b"XYZ"].concat());
    // REST + APPE writes from the offset, like REST + STOR.
    srv.write("x.bin", b"0123456789");
    let mut raw = srv.raw_alice();
    raw.expect("TYPE I", 200);
    let mut d = raw.epsv();
    raw.expect("REST 4", 350);
    raw.expect("APPE x.bin", 150);
    d.write_all(b"ab").unwrap();
    drop(d);
    assert_eq!(raw.reply().code, 226);
    assert_eq!(srv.read("x.bin"), b"0123ab");
    // APPE-based resume (curl -C -, lftp).
    srv.write("w.bin", &data[..5]);
    ftp.append_file("w.bin", &mut Cursor::new(&data[5..])).unwrap();
    assert_eq!(sha256(&srv.read("w.bin")), sha256(&data));
}

#[test]
fn restart_beyond_end_is_554() {
    let srv = TestServer::start();
    srv.write("s.bin", b"short");
    let mut c = srv.raw_alice();
    let _data = c.epsv();
    c.expect("REST 6", 350);
    c.expect("RETR s.bin", 554);
    c.expect("REST 6", 350);
    c.expect("STOR s.bin", 554);
    c.expect("REST 6", 350);
    c.expect("APPE s.bin", 554);
    assert_eq!(srv.read("s.bin"), b"short");
    // A transfer uses the offset, whether it succeeded or not: the next one starts at 0.
    let (_, bytes, done) = c.data_cmd("RETR s.bin");
    assert_eq!((bytes.as_slice(), done.code), (&b"short"[..], 226));
    // The offset stays across other commands until a transfer uses it.
    c.expect("REST 3", 350);
    c.expect("NOOP", 200);
    let (_, bytes, done) = c.data_cmd("RETR s.bin");
    assert_eq!((bytes.as_slice(), done.code), (&b"rt"[..], 226));
    // A malformed REST cancels the offset before it.
    c.expect("REST 3", 350);
    c.expect("REST x", 501);
    let (_, bytes, _) = c.data_cmd("RETR s.bin");
    assert_eq!(bytes, b"short");
}

/// Sends the commands of `order` ("REST" with `offset`, a data-connection
/// setup, TYPE I) and then `command`; expects 150 and returns the open data
/// connection.
fn transfer_after(c: &mut Raw, order: &[&str], offset: usize, command: &str) -> TcpStream {
    let mut passive = None;
    let mut active = None;
    for step in order {
        match *step {
            "REST" => {
                c.expect(&format!("REST {offset}"), 350);
            }
            "EPSV" => passive = Some(c.epsv()),
            "PASV" => {
                let r = c.expect("PASV", 227);
                let addr = ferroftp_proto::hostport::parse_pasv_reply(&r.text()).unwrap();
                passive = Some(TcpStream::connect(addr).unwrap());
            }
            "PORT" | "EPRT" => {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let port = l.local_addr().unwrap().port();
                if *step == "PORT" {
                    c.expect(&format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff), 200);
                } else {
                    c.expect(&format!("EPRT |1|127.0.0.1|{port}|"), 200);
                }
                active = Some(l);
            }
            other => {
                c.expect(other, 200);
            }
        }
    }
    c.expect(command, 150);
    match (passive, active) {
        (Some(d), _) => d,
        (None, Some(l)) => l.accept().unwrap().0,
        (None, None) => panic!("no data connection in {order:?}"),
    }
}

/// REST before or after the data-connection setup and TYPE, in every order
/// clients use (lftp: REST after PASV; curl: TYPE, EPSV, REST; FileZilla:
/// TYPE, PASV, REST; some: REST first): the transfer starts at the offset,
/// downloads and uploads alike.
#[test]
fn rest_survives_the_commands_between_it_and_the_transfer() {
    let srv = TestServer::start();
    let data = content(10_000, 12);
    let orders: [&[&str]; 6] = [
        &["REST", "EPSV"],
        &["EPSV", "REST"],
        &["REST", "PASV", "TYPE I"],
        &["TYPE I", "REST", "EPSV"],
        &["REST", "TYPE I", "PORT"],
        &["REST", "EPRT", "TYPE I"],
    ];
    for (i, order) in orders.iter().enumerate() {
        let offset = 4096 + i;
        srv.write("r.bin", &data);
        let mut c = srv.raw_alice();
        // Binary whatever the order (a TYPE I in it comes again).
        c.expect("TYPE I", 200);
        let mut d = transfer_after(&mut c, order, offset, "RETR r.bin");
        let mut got = Vec::new();
        d.read_to_end(&mut got).unwrap();
        c.expect_final(226);
        assert!(got == data[offset..], "download with {order:?}: {} bytes", got.len());

        // The same orders for an upload: REST n + STOR writes from n on.
        let tail = content(3000, 100 + i as u64);
        let mut d = transfer_after(&mut c, order, offset, "STOR r.bin");
        d.write_all(&tail).unwrap();
        drop(d);
        c.expect_final(226);
        let mut expected = data[..offset].to_vec();
        expected.extend_from_slice(&tail);
        assert_eq!(sha256(&srv.read("r.bin")), sha256(&expected), "upload with {order:?}");
    }
}

/// Files are opened on the runtime thread, so a FIFO in the tree must not
/// block that open (waiting for a writer that never comes): RETR and SIZE
/// refuse it at once with 550, and the session and server go on.
#[test]
fn a_fifo_is_refused_at_once() {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    let srv = TestServer::start();
    srv.write("file.txt", b"plain");
    mknodat(CWD, srv.path("pipe"), FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
    let mut c = srv.raw_alice();
    let _data = c.epsv();
    let r = c.expect("RETR pipe", 550);
    assert!(r.text().contains("Not a plain file"), "{}", r.text());
    c.expect("SIZE pipe", 550);
    c.expect("MDTM pipe", 550);
    let (_, bytes, done) = c.data_cmd("RETR file.txt");
    assert_eq!((bytes.as_slice(), done.code), (&b"plain"[..], 226));
    // Another session is served too.
    let mut other = srv.raw_alice();
    other.expect("SIZE file.txt", 213);
}

/// Binary downloads of local files over plain TCP go out with sendfile: every
/// REST offset (odd ones, the last byte, the very end) sends exactly the rest,
/// and a client reading in small pieces, so that the socket fills and the
/// transfer waits for readiness again and again, gets every byte.
#[test]
fn zero_copy_downloads_from_any_offset_and_to_a_slow_reader() {
    let srv = TestServer::start();
    let n = 3 * 1024 * 1024 + 12_345;
    let data = content(n, 77);
    srv.write("z.bin", &data);
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    for offset in [0, 1, 4095, 65_537, n - 1, n] {
        let mut d = c.epsv();
        c.expect(&format!("REST {offset}"), 350);
        c.expect("RETR z.bin", 150);
        let mut bytes = Vec::new();
        d.read_to_end(&mut bytes).unwrap();
        assert_eq!(c.reply().code, 226, "from {offset}");
        assert_eq!(bytes.len(), n - offset, "from {offset}");
        assert_eq!(sha256(&bytes), sha256(&data[offset..]), "from {offset}");
    }
    let mut d = c.epsv();
    c.expect("RETR z.bin", 150);
    let (mut got, mut piece) = (Vec::with_capacity(n), [0u8; 1000]);
    loop {
        let k = d.read(&mut piece).unwrap();
        if k == 0 {
            break;
        }
        got.extend_from_slice(&piece[..k]);
    }
    assert_eq!(c.reply().code, 226);
    assert_eq!(sha256(&got), sha256(&data));
}

/// A small binary download is sent by the session itself when the client
/// has connected before `RETR` and the file fits in the socket buffer; when
/// it does not fit (a client with a tiny receive buffer), or the client
/// connects only after `RETR`, the transfer task sends it. Every way, from any
/// offset, the bytes and the count in the 226 reply are exact.
#[test]
fn small_downloads_are_exact_whichever_path_sends_them() {
    let srv = TestServer::start();
    let n = 200 * 1024 + 3;
    let data = content(n, 21);
    srv.write("s.bin", &data);
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    let check = |c: &mut Raw, mut d: TcpStream, offset: usize, how: &str| {
        let mut bytes = Vec::new();
        d.read_to_end(&mut bytes).unwrap();
        let done = c.expect_final(226);
        assert_eq!(bytes.len(), n - offset, "{how} from {offset}");
        assert_eq!(sha256(&bytes), sha256(&data[offset..]), "{how} from {offset}");
        assert!(done.text().contains(&format!("({} bytes sent)", n - offset)), "{how} from {offset}: {done:?}");
    };
    for offset in [0, 1, 4096, n - 1, n] {
        // Connected first, a roomy buffer: the session sends it all at once.
        let d = c.epsv();
        c.expect(&format!("REST {offset}"), 350);
        c.expect("RETR s.bin", 150);
        check(&mut c, d, offset, "at once");

        // A receive buffer of a few KiB: the session sends what fits, the task the rest.
        let r = c.expect("EPSV", 229);
        let port = ferroftp_proto::hostport::parse_epsv_reply(&r.text()).unwrap();
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(&SocketAddr::new(c.peer().ip(), port).into()).unwrap();
        let d: TcpStream = socket.into();
        d.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        c.expect(&format!("REST {offset}"), 350);
        c.expect("RETR s.bin", 150);
        check(&mut c, d, offset, "handed on");

        // RETR before the connection: the task accepts and sends.
        let r = c.expect("EPSV", 229);
        let port = ferroftp_proto::hostport::parse_epsv_reply(&r.text()).unwrap();
        c.expect(&format!("REST {offset}"), 350);
        c.send("RETR s.bin");
        let d = TcpStream::connect(SocketAddr::new(c.peer().ip(), port)).unwrap();
        c.expect_final(150);
        check(&mut c, d, offset, "connected late");
    }
}

/// Starts a RETR of a file too big to fit in socket buffers and reads only its
/// beginning, so the transfer is certainly still running.
fn start_big_retr(srv: &TestServer) -> (Raw, std::net::TcpStream) {
    srv.write("big.bin", &content(100 * 1024 * 1024, 3));
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    let mut data = c.epsv();
    c.expect("RETR big.bin", 150);
    let mut first = vec![0u8; 1 << 20];
    data.read_exact(&mut first).unwrap();
    (c, data)
}

#[test]
fn abor_during_transfer_with_telnet_sync() {
    let srv = TestServer::start();
    let (mut c, mut data) = start_big_retr(&srv);
    // RFC 959 §4.1.3: IAC IP, IAC DM (Synch), then ABOR.
    c.send_bytes(b"\xff\xf4\xff\xf2ABOR\r\n");
    let aborted = c.reply();
    assert_eq!(aborted.code, 426, "{aborted:?}");
    let ok = c.reply();
    assert_eq!(ok.code, 226, "{ok:?}");
    // The data connection ends well short of 100 MiB.
    let mut rest = Vec::new();
    let _ = data.read_to_end(&mut rest);
    assert!(rest.len() < 99 * 1024 * 1024);
    c.expect("NOOP", 200);
    assert_eq!(c.expect("SIZE big.bin", 213).text(), (100 * 1024 * 1024).to_string());
}

#[test]
fn abor_through_suppaftp() {
    let srv = TestServer::start();
    srv.write("big.bin", &content(64 * 1024 * 1024, 9));
    let mut ftp = srv.ftp();
    ftp.set_mode(Mode::ExtendedPassive);
    let mut stream = ftp.retr_as_stream("big.bin").unwrap();
    let mut buf = vec![0u8; 65536];
    stream.read_exact(&mut buf).unwrap();
    ftp.abort(stream).unwrap();
    ftp.noop().unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/");
}

#[test]
fn stat_and_noop_answered_during_transfer_and_quit_waits() {
    let srv = TestServer::start();
    let (mut c, mut data) = start_big_retr(&srv);
    let stat = c.expect("STAT", 211);
    assert!(stat.text().contains("Transferring: RETR /big.bin"), "{stat:?}");
    c.expect("NOOP", 200);
    // QUIT during a transfer: the transfer's reply first, then 221 (RFC 959 §4.1.1).
    c.send("QUIT");
    let mut rest = Vec::new();
    data.read_to_end(&mut rest).unwrap();
    assert_eq!(rest.len() + (1 << 20), 100 * 1024 * 1024);
    assert_eq!(c.reply().code, 226);
    assert_eq!(c.reply().code, 221);
    assert!(c.try_reply().is_none());
}

/// Uploads are written a chunk at a time (1 MiB), each while the next
/// arrives: resumed, appended and TYPE A uploads of several chunks and odd
/// sizes land whole and in order.
#[test]
fn uploads_of_several_chunks_resume_append_and_convert() {
    let srv = TestServer::start();
    let data = content(3 * 1024 * 1024 + 13, 11);
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    // REST + STOR from an odd offset, the file longer than the offset.
    srv.write("r.bin", &[&data[..1_000_003], b"stale tail"].concat());
    let mut d = c.epsv();
    c.expect("REST 1000003", 350);
    c.expect("STOR r.bin", 150);
    d.write_all(&data[1_000_003..]).unwrap();
    drop(d);
    assert_eq!(c.reply().code, 226);
    assert_eq!(sha256(&srv.read("r.bin")), sha256(&data));
    // APPE after a few bytes.
    srv.write("a.bin", &data[..7]);
    let (_, done) = c.upload("APPE a.bin", &data[7..]);
    assert_eq!(done.code, 226);
    assert_eq!(sha256(&srv.read("a.bin")), sha256(&data));
    // A new file, then downloaded back from an odd offset.
    let (_, done) = c.upload("STOR n.bin", &data);
    assert_eq!(done.code, 226);
    assert_eq!(sha256(&srv.read("n.bin")), sha256(&data));
    let mut d = c.epsv();
    c.expect("REST 2097153", 350);
    c.expect("RETR n.bin", 150);
    let mut bytes = Vec::new();
    d.read_to_end(&mut bytes).unwrap();
    assert_eq!((sha256(&bytes), c.reply().code), (sha256(&data[2_097_153..]), 226));
    // TYPE A: CRLF becomes LF, also where a CR ends one chunk and its LF
    // starts the next.
    // The first line ends with its CR as the last byte of the first chunk.
    let mut text = vec![b'x'; 1024 * 1024 - 1];
    let mut expected = text.clone();
    text.extend_from_slice(b"\r\n");
    expected.push(b'\n');
    for i in 0..300_000u32 {
        let line = format!("line {i}");
        text.extend_from_slice(line.as_bytes());
        text.extend_from_slice(b"\r\n");
        expected.extend_from_slice(line.as_bytes());
        expected.push(b'\n');
    }
    assert_eq!(text.iter().position(|&b| b == b'\r'), Some(1024 * 1024 - 1));
    assert!(text.len() > 3 * 1024 * 1024);
    c.expect("TYPE A", 200);
    let (_, done) = c.upload("STOR t.txt", &text);
    assert_eq!(done.code, 226);
    assert_eq!(sha256(&srv.read("t.txt")), sha256(&expected));
}

/// An aborted upload never appears under its name; what arrived stays
/// staged, hidden from every listing, and the uploader continues it from the
/// size `SIZE` reports. With `keep_partial_uploads = 0` nothing is left.
#[test]
fn aborted_upload_never_appears_under_its_name_and_can_be_resumed() {
    let srv = TestServer::start();
    let data = content(1 << 20, 5);
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    let mut conn = c.epsv();
    c.expect("STOR partial.bin", 150);
    conn.write_all(&data[..600_000]).unwrap();
    wait_staged_bytes(&srv.path(""), 1);
    c.send("ABOR");
    assert_eq!(c.reply().code, 426);
    assert_eq!(c.reply().code, 226);
    drop(conn);
    assert!(!srv.path("partial.bin").exists());
    assert_eq!(srv.disk_names(""), [".ferroftp-staging"], "only the staging folder");
    assert!(c.listing("NLST -a").is_empty());
    let r = c.expect("SIZE partial.bin", 213);
    let kept: usize = r.text().parse().unwrap();
    assert!(kept <= 600_000, "{kept}");
    // Another user (anonymous) sees nothing of it.
    let mut anon = srv.raw();
    anon.login("anonymous", "a@b");
    anon.expect("TYPE I", 200);
    anon.expect("SIZE partial.bin", 550);
    // The uploader continues where it stopped.
    c.expect(&format!("REST {kept}"), 350);
    let (_, done) = c.upload("STOR partial.bin", &data[kept..]);
    assert_eq!(done.code, 226, "{done:?}");
    assert_eq!(sha256(&srv.read("partial.bin")), sha256(&data));
    assert_eq!(srv.visible_names(""), ["partial.bin"]);
    assert!(srv.staged("").is_empty(), "left staged: {:?}", srv.staged(""));

    let srv = TestServer::start_with(ferroftp_server::AnonymousAccess::Read, |c| {
        c.keep_partial_uploads = Duration::ZERO;
    });
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    let mut conn = c.epsv();
    c.expect("STOR partial.bin", 150);
    conn.write_all(&data).unwrap();
    c.send("ABOR");
    assert_eq!(c.reply().code, 426);
    assert_eq!(c.reply().code, 226);
    assert!(srv.visible_names("").is_empty(), "leftovers: {:?}", srv.disk_names(""));
    assert!(srv.staged("").is_empty(), "left staged: {:?}", srv.staged(""));
}

#[test]
fn reset_upload_keeps_the_old_file_and_only_stages_what_arrived() {
    let srv = TestServer::start();
    srv.write("keep.bin", b"original");
    let mut c = srv.raw_alice();
    c.expect("TYPE I", 200);
    let mut data = c.epsv();
    c.expect("STOR keep.bin", 150);
    data.write_all(&content(256 * 1024, 6)).unwrap();
    // A connection reset (RST), not a clean end of file: the upload is broken.
    socket2::SockRef::from(&data).set_linger(Some(std::time::Duration::ZERO)).unwrap();
    drop(data);
    let r = c.reply();
    assert_eq!(r.code, 426, "{r:?}");
    assert_eq!(srv.read("keep.bin"), b"original");
    assert_eq!(srv.disk_names(""), [".ferroftp-staging", "keep.bin"]);
    // The session goes on; a new upload of the name discards what was staged.
    let (_, done) = c.upload("STOR keep.bin", b"replaced");
    assert_eq!(done.code, 226);
    assert_eq!(srv.read("keep.bin"), b"replaced");
    assert_eq!(srv.visible_names(""), ["keep.bin"]);
    assert!(srv.staged("").is_empty(), "left staged: {:?}", srv.staged(""));
}

#[test]
fn listing_hides_uploads_in_progress() {
    let srv = TestServer::start();
    let mut up = srv.raw_alice();
    let mut data = up.epsv();
    up.expect("STOR growing.bin", 150);
    data.write_all(b"some bytes").unwrap();
    data.flush().unwrap();
    let mut other = srv.raw_alice();
    // Wait (by reading the disk, not sleeping) until the upload's file exists.
    while srv.disk_names("").is_empty() {
        std::thread::yield_now();
    }
    assert!(other.listing("NLST -a").is_empty());
    drop(data);
    assert_eq!(up.reply().code, 226);
    assert_eq!(other.listing("NLST"), ["growing.bin"]);
}

#[test]
fn type_a_converts_both_ways() {
    let srv = TestServer::start();
    srv.write("unix.txt", b"one\ntwo\n\nthree");
    let mut c = srv.raw_alice();
    c.expect("TYPE A", 200);
    let (opened, bytes, done) = c.data_cmd("RETR unix.txt");
    assert!(opened.text().contains("ASCII"));
    assert_eq!(done.code, 226);
    assert_eq!(bytes, b"one\r\ntwo\r\n\r\nthree");
    let (_, done) = c.upload("STOR dos.txt", b"a\r\nb\r\nlone\rcr\r\n");
    assert_eq!(done.code, 226);
    assert_eq!(srv.read("dos.txt"), b"a\nb\nlone\rcr\n");
    c.expect("TYPE I", 200);
    let (_, bytes, _) = c.data_cmd("RETR unix.txt");
    assert_eq!(bytes, b"one\ntwo\n\nthree");
    // suppaftp's ASCII mode agrees.
    let mut ftp = srv.ftp();
    ftp.transfer_type(FileType::Ascii(FormatControl::Default)).unwrap();
    ftp.put_file("lib.txt", &mut Cursor::new(b"x\ny\n")).unwrap();
    assert_eq!(srv.read("lib.txt"), b"x\ny\n");
}

/// TYPE A downloads of a text file of several read chunks (256 KiB each),
/// from `REST` offsets (counted in the file's bytes), convert every line end
/// and nothing else; `ABOR` in the middle of a large one stops it.
#[test]
fn type_a_downloads_of_several_chunks_resume_and_abort() {
    let srv = TestServer::start();
    // Lines of varied length; a line end falls on chunk boundaries now and then.
    let mut text = Vec::new();
    let mut i = 0u64;
    while text.len() < 900_001 {
        let len = (i * 7919 % 97) as usize;
        text.extend((0..len).map(|k| b'a' + ((i as usize + k) % 26) as u8));
        text.push(b'\n');
        i += 1;
    }
    text.extend_from_slice(b"no newline at the end");
    srv.write("t.txt", &text);
    let to_crlf = |b: &[u8]| -> Vec<u8> {
        b.iter().flat_map(|&c| if c == b'\n' { vec![b'\r', b'\n'] } else { vec![c] }).collect()
    };
    let mut c = srv.raw_alice();
    c.expect("TYPE A", 200);
    for offset in [0, 1, 262_144, 262_145, text.len() - 1] {
        let mut d = c.epsv();
        c.expect(&format!("REST {offset}"), 350);
        c.expect("RETR t.txt", 150);
        let mut got = Vec::new();
        d.read_to_end(&mut got).unwrap();
        assert_eq!(c.reply().code, 226, "from {offset}");
        assert_eq!(sha256(&got), sha256(&to_crlf(&text[offset..])), "from {offset}");
    }
    let lines: Vec<u8> = (0..40_000_000).map(|k| if k % 61 == 60 { b'\n' } else { b'x' }).collect();
    srv.write("big.txt", &lines);
    let mut d = c.epsv();
    c.expect("RETR big.txt", 150);
    assert!(c.abort_after_first_mib(&mut d) < 39_000_000, "the transfer was not stopped");
    c.expect("NOOP", 200);
}

#[test]
fn non_ascii_names_everywhere() {
    let srv = TestServer::start();
    let mut ftp = srv.ftp();
    ftp.set_mode(Mode::ExtendedPassive);
    let names = ["Привет мир.txt", "文件名.txt", "فایل نمونه.txt", "Ķēķis ūdenī ģērbies.txt"];
    for (i, name) in names.iter().enumerate() {
        let data = content(1000 + i, i as u64);
        ftp.put_file(name, &mut Cursor::new(&data)).unwrap();
        assert_eq!(srv.read(name), data, "{name} on disk");
        let list = ftp.list(None).unwrap();
        assert!(list.iter().any(|l| l.ends_with(&format!(" {name}"))), "LIST lacks {name}: {list:?}");
        let mlsd = ftp.mlsd(None).unwrap();
        assert!(mlsd.iter().any(|l| l.ends_with(&format!("; {name}"))), "MLSD lacks {name}: {mlsd:?}");
        assert_eq!(ftp.retr_as_buffer(name).unwrap().into_inner(), data);
        let renamed = format!("новое-{i}-{name}");
        ftp.rename(*name, &renamed).unwrap();
        assert!(srv.path(&renamed).exists());
        ftp.rm(&renamed).unwrap();
        assert!(!srv.path(&renamed).exists());
    }
    ftp.mkdir("каталог").unwrap();
    ftp.cwd("каталог").unwrap();
    assert_eq!(ftp.pwd().unwrap(), "/каталог");
}

#[test]
fn concurrent_sessions_do_not_disturb_each_other() {
    let srv = TestServer::start();
    std::thread::scope(|scope| {
        for t in 0..6u64 {
            let srv = &srv;
            scope.spawn(move || {
                let mut ftp = srv.ftp();
                ftp.set_mode(if t % 2 == 0 { Mode::ExtendedPassive } else { Mode::Passive });
                for j in 0..5u64 {
                    let data = content(200_000 + j as usize, t * 100 + j);
                    let name = format!("c{t}-{j}.bin");
                    ftp.put_file(&name, &mut Cursor::new(&data)).unwrap();
                    assert_eq!(ftp.retr_as_buffer(&name).unwrap().into_inner(), data);
                }
            });
        }
    });
    assert_eq!(srv.visible_names("").len(), 30);
}

#[test]
fn listings_of_a_100000_entry_directory_stream_completely() {
    let srv = TestServer::start();
    std::fs::create_dir(srv.path("many")).unwrap();
    for i in 0..100_000 {
        std::fs::File::create(srv.path(&format!("many/f{i:06}"))).unwrap();
    }
    let mut c = srv.raw_alice();
    for (cmd, suffix) in [("NLST many", ""), ("LIST many", ""), ("MLSD many", "; ")] {
        let lines = c.listing(cmd);
        assert_eq!(lines.len(), 100_000, "{cmd}");
        let mut names: Vec<&str> = lines.iter().map(|l| l.rsplit(' ').next().unwrap()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 100_000, "{cmd}: duplicate or missing names");
        assert!(suffix.is_empty() || lines[0].contains(suffix));
    }
}

#[test]
fn shutdown_lets_a_running_transfer_finish_then_says_421() {
    let srv = TestServer::start();
    let (mut c, mut data) = start_big_retr(&srv);
    srv.shutdown();
    let mut rest = Vec::new();
    data.read_to_end(&mut rest).unwrap();
    assert_eq!(rest.len() + (1 << 20), 100 * 1024 * 1024);
    assert_eq!(c.reply().code, 226);
    let bye = c.reply();
    assert_eq!(bye.code, 421, "{bye:?}");
    assert!(c.try_reply().is_none());
}

#[test]
fn shutdown_aborts_a_transfer_that_outlasts_the_grace_period() {
    let srv = TestServer::start_with(ferroftp_server::AnonymousAccess::Read, |c| {
        c.shutdown_grace = std::time::Duration::from_millis(200);
    });
    let (mut c, _data) = start_big_retr(&srv);
    srv.shutdown();
    // The client reads nothing more, so only the grace deadline can end the transfer.
    assert_eq!(c.reply().code, 426);
    assert_eq!(c.reply().code, 421);
    assert!(c.try_reply().is_none());
}
