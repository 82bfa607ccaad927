//! The machine's limit: the same bytes over a raw TCP loopback connection,
//! sent with sendfile from a file (what a download can reach) or received
//! into a file with reads and disk writes overlapping (what an upload can
//! reach), the other end reading or writing 1 MiB buffers like the benchmark
//! client. Prints `bytes seconds MB/s`.

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
    // Two buffers: one fills from the socket while a thread writes the other
    // to the file, so reading and writing overlap as in a server that does so.
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, usize)>(1);
    let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
    for _ in 0..2 {
        empty_tx.send(vec![0u8; 1 << 20]).expect("buffer");
    }
    let disk = std::thread::spawn(move || {
        for (buf, n) in full_rx {
            file.write_all(&buf[..n]).expect("write file");
            if empty_tx.send(buf).is_err() {
                break;
            }
        }
        file
    });
    let mut total = 0u64;
    'receive: loop {
        let mut buf = empty_rx.recv().expect("buffer back");
        let mut n = 0;
        while n < buf.len() {
            let got = server.read(&mut buf[n..]).expect("read");
            if got == 0 {
                if n > 0 {
                    full_tx.send((buf, n)).expect("to disk");
                }
                total += n as u64;
                break 'receive;
            }
            n += got;
        }
        total += n as u64;
        full_tx.send((buf, n)).expect("to disk");
    }
    drop(full_tx);
    let file = disk.join().expect("disk writer");
    writer.join().expect("writer");
    drop(file);
    report(total, start);
}
