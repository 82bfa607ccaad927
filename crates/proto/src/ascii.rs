//! The TYPE A codec (RFC 959 §3.1.1.1): files are stored with LF line ends and
//! sent as CRLF (NVT-ASCII end of line).
//!
//! Both directions are streaming state machines over chunks of any size; neither
//! ever buffers a whole file. `decode(encode(x)) == x` for every byte string:
//! encoding turns *every* LF into CRLF (so a CR already before an LF survives as
//! `CR CR LF`), and decoding turns every CRLF into LF and keeps lone CRs.

/// Disk → wire: LF becomes CRLF.
#[derive(Debug, Default, Clone)]
pub struct Encoder;

impl Encoder {
    pub fn new() -> Self {
        Encoder
    }

    /// Appends the wire form of `input` to `out`.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32);
        let mut rest = input;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            out.extend_from_slice(&rest[..i]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[i + 1..];
        }
        out.extend_from_slice(rest);
    }

    /// Number of bytes the wire form of `input` takes (SIZE in TYPE A, RFC 3659 §4).
    pub fn encoded_len(input: &[u8]) -> u64 {
        input.len() as u64 + input.iter().filter(|&&b| b == b'\n').count() as u64
    }
}

/// Wire → disk: CRLF becomes LF; a CR not followed by LF is kept.
#[derive(Debug, Default, Clone)]
pub struct Decoder {
    /// The previous chunk ended in CR, not yet known to start a CRLF.
    pending_cr: bool,
}

impl Decoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the disk form of `input` to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + 1);
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Call at end of stream: a trailing lone CR is written out.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(x: &[u8]) -> Vec<u8> {
        let mut o = Vec::new();
        Encoder::new().encode(x, &mut o);
        o
    }

    fn dec_chunked(x: &[u8], n: usize) -> Vec<u8> {
        let mut d = Decoder::new();
        let mut o = Vec::new();
        for c in x.chunks(n.max(1)) {
            d.decode(c, &mut o);
        }
        d.finish(&mut o);
        o
    }

    #[test]
    fn examples() {
        assert_eq!(enc(b"a\nb\n"), b"a\r\nb\r\n");
        assert_eq!(dec_chunked(b"a\r\nb\r\n", 1), b"a\nb\n");
        assert_eq!(dec_chunked(b"a\rb\r", 1), b"a\rb\r");
        assert_eq!(dec_chunked(b"a\r\r\n", 1), b"a\r\n");
        assert_eq!(Encoder::encoded_len(b"a\nb\n"), 6);
    }

    proptest! {
        #[test]
        fn round_trip_any_chunking(x in proptest::collection::vec(any::<u8>(), 0..4096), n in 1usize..100) {
            let mut e = Encoder::new();
            let mut wire = Vec::new();
            for c in x.chunks(n) { e.encode(c, &mut wire); }
            prop_assert_eq!(wire.len() as u64, Encoder::encoded_len(&x));
            prop_assert_eq!(dec_chunked(&wire, n), x);
        }

        #[test]
        fn decoding_is_chunk_independent(x in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..512), n in 1usize..17) {
            prop_assert_eq!(dec_chunked(&x, n), dec_chunked(&x, x.len().max(1)));
        }
    }
}
