//! Control-connection framing and command-line parsing.
//!
//! RFC 959 §4.1.3 and §5.3: commands are Telnet lines ending in CRLF, a verb of
//! alphabetic characters, optionally a space and an argument. Real clients also
//! send bare LF, and precede `ABOR` with the Telnet "Interrupt Process" and
//! "Synch" (`IAC IP IAC DM`) sequences; both are handled here.

use std::fmt;

/// The longest command line accepted, CRLF included (hyper-style hard cap: a
/// longer line is a reply, not a memory leak).
pub const MAX_LINE: usize = 8 * 1024;

/// Telnet "Interpret As Command" (RFC 854).
const IAC: u8 = 255;
const WILL: u8 = 251;
const DONT: u8 = 254;

/// Why a line could not be turned into a [`Command`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line was longer than [`MAX_LINE`]; its bytes were discarded.
    #[error("command line too long (limit {MAX_LINE} bytes)")]
    TooLong,
    /// Nothing but white space.
    #[error("empty command line")]
    Empty,
    /// The verb is not made of ASCII letters (RFC 959 §5.3.1).
    #[error("malformed command verb")]
    BadVerb,
    /// The argument is not valid UTF-8 (RFC 2640 §2.2 requires UTF-8 pathnames).
    #[error("argument is not valid UTF-8")]
    BadUtf8,
    /// The argument contains a NUL byte, which no path or parameter may hold.
    #[error("argument contains a NUL byte")]
    Nul,
}

/// Splits the control-connection byte stream into lines.
///
/// Feed it bytes with [`push`](Self::push) and take lines with
/// [`next_line`](Self::next_line). It strips Telnet commands as they arrive
/// (so an `IAC` split across two reads is still recognised), never holds more
/// than [`MAX_LINE`] bytes of one line, and reports an overlong line once as
/// [`LineError::TooLong`] after skipping to its end.
#[derive(Debug, Default)]
pub struct LineDecoder {
    /// Bytes of the current line, Telnet commands already removed.
    current: Vec<u8>,
    /// Complete lines not yet taken.
    ready: std::collections::VecDeque<Result<Vec<u8>, LineError>>,
    telnet: TelnetState,
    /// The current line exceeded the limit; drop bytes until its LF.
    overflow: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum TelnetState {
    #[default]
    Data,
    /// After `IAC`.
    Iac,
    /// After `IAC WILL|WONT|DO|DONT`: one option byte follows.
    Option,
}

impl LineDecoder {
    /// A decoder with no buffered bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of complete lines waiting.
    pub fn pending(&self) -> usize {
        self.ready.len()
    }

    /// Adds bytes read from the connection.
    pub fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.telnet {
                TelnetState::Iac => {
                    self.telnet = match b {
                        IAC => {
                            self.data_byte(IAC);
                            TelnetState::Data
                        }
                        WILL..=DONT => TelnetState::Option,
                        // IP, DM, AYT, NOP, ... : two-byte commands, dropped.
                        _ => TelnetState::Data,
                    };
                }
                TelnetState::Option => self.telnet = TelnetState::Data,
                TelnetState::Data if b == IAC => self.telnet = TelnetState::Iac,
                TelnetState::Data => self.data_byte(b),
            }
        }
    }

    fn data_byte(&mut self, b: u8) {
        if b == b'\n' {
            let line = std::mem::take(&mut self.current);
            if std::mem::take(&mut self.overflow) {
                self.ready.push_back(Err(LineError::TooLong));
            } else {
                self.ready.push_back(Ok(line));
            }
            return;
        }
        if self.overflow {
            return;
        }
        if self.current.len() + 2 > MAX_LINE {
            self.overflow = true;
            self.current = Vec::new();
            return;
        }
        self.current.push(b);
    }

    /// The next complete line without its line ending, or `None` if more bytes are needed.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineError>> {
        let mut line = self.ready.pop_front()?;
        if let Ok(l) = &mut line
            && l.last() == Some(&b'\r')
        {
            l.pop();
        }
        Some(line)
    }

    /// True if a complete line waiting, or the unterminated one, satisfies `f`.
    pub fn holds_line(&self, mut f: impl FnMut(&[u8]) -> bool) -> bool {
        let trim = |l: &[u8]| -> Vec<u8> { l.strip_suffix(b"\r").unwrap_or(l).to_vec() };
        self.ready.iter().any(|l| l.as_ref().is_ok_and(|l| f(&trim(l)))) || (!self.overflow && f(&trim(&self.current)))
    }

    /// Bytes of an unterminated line held at end of stream (a client that closed
    /// without CRLF); `None` if there are none.
    pub fn take_unterminated(&mut self) -> Option<Vec<u8>> {
        if self.current.is_empty() || self.overflow {
            return None;
        }
        Some(std::mem::take(&mut self.current))
    }
}

/// One parsed command line: an upper-cased verb and the argument as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The verb, upper-cased (RFC 959 §5.3: verbs are case-insensitive).
    pub verb: String,
    /// Everything after the first space, byte for byte: file names keep their
    /// inner, leading and trailing spaces. `None` when the line is a bare verb.
    pub arg: Option<String>,
}

