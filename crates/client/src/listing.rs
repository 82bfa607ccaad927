//! Reading `LIST` output: the Unix `ls -l` style (vsftpd, pure-ftpd, ProFTPD,
//! FileZilla Server, most others) and the MS-DOS style of IIS. A line neither
//! parser understands is kept as it came, never dropped.

use ferroftp_proto::listing::{Entry, parse_dos_line, parse_unix_line};
use std::time::SystemTime;

/// A directory's entries, and the lines that could not be read as one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub entries: Vec<Entry>,
    /// Lines in a format no parser knows, to show as they are.
    pub unparsed: Vec<String>,
}

/// What one `LIST` line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListLine {
    Entry(Entry),
    /// `total 42` and blank lines: nothing to show.
    Skip,
    /// A format no parser knows.
    Unknown(String),
}

/// Reads one `LIST` line. `now` places dates that have no year.
pub fn parse_list_line(line: &str, now: SystemTime) -> ListLine {
    let trimmed = line.trim_end_matches(['\r', '\n']);
    if trimmed.trim().is_empty() || is_total_line(trimmed) {
        return ListLine::Skip;
    }
    match parse_unix_line(trimmed, now).or_else(|| parse_dos_line(trimmed)) {
        Some(entry) => ListLine::Entry(entry),
        None => ListLine::Unknown(trimmed.to_string()),
    }
}

fn is_total_line(line: &str) -> bool {
    line.strip_prefix("total ").is_some_and(|n| n.trim().bytes().all(|b| b.is_ascii_digit()))
}

/// Reads a whole `LIST` reply, leaving out `.` and `..`.
pub fn parse_listing(lines: &[String], now: SystemTime) -> Listing {
    let mut listing = Listing::default();
    for line in lines {
        match parse_list_line(line, now) {
            ListLine::Entry(e) if e.name == "." || e.name == ".." => {}
            ListLine::Entry(e) => listing.entries.push(e),
            ListLine::Skip => {}
            ListLine::Unknown(raw) => listing.unparsed.push(raw),
        }
    }
    listing
}
