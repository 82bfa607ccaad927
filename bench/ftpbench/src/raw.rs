//! The machine's limit: the same bytes over a raw TCP loopback connection,
//! sent with sendfile from a file (what a download can reach) or received
//! into a file (what an upload can reach), the other end reading or writing
//! 1 MiB buffers like the benchmark client. Prints `bytes seconds MB/s`.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (server, client)
}

fn report(total: u64, start: Instant) {
    let secs = start.elapsed().as_secs_f64();
    println!("{total} {secs:.3} {:.0}", total as f64 / secs / 1e6);
}

/// sendfile from `path` to a reader thread.
pub fn send(path: &str) {
    let file = File::open(path).expect("open");
    let (server, mut client) = pair();
    let start = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = client.read(&mut buf).expect("read");
            if n == 0 {
                return total;
            }
            total += n as u64;
        }
    });
    let mut offset = 0u64;
    loop {
        let n = rustix::fs::sendfile(&server, &file, Some(&mut offset), 1 << 30).expect("sendfile");
        if n == 0 {
            break;
        }
    }
    drop(server);
    let total = reader.join().expect("reader");
    report(total, start);
}

/// `bytes` from a writer thread into a new file at `path`.
pub fn receive(path: &str, bytes: u64) {
    let (mut server, mut client) = pair();
    let mut file = File::create(path).expect("create");
    let start = Instant::now();
    let writer = std::thread::spawn(move || {
        let buf: Vec<u8> = (0..1usize << 20).map(|i| (i * 31 % 251) as u8).collect();
        let mut sent = 0u64;
        while sent < bytes {
            let n = buf.len().min((bytes - sent) as usize);
            client.write_all(&buf[..n]).expect("write");
            sent += n as u64;
        }
    });
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = server.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).expect("write file");
        total += n as u64;
    }
    writer.join().expect("writer");
    drop(file);
    report(total, start);
}