impl Command {
    /// Parses a line as returned by [`LineDecoder::next_line`].
    pub fn parse(line: &[u8]) -> Result<Self, LineError> {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(LineError::Empty);
        }
        let (verb, arg) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], Some(&line[i + 1..])),
            None => (line, None),
        };
        if verb.is_empty() || verb.len() > 8 || !verb.iter().all(u8::is_ascii_alphanumeric) {
            return Err(LineError::BadVerb);
        }
        let verb = String::from_utf8_lossy(verb).to_ascii_uppercase();
        let arg = match arg {
            None => None,
            Some(a) if a.contains(&0) => return Err(LineError::Nul),
            Some(a) => Some(String::from_utf8(a.to_vec()).map_err(|_| LineError::BadUtf8)?),
        };
        Ok(Command { verb, arg })
    }
}

impl fmt::Display for Command {
    /// Formats the command as a client sends it, without CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.arg {
            Some(a) => write!(f, "{} {}", self.verb, a),
            None => f.write_str(&self.verb),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(input: &[u8]) -> Vec<Result<Vec<u8>, LineError>> {
        let mut d = LineDecoder::new();
        d.push(input);
        std::iter::from_fn(|| d.next_line()).collect()
    }

    #[test]
    fn crlf_and_bare_lf() {
        assert_eq!(lines(b"USER a\r\nPASS b\nNOOP"), vec![Ok(b"USER a".to_vec()), Ok(b"PASS b".to_vec())]);
    }

    #[test]
    fn telnet_interrupt_before_abor_is_stripped() {
        assert_eq!(lines(b"\xff\xf4\xff\xf2ABOR\r\n"), vec![Ok(b"ABOR".to_vec())]);
        // Option negotiation and an escaped 0xFF data byte.
        assert_eq!(lines(b"\xff\xfb\x01NO\xff\xffOP\r\n"), vec![Ok(b"NO\xffOP".to_vec())]);
    }

    #[test]
    fn telnet_split_across_reads() {
        let mut d = LineDecoder::new();
        d.push(b"\xff");
        d.push(b"\xf4AB");
        d.push(b"OR\r");
        assert!(d.next_line().is_none());
        d.push(b"\n");
        assert_eq!(d.next_line(), Some(Ok(b"ABOR".to_vec())));
    }

    #[test]
    fn overlong_line_is_one_error_then_recovery() {
        let mut input = vec![b'A'; MAX_LINE * 3];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        assert_eq!(lines(&input), vec![Err(LineError::TooLong), Ok(b"NOOP".to_vec())]);
        // A line of exactly the limit (CRLF included) is accepted.
        let mut exact = vec![b'A'; MAX_LINE - 2];
        exact.extend_from_slice(b"\r\n");
        assert!(lines(&exact)[0].is_ok());
    }

    #[test]
    fn parse_keeps_argument_exact() {
        let c = Command::parse(b"stor  my file .txt ").unwrap();
        assert_eq!(c.verb, "STOR");
        assert_eq!(c.arg.as_deref(), Some(" my file .txt "));
        assert_eq!(Command::parse(b"pwd").unwrap().arg, None);
        assert_eq!(Command::parse(b"CWD ").unwrap().arg.as_deref(), Some(""));
    }

    #[test]
    fn parse_errors() {
        assert_eq!(Command::parse(b""), Err(LineError::Empty));
        assert_eq!(Command::parse(b"  "), Err(LineError::Empty));
        assert_eq!(Command::parse(b"\x00\x01"), Err(LineError::BadVerb));
        assert_eq!(Command::parse(b"RE-TR x"), Err(LineError::BadVerb));
        assert_eq!(Command::parse(b"RETR a\x00b"), Err(LineError::Nul));
        assert_eq!(Command::parse(b"RETR \xff\xfe"), Err(LineError::BadUtf8));
    }

    proptest! {
        #[test]
        fn decoder_and_parser_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20)) {
            let mut d = LineDecoder::new();
            for c in &chunks {
                d.push(c);
                while let Some(line) = d.next_line() {
                    if let Ok(l) = line {
                        prop_assert!(l.len() <= MAX_LINE);
                        let _ = Command::parse(&l);
                    }
                }
            }
        }

        #[test]
        fn command_format_parse_round_trip(verb in "[A-Za-z]{3,4}", arg in proptest::option::of("[^\r\n\u{0}\u{ff}]{0,40}")) {
            let c = Command { verb: verb.to_ascii_uppercase(), arg };
            let text = format!("{c}\r\n");
            let mut d = LineDecoder::new();
            d.push(text.as_bytes());
            let line = d.next_line().unwrap().unwrap();
            prop_assert_eq!(Command::parse(&line).unwrap(), c);
        }

        #[test]
        fn chunking_does_not_change_lines(input in proptest::collection::vec(any::<u8>(), 0..2000), split in 1usize..64) {
            let whole = lines(&input);
            let mut d = LineDecoder::new();
            for c in input.chunks(split) { d.push(c); }
            let parts: Vec<_> = std::iter::from_fn(|| d.next_line()).collect();
            prop_assert_eq!(whole, parts);
        }
    }
}
