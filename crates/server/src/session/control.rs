//! The control connection: lines in, replies out.

use ferroftp_proto::{LineDecoder, LineError, Reply};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const READ_BUF: usize = 4096;

/// Reads command lines. [`next_line`](Self::next_line) is cancel-safe, so it can
/// sit in a `select!` beside the transfer and timers.
pub(crate) struct ControlReader {
    read: OwnedReadHalf,
    decoder: LineDecoder,
    buf: Box<[u8]>,
    eof: bool,
}

impl ControlReader {
    pub(crate) fn new(read: OwnedReadHalf) -> Self {
        ControlReader {
            read,
            decoder: LineDecoder::new(),
            buf: vec![0; READ_BUF].into_boxed_slice(),
            eof: false,
        }
    }

    /// The next line, or `None` once the client has closed the connection.
    pub(crate) async fn next_line(&mut self) -> io::Result<Option<Result<Vec<u8>, LineError>>> {
        loop {
            if let Some(line) = self.decoder.next_line() {
                return Ok(Some(line));
            }
            if self.eof {
                // A last command without CRLF before close is still honoured (QUIT).
                return Ok(self.decoder.take_unterminated().map(Ok));
            }
            let n = self.read.read(&mut self.buf).await?;
            if n == 0 {
                self.eof = true;
            } else {
                self.decoder.push(&self.buf[..n]);
            }
        }
    }
}

/// Writes replies, each in a single write so a reply is one TCP segment where it fits.
pub(crate) struct ControlWriter {
    write: OwnedWriteHalf,
    buf: Vec<u8>,
}

impl ControlWriter {
    pub(crate) fn new(write: OwnedWriteHalf) -> Self {
        ControlWriter {
            write,
            buf: Vec::with_capacity(256),
        }
    }

    pub(crate) async fn send(&mut self, reply: &Reply) -> io::Result<()> {
        tracing::debug!(reply = %reply.to_string().trim_end(), "->");
        self.buf.clear();
        reply.write_wire(&mut self.buf);
        self.write.write_all(&self.buf).await?;
        if self.buf.capacity() > 64 * 1024 {
            self.buf = Vec::with_capacity(256);
        }
        Ok(())
    }

    /// Writes already-framed bytes (the body of a streamed multi-line reply).
    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write.write_all(bytes).await
    }

    pub(crate) async fn shutdown(&mut self) {
        let _ = self.write.shutdown().await;
    }
}
