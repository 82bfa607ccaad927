//! Replies: three-digit codes with one or more lines of text (RFC 959 §4.2).

use std::fmt;

/// A reply code (RFC 959 §4.2.1). The named constants are the codes ferroftp sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(pub u16);

impl ReplyCode {
    pub const RESTART_MARKER: Self = Self(110);
    pub const ALREADY_OPEN: Self = Self(125);
    pub const FILE_STATUS_OK: Self = Self(150);
    pub const OK: Self = Self(200);
    pub const SUPERFLUOUS: Self = Self(202);
    pub const SYSTEM_STATUS: Self = Self(211);
    pub const DIRECTORY_STATUS: Self = Self(212);
    pub const FILE_STATUS: Self = Self(213);
    pub const HELP: Self = Self(214);
    pub const SYSTEM_TYPE: Self = Self(215);
    pub const READY: Self = Self(220);
    pub const CLOSING: Self = Self(221);
    pub const DATA_OPEN_NO_TRANSFER: Self = Self(225);
    pub const CLOSING_DATA: Self = Self(226);
    pub const PASSIVE: Self = Self(227);
    pub const EXTENDED_PASSIVE: Self = Self(229);
    pub const LOGGED_IN: Self = Self(230);
    pub const FILE_ACTION_OK: Self = Self(250);
    pub const PATH_CREATED: Self = Self(257);
    pub const NEED_PASSWORD: Self = Self(331);
    pub const NEED_ACCOUNT: Self = Self(332);
    pub const PENDING_FURTHER_INFO: Self = Self(350);
    pub const NOT_AVAILABLE: Self = Self(421);
    pub const CANT_OPEN_DATA: Self = Self(425);
    pub const TRANSFER_ABORTED: Self = Self(426);
    pub const FILE_BUSY: Self = Self(450);
    pub const LOCAL_ERROR: Self = Self(451);
    pub const INSUFFICIENT_STORAGE: Self = Self(452);
    pub const SYNTAX_ERROR: Self = Self(500);
    pub const PARAMETER_SYNTAX_ERROR: Self = Self(501);
    pub const NOT_IMPLEMENTED: Self = Self(502);
    pub const BAD_SEQUENCE: Self = Self(503);
    pub const PARAMETER_NOT_IMPLEMENTED: Self = Self(504);
    pub const NETWORK_PROTOCOL_NOT_SUPPORTED: Self = Self(522);
    pub const NOT_LOGGED_IN: Self = Self(530);
    pub const NEED_ACCOUNT_FOR_STORING: Self = Self(532);
    pub const FILE_UNAVAILABLE: Self = Self(550);
    pub const PAGE_TYPE_UNKNOWN: Self = Self(551);
    pub const EXCEEDED_STORAGE: Self = Self(552);
    pub const NAME_NOT_ALLOWED: Self = Self(553);
    pub const INVALID_RESTART: Self = Self(554);

    /// True for 1yz preliminary replies: another reply follows.
    pub fn is_preliminary(self) -> bool {
        (100..200).contains(&self.0)
    }

    /// True for 4yz and 5yz replies.
    pub fn is_error(self) -> bool {
        self.0 >= 400
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

/// A complete reply: a code and at least one line of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: ReplyCode,
    /// The text lines. One line makes a single-line reply; more make a multi-line reply
    /// in which the first and last carry the code and the others are sent as they are.
    pub lines: Vec<String>,
}

impl Reply {
    /// A single-line reply.
    pub fn new(code: ReplyCode, text: impl Into<String>) -> Self {
        Reply { code, lines: vec![text.into()] }
    }

    /// A multi-line reply from its lines (the first and last carry the code).
    pub fn multi(code: ReplyCode, lines: Vec<String>) -> Self {
        let lines = if lines.is_empty() { vec![String::new()] } else { lines };
        Reply { code, lines }
    }

    /// The wire form, CRLF-terminated (RFC 959 §4.2).
    ///
    /// Multi-line: `123-First line`, inner lines as they are, `123 Last line`. An
    /// inner line that starts with a digit is indented by one space so a reader
    /// cannot take it for the end of the reply (RFC 959 §4.2, "padded"). CR inside
    /// text is sent as CR NUL and LF as NUL (RFC 2640 §3.1), so a file name can
    /// never split a reply.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lines.iter().map(|l| l.len() + 8).sum());
        self.write_wire(&mut out);
        out
    }

