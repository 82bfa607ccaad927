//! RFC 3659 §2.3 time-val: `YYYYMMDDHHMMSS[.sss]`, always in UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Formats a time as `YYYYMMDDHHMMSS` in UTC (the `MDTM` reply and the `modify` fact).
/// Times before 1970 or after 9999 are clamped into range.
pub fn format(t: SystemTime) -> String {
    let dt = to_utc(t);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Converts a time to a UTC calendar date and time, clamped to 1970..=9999.
pub fn to_utc(t: SystemTime) -> OffsetDateTime {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let secs = i64::try_from(secs).unwrap_or(i64::MAX).min(253_402_300_799);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Parses `YYYYMMDDHHMMSS` with optional `.fraction` (RFC 3659 §2.3). Seconds
/// up to 60 (a leap second) are accepted and read as 59.
pub fn parse(s: &str) -> Option<SystemTime> {
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => (m, Some(f)),
        Some(_) => return None,
        None => (s, None),
    };
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| main[r].parse::<u32>().ok();
    let year = i32::try_from(n(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?;
    let day = u8::try_from(n(6..8)?).ok()?;
    let (h, m, sec) = (n(8..10)?, n(10..12)?, n(12..14)?.min(59));
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(u8::try_from(h).ok()?, u8::try_from(m).ok()?, u8::try_from(sec).ok()?).ok()?;
    let ts = PrimitiveDateTime::new(date, time).assume_utc().unix_timestamp();
    let secs = u64::try_from(ts).ok()?;
    let nanos = match frac {
        Some(f) => format!("{f:0<9}").parse::<u32>().ok()?,
        None => 0,
    };
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(format(UNIX_EPOCH), "19700101000000");
        assert_eq!(format(UNIX_EPOCH + Duration::from_secs(1_000_000_000)), "20010909014640");
        assert_eq!(parse("20010909014640"), Some(UNIX_EPOCH + Duration::from_secs(1_000_000_000)));
        assert_eq!(parse("19700101000000.5"), Some(UNIX_EPOCH + Duration::from_millis(500)));
        for bad in [
            "",
            "2001090901464",
            "20011309014640",
            "20010230000000",
            "2001090901464x",
            "20010909014640.",
            "20010909254640",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn round_trip(secs in 0u64..253_402_300_799) {
            let t = UNIX_EPOCH + Duration::from_secs(secs);
            prop_assert_eq!(parse(&format(t)), Some(t));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,30}") {
            let _ = parse(&s);
        }
    }
}
