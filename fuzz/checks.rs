//! What each fuzz target asserts about one input. Shared by the libFuzzer
//! targets (fuzz_targets/) and by the regression test that replays every file
//! in regressions/ under `cargo test`.
//!
//! Beyond "does not panic", each check states a property that must hold for
//! every input.

#![allow(dead_code)] // each fuzz target uses one of these

use ferroftp_proto::hostport::{self, EpsvArg};
use ferroftp_proto::line::MAX_LINE;
use ferroftp_proto::{Command, LineDecoder, ascii};
use ferroftp_server::config::{self, BuildOptions, Source};

/// Splits `data` at a point taken from its first byte, so one input also
/// tests chunk boundaries.
fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((&first, rest)) = data.split_first() else { return (&[], &[]) };
    let at = if rest.is_empty() { 0 } else { first as usize % (rest.len() + 1) };
    rest.split_at(at)
}

/// The control connection's framing and the command parser: lines never
/// exceed the limit, however the bytes arrive; splitting the input into two
/// reads gives the same lines as one; a parsed command prints and parses back
/// to itself.
pub fn command_line(data: &[u8]) {
    let (a, b) = split(data);
    let mut whole = LineDecoder::new();
    whole.push(a);
    whole.push(b);
    let mut joined = LineDecoder::new();
    let mut all = a.to_vec();
    all.extend_from_slice(b);
    joined.push(&all);
    loop {
        let (x, y) = (whole.next_line(), joined.next_line());
        assert_eq!(x, y, "framing depends on how the bytes were split");
        let Some(line) = x else { break };
        let Ok(line) = line else { continue };
        assert!(line.len() <= MAX_LINE);
        if let Ok(cmd) = Command::parse(&line) {
            assert!((1..=8).contains(&cmd.verb.len()), "{cmd:?}");
            assert!(cmd.verb.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()), "{cmd:?}");
            let again = Command::parse(cmd.to_string().as_bytes()).expect("a printed command parses");
            assert_eq!(again, cmd);
        }
    }
}

/// PORT, EPRT, EPSV and the passive replies: whatever parses prints back to
/// the same address.
pub fn host_port(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(addr) = hostport::parse_port(text) {
        assert_eq!(hostport::parse_port(&hostport::format_port(addr)), Ok(addr));
    }
    if let Ok(addr) = hostport::parse_eprt(text) {
        assert_eq!(hostport::parse_eprt(&hostport::format_eprt(addr)), Ok(addr));
    }
    if let Ok(EpsvArg::Family(f)) = hostport::parse_epsv(Some(text)) {
        assert!(f == 1 || f == 2, "EPSV family {f}");
    }
    if let Ok(addr) = hostport::parse_pasv_reply(text) {
        assert_eq!(hostport::parse_pasv_reply(&hostport::format_pasv_reply(addr)), Ok(addr));
    }
    if let Ok(port) = hostport::parse_epsv_reply(text) {
        assert_eq!(hostport::parse_epsv_reply(&hostport::format_epsv_reply(port)), Ok(port));
    }
}

/// TYPE A: decoding what was encoded gives the input back, the encoded length
/// is what SIZE reports, and decoding in two chunks equals decoding in one.
pub fn ascii_codec(data: &[u8]) {
    let (a, b) = split(data);
    let mut wire = Vec::new();
    let mut enc = ascii::Encoder::new();
    enc.encode(a, &mut wire);
    enc.encode(b, &mut wire);
    let input: Vec<u8> = a.iter().chain(b).copied().collect();
    assert_eq!(wire.len() as u64, ascii::Encoder::encoded_len(&input));
    let decode = |chunks: &[&[u8]]| {
        let mut dec = ascii::Decoder::new();
        let mut out = Vec::new();
        for c in chunks {
            dec.decode(c, &mut out);
        }
        dec.finish(&mut out);
        out
    };
    assert_eq!(decode(&[&wire]), input);
    let cut = data.first().map_or(0, |&f| f as usize % (wire.len() + 1));
    assert_eq!(decode(&[&wire[..cut], &wire[cut..]]), input);
    // Arbitrary wire bytes: chunking never changes the result.
    assert_eq!(decode(&[a, b]), decode(&[&input]));
}

/// The configuration file: any text is either accepted or refused with
/// errors that print (line, column and an underlined excerpt) without panicking.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let source = Source::new("fuzz.toml", text);
    let file = match config::parse(&source) {
        Ok(f) => f,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let options = BuildOptions { check_paths: false, ..BuildOptions::default() };
    if let Err(e) = config::build(&file, &source, &options) {
        let shown = e.to_string();
        assert!(shown.contains("fuzz.toml"), "{shown}");
    }
}