    /// Appends the wire form to `out`.
    pub fn write_wire(&self, out: &mut Vec<u8>) {
        let code = self.code.0.min(999);
        let last = self.lines.len() - 1;
        for (i, line) in self.lines.iter().enumerate() {
            if i == 0 || i == last {
                let sep = if i == last { b' ' } else { b'-' };
                out.extend_from_slice(format!("{code:03}").as_bytes());
                out.push(sep);
            } else if line.starts_with(|c: char| c.is_ascii_digit()) {
                out.push(b' ');
            }
            push_escaped(out, line);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The text of all lines joined by newlines, for messages and logs.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }
}

fn push_escaped(out: &mut Vec<u8>, text: &str) {
    for &b in text.as_bytes() {
        match b {
            b'\r' => out.extend_from_slice(b"\r\0"),
            b'\n' => out.push(0),
            _ => out.push(b),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_wire()))
    }
}

/// Why reply text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyParseError {
    #[error("reply line does not start with a three-digit code: {0:?}")]
    BadCode(String),
}

/// Assembles replies from lines received on a control connection (the client side
/// of RFC 959 §4.2).
#[derive(Debug, Default)]
pub struct ReplyParser {
    partial: Option<Reply>,
}

impl ReplyParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one line (without CRLF). Returns a reply once its last line arrives.
    pub fn feed(&mut self, line: &str) -> Result<Option<Reply>, ReplyParseError> {
        if let Some(partial) = &mut self.partial {
            let code = format!("{:03}", partial.code.0);
            if let Some(rest) = line.strip_prefix(&code).and_then(|r| r.strip_prefix(' ')) {
                partial.lines.push(rest.to_string());
                return Ok(self.partial.take());
            }
            partial.lines.push(line.to_string());
            return Ok(None);
        }
        let bytes = line.as_bytes();
        if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
            return Err(ReplyParseError::BadCode(line.to_string()));
        }
        let code = ReplyCode(line[..3].parse().map_err(|_| ReplyParseError::BadCode(line.to_string()))?);
        match bytes.get(3) {
            Some(b'-') => {
                self.partial = Some(Reply { code, lines: vec![line[4..].to_string()] });
                Ok(None)
            }
            Some(b' ') => Ok(Some(Reply::new(code, &line[4..]))),
            None => Ok(Some(Reply::new(code, ""))),
            Some(_) => Err(ReplyParseError::BadCode(line.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_line() {
        assert_eq!(Reply::new(ReplyCode::OK, "Command okay.").to_wire(), b"200 Command okay.\r\n");
    }

    #[test]
    fn multi_line_per_rfc959_4_2() {
        let r = Reply::multi(
            ReplyCode::SYSTEM_STATUS,
            vec!["Extensions supported:".into(), " UTF8".into(), "123 looks like a code".into(), "End".into()],
        );
        assert_eq!(r.to_wire(), b"211-Extensions supported:\r\n UTF8\r\n 123 looks like a code\r\n211 End\r\n");
    }

    #[test]
    fn newline_in_text_cannot_split_reply() {
        let r = Reply::new(ReplyCode::PATH_CREATED, "\"/a\r\nb\" created");
        assert_eq!(r.to_wire(), b"257 \"/a\r\0\0b\" created\r\n");
    }

    fn parse_all(wire: &str) -> Vec<Reply> {
        let mut p = ReplyParser::new();
        wire.split("\r\n").filter(|l| !l.is_empty()).filter_map(|l| p.feed(l).unwrap()).collect()
    }

    proptest! {
        #[test]
        fn format_parse_round_trip(code in 100u16..600, lines in proptest::collection::vec("[ A-Za-z][ -~]{0,30}", 1..6)) {
            let r = Reply::multi(ReplyCode(code), lines);
            let parsed = parse_all(&r.to_string());
            prop_assert_eq!(parsed, vec![r]);
        }

        #[test]
        fn parser_never_panics(lines in proptest::collection::vec(".{0,20}", 0..10)) {
            let mut p = ReplyParser::new();
            for l in &lines { let _ = p.feed(l); }
        }
    }
}
