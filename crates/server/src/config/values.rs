//! Values of the configuration file that are more than a number or a string:
//! sizes, rates, durations, address ranges, port ranges and rights. Each
//! checks itself while the file is read, so a mistake is reported at its line
//! and column with the form that was expected.

use crate::auth::{Right, Rights};
use ipnet::IpNet;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

const SIZE_UNITS: &str = "B, KB, KiB, MB, MiB, GB, GiB, TB, TiB";

/// Splits `"10 GiB"` into its number and unit, and applies the unit.
fn parse_scaled(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, unit) = (&s[..split], s[split..].trim());
    let number: f64 = number.parse().ok().filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let factor: u64 = match unit {
        "" | "B" => 1,
        "K" | "KB" | "kB" => 1_000,
        "KiB" => 1 << 10,
        "M" | "MB" => 1_000_000,
        "MiB" => 1 << 20,
        "G" | "GB" => 1_000_000_000,
        "GiB" => 1 << 30,
        "T" | "TB" => 1_000_000_000_000,
        "TiB" => 1 << 40,
        _ => return None,
    };
    let value = number * factor as f64;
    (value < u64::MAX as f64).then_some(value.round() as u64)
}

/// Formats bytes for people: `1.5 GiB`, `512 KiB`, `37 B`.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            let v = n as f64 / size as f64;
            return if v.fract() == 0.0 { format!("{v:.0} {unit}") } else { format!("{v:.1} {unit}") };
        }
    }
    format!("{n} B")
}

/// A string or an integer, as TOML gives them.
enum Raw {
    Int(i64),
    Str(String),
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Raw;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Raw, E> {
                Ok(Raw::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Raw, E> {
                Ok(Raw::Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Raw, E> {
                Ok(Raw::Str(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A number of bytes: `1048576`, `"500 MB"`, `"10 GiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let err = |shown: &str| {
            de::Error::custom(format!(
                "invalid size {shown}: write a number of bytes or a number with a unit ({SIZE_UNITS}), \
                 for example \"10 GiB\""
            ))
        };
        match Raw::deserialize(d)? {
            Raw::Int(n) => u64::try_from(n).map(ByteSize).map_err(|_| err(&n.to_string())),
            Raw::Str(s) => parse_scaled(&s).map(ByteSize).ok_or_else(|| err(&format!("{s:?}"))),
        }
    }
}

/// A transfer rate in bytes per second: `"2 MiB/s"`, `"500 KB/s"`, `1048576`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub u64);

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", format_bytes(self.0))
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let err = |shown: &str| {
            de::Error::custom(format!(
                "invalid rate {shown}: write bytes per second, more than 0, with an optional unit \
                 ({SIZE_UNITS}) and \"/s\", for example \"2 MiB/s\"; leave the key out for no limit"
            ))
        };
        let n = match Raw::deserialize(d)? {
            Raw::Int(n) => u64::try_from(n).map_err(|_| err(&n.to_string()))?,
            Raw::Str(s) => {
                let t = s.trim();
                let t = t.strip_suffix("/s").or_else(|| t.strip_suffix("ps")).unwrap_or(t);
                parse_scaled(t).ok_or_else(|| err(&format!("{s:?}")))?
            }
        };
        if n == 0 {
            return Err(err("0"));
        }
        Ok(Rate(n))
    }
}

/// A duration: seconds as a number, or `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period(pub Duration);

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        match ms {
            ms if ms % 3_600_000 == 0 && ms > 0 => write!(f, "{}h", ms / 3_600_000),
            ms if ms % 60_000 == 0 && ms > 0 => write!(f, "{}m", ms / 60_000),
            ms if ms % 1000 == 0 => write!(f, "{}s", ms / 1000),
            ms => write!(f, "{ms}ms"),
        }
    }
}

fn parse_period(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: u64 = s[..split].parse().ok()?;
    let ms = match s[split..].trim() {
        "ms" => n,
        "" | "s" => n.checked_mul(1000)?,
        "m" | "min" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        "d" => n.checked_mul(86_400_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let err = |shown: &str| {
            de::Error::custom(format!(
                "invalid duration {shown}: write seconds, or a number with ms, s, m, h or d, for example \"30s\" or \"5m\""
            ))
        };
        match Raw::deserialize(d)? {
            Raw::Int(n) => u64::try_from(n).map(|n| Period(Duration::from_secs(n))).map_err(|_| err(&n.to_string())),
            Raw::Str(s) => parse_period(&s).map(Period).ok_or_else(|| err(&format!("{s:?}"))),
        }
    }
}

/// An address range: `"10.0.0.0/8"`, `"2001:db8::/32"`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(pub IpNet);

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let s = s.trim();
        s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from)).map(|n| Cidr(n.trunc()))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Cidr::parse(&s).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid address range {s:?}: write an address or ADDRESS/PREFIX, for example \"192.168.0.0/16\" or \"2001:db8::/32\""
            ))
        })
    }
}

