//! The `LIST` parsers on listings in the formats real servers send
//! (`tests/fixtures/listings/`): vsftpd, pure-ftpd, ProFTPD, FileZilla Server, IIS.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use ferroftp_client::listing::{ListLine, parse_list_line, parse_listing};
use ferroftp_client::{Entry, FileKind};
use std::time::{Duration, SystemTime};

/// 2026-11-21 12:00 UTC: dates without a year fall in the twelve months before.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_262_400)
}

fn utc(y: i32, mo: u8, d: u8, h: u8, mi: u8) -> SystemTime {
    let date = time::Date::from_calendar_date(y, time::Month::try_from(mo).unwrap(), d).unwrap();
    let t = date.with_hms(h, mi, 0).unwrap().assume_utc().unix_timestamp();
    SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64)
}

fn fixture(name: &str) -> Vec<String> {
    let path = format!("{}/tests/fixtures/listings/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split('\n').map(|l| l.trim_end_matches('\r').to_string()).filter(|l| !l.is_empty()).collect()
}

fn entries(name: &str) -> Vec<Entry> {
    let listing = parse_listing(&fixture(name), now());
    assert!(listing.unparsed.is_empty(), "{name}: unparsed {:?}", listing.unparsed);
    listing.entries
}

fn summary(e: &Entry) -> (&str, FileKind, u64, SystemTime) {
    (e.name.as_str(), e.kind, e.size, e.modified)
}

#[test]
fn vsftpd() {
    let e = entries("vsftpd.txt");
    assert_eq!(summary(&e[0]), ("pub", FileKind::Dir, 4096, utc(2026, 3, 3, 12, 1)));
    assert_eq!(summary(&e[1]), ("big file.bin", FileKind::File, 1_048_576, utc(2021, 1, 15, 0, 0)));
    assert_eq!(summary(&e[2]).0, "latest");
    assert_eq!((e[2].kind, e[2].link_target.as_deref()), (FileKind::Symlink, Some("pub/v1.2")));
    assert_eq!(summary(&e[3]), ("Ωmega-ñ.txt", FileKind::File, 0, utc(2026, 11, 2, 8, 30)));
    assert_eq!((e[0].owner.as_str(), e[0].group.as_str(), e[0].mode), ("0", "0", 0o755));
}

#[test]
fn pure_ftpd_leaves_out_dot_entries() {
    let e = entries("pure-ftpd.txt");
    assert_eq!(e.len(), 2);
    assert_eq!(summary(&e[0]), ("readme.txt", FileKind::File, 338, utc(2026, 11, 20, 10, 12)));
    assert_eq!(summary(&e[1]), ("incoming", FileKind::Dir, 4096, utc(2024, 2, 29, 0, 0)));
}

#[test]
fn proftpd_devices_acls_pipes_and_leading_spaces() {
    let e = entries("proftpd.txt");
    assert_eq!(e.len(), 5, "the total line is skipped");
    assert_eq!(summary(&e[1]), ("archive", FileKind::Dir, 4096, utc(2019, 10, 1, 0, 0)));
    assert_eq!(summary(&e[2]), ("null", FileKind::CharDevice, 0, utc(2020, 1, 1, 0, 0)));
    assert_eq!((e[3].name.as_str(), e[3].size, e[3].mode), (" leading space", 42, 0o644));
    assert_eq!(e[4].kind, FileKind::Fifo);
}

#[test]
fn filezilla_server() {
    let e = entries("filezilla.txt");
    assert_eq!(summary(&e[0]), ("file.txt", FileKind::File, 12345, utc(2026, 11, 20, 10, 12)));
    assert_eq!(summary(&e[1]), ("folder", FileKind::Dir, 0, utc(2019, 11, 20, 0, 0)));
    // June 11 is in the past this year: this year, not last.
    assert_eq!(summary(&e[2]), ("five gib.iso", FileKind::File, 5_368_709_120, utc(2026, 6, 11, 23, 59)));
}

#[test]
fn iis_dos_style() {
    let e = entries("iis.txt");
    assert_eq!(summary(&e[0]), ("aspnet_client", FileKind::Dir, 0, utc(2026, 11, 20, 10, 12)));
    assert_eq!(summary(&e[1]), ("iisstart.htm", FileKind::File, 1234, utc(2026, 11, 20, 14, 5)));
    assert_eq!(summary(&e[2]), ("old report.doc", FileKind::File, 9876, utc(2002, 1, 16, 0, 14)));
    assert_eq!(summary(&e[3]), ("iso-date.txt", FileKind::File, 77, utc(2026, 11, 20, 23, 59)));
}

#[test]
fn unknown_formats_are_kept_raw() {
    let listing = parse_listing(&fixture("unknown.txt"), now());
    assert_eq!(listing.entries.len(), 1);
    assert_eq!(listing.unparsed, ["+i8388621.48594,m825718503,r,s280,\tdjb.html", "VOLUME: SYS:  DIRECTORY: /public"]);
    assert_eq!(parse_list_line("total 0", now()), ListLine::Skip);
    assert_eq!(parse_list_line("", now()), ListLine::Skip);
}

#[test]
fn a_date_later_this_year_than_today_is_last_year() {
    let line = "-rw-r--r-- 1 ftp ftp 1 Dec 24 18:00 xmas";
    let ListLine::Entry(e) = parse_list_line(line, now()) else { panic!("not parsed") };
    assert_eq!(e.modified, utc(2025, 12, 24, 18, 0));
}