/// A passive port range: `"50000-50100"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRange(pub RangeInclusive<u16>);

impl PortRange {
    pub fn parse(s: &str) -> Result<PortRange, String> {
        let err = || {
            format!(
                "invalid port range {s:?}: write FIRST-LAST with 1024 <= FIRST <= LAST <= 65535, for example \"50000-50100\""
            )
        };
        let (a, b) = s.split_once('-').ok_or_else(err)?;
        let (a, b): (u16, u16) = (a.trim().parse().map_err(|_| err())?, b.trim().parse().map_err(|_| err())?);
        if a < 1024 || a > b {
            return Err(err());
        }
        Ok(PortRange(a..=b))
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        PortRange::parse(&String::deserialize(d)?).map_err(de::Error::custom)
    }
}

/// Rights of a folder: `["list", "read"]`, `"list, read, write"`, `"all"` or `"none"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RightsValue(pub Rights);

impl RightsValue {
    pub fn parse_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Rights, String> {
        let mut rights = Rights::NONE;
        for name in names {
            let name = name.trim();
            match name {
                "all" => rights = Rights::FULL,
                "none" | "" => {}
                _ => match Right::from_name(name) {
                    Some(r) => rights = rights.with(r),
                    None => {
                        let known: Vec<&str> = Right::ALL.iter().map(|r| r.name()).collect();
                        return Err(format!(
                            "unknown right {name:?}: the rights are {}, plus \"all\" and \"none\"",
                            known.join(", ")
                        ));
                    }
                },
            }
        }
        Ok(rights)
    }
}

impl<'de> Deserialize<'de> for RightsValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(Vec<String>),
            Text(String),
        }
        let rights = match Form::deserialize(d).map_err(|_: D::Error| {
            de::Error::custom("invalid rights: write a list of rights, for example [\"list\", \"read\"], or \"all\"")
        })? {
            Form::List(names) => RightsValue::parse_names(names.iter().map(String::as_str)),
            Form::Text(text) => RightsValue::parse_names(text.split(',')),
        };
        rights.map(RightsValue).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_rates() {
        assert_eq!(parse_scaled("10 GiB"), Some(10 << 30));
        assert_eq!(parse_scaled("500MB"), Some(500_000_000));
        assert_eq!(parse_scaled("1.5 KiB"), Some(1536));
        assert_eq!(parse_scaled("12"), Some(12));
        assert_eq!(parse_scaled("12 parsecs"), None);
        assert_eq!(parse_scaled("-1"), None);
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(10 << 30), "10 GiB");
        assert_eq!(format_bytes(12), "12 B");
    }

    #[test]
    fn periods_and_ranges() {
        assert_eq!(parse_period("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_period("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_period("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_period("2 h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_period("soon"), None);
        assert_eq!(Period(Duration::from_secs(300)).to_string(), "5m");
        assert_eq!(Cidr::parse("10.1.2.3/8").map(|c| c.to_string()).as_deref(), Some("10.0.0.0/8"));
        assert_eq!(Cidr::parse("::1").map(|c| c.to_string()).as_deref(), Some("::1/128"));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert_eq!(PortRange::parse("50000-50100").map(|r| r.0), Ok(50000..=50100));
        assert!(PortRange::parse("80-90").is_err());
    }

    #[test]
    fn rights() {
        assert_eq!(RightsValue::parse_names(["list", "read"]), Ok(Rights::READ_ONLY));
        assert_eq!(RightsValue::parse_names("all".split(',')), Ok(Rights::FULL));
        assert!(RightsValue::parse_names(["upload"]).unwrap_err().contains("the rights are list, read"));
    }
}
