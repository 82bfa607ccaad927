//! Data-connection addresses: `PORT`/`PASV` host-port (RFC 959 §4.1.2) and the
//! RFC 2428 `EPRT`/`EPSV` forms.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4};

/// Why a host-port argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostPortError {
    #[error("expected six comma-separated numbers h1,h2,h3,h4,p1,p2")]
    BadPortArgument,
    #[error("malformed EPRT argument; expected |af|address|port|")]
    BadEprtArgument,
    /// RFC 2428 §2: an address family other than 1 (IPv4) or 2 (IPv6). Reply 522.
    #[error("network protocol not supported")]
    UnsupportedFamily,
    #[error("malformed EPSV argument; expected nothing, 1, 2 or ALL")]
    BadEpsvArgument,
    #[error("malformed passive reply")]
    BadPassiveReply,
}

/// Parses the `PORT` argument `h1,h2,h3,h4,p1,p2` (RFC 959 §4.1.2).
///
/// Each field is a decimal number 0–255 with at most three digits; white space
/// around fields is tolerated as some clients send it.
pub fn parse_port(arg: &str) -> Result<SocketAddrV4, HostPortError> {
    let mut n = [0u8; 6];
    let mut fields = arg.split(',');
    for slot in &mut n {
        let f = fields.next().ok_or(HostPortError::BadPortArgument)?.trim();
        if f.is_empty() || f.len() > 3 || !f.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HostPortError::BadPortArgument);
        }
        *slot = f.parse().map_err(|_| HostPortError::BadPortArgument)?;
    }
    if fields.next().is_some() {
        return Err(HostPortError::BadPortArgument);
    }
    let ip = Ipv4Addr::new(n[0], n[1], n[2], n[3]);
    Ok(SocketAddrV4::new(ip, u16::from_be_bytes([n[4], n[5]])))
}

/// Formats `h1,h2,h3,h4,p1,p2`, the `PORT` argument and the body of a `227` reply.
pub fn format_port(addr: SocketAddrV4) -> String {
    let [a, b, c, d] = addr.ip().octets();
    let [p1, p2] = addr.port().to_be_bytes();
    format!("{a},{b},{c},{d},{p1},{p2}")
}

/// The text of a `227` reply (RFC 959 §4.1.2; RFC 1123 §4.1.2.6 notes that
/// clients must scan for the numbers, which the parenthesised form makes easy).
pub fn format_pasv_reply(addr: SocketAddrV4) -> String {
    format!("Entering Passive Mode ({}).", format_port(addr))
}

/// Finds `h1,h2,h3,h4,p1,p2` anywhere in the text of a `227` reply, as RFC 1123
/// §4.1.2.6 asks clients to do.
pub fn parse_pasv_reply(text: &str) -> Result<SocketAddrV4, HostPortError> {
    let start = text.find(|c: char| c.is_ascii_digit()).ok_or(HostPortError::BadPassiveReply)?;
    let end =
        text[start..].find(|c: char| !(c.is_ascii_digit() || c == ',' || c == ' ')).map_or(text.len(), |e| start + e);
    parse_port(text[start..end].trim()).map_err(|_| HostPortError::BadPassiveReply)
}

/// Parses the `EPRT` argument `<d>af<d>addr<d>port<d>` (RFC 2428 §2), where the
/// delimiter `<d>` is any printable ASCII character other than a digit, usually `|`.
pub fn parse_eprt(arg: &str) -> Result<SocketAddr, HostPortError> {
    let d = arg.chars().next().ok_or(HostPortError::BadEprtArgument)?;
    if !(d.is_ascii_graphic()) || d.is_ascii_digit() || d.is_ascii_alphabetic() || d == '.' || d == ':' {
        return Err(HostPortError::BadEprtArgument);
    }
    let parts: Vec<&str> = arg.split(d).collect();
    // "", af, addr, port, ""
    if parts.len() != 5 || !parts[0].is_empty() || !parts[4].is_empty() {
        return Err(HostPortError::BadEprtArgument);
    }
    let port = parse_decimal_port(parts[3]).ok_or(HostPortError::BadEprtArgument)?;
    let ip: IpAddr = match parts[1] {
        "1" => IpAddr::V4(parts[2].parse::<Ipv4Addr>().map_err(|_| HostPortError::BadEprtArgument)?),
        "2" => IpAddr::V6(parts[2].parse::<Ipv6Addr>().map_err(|_| HostPortError::BadEprtArgument)?),
        af if !af.is_empty() && af.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(HostPortError::UnsupportedFamily);
        }
        _ => return Err(HostPortError::BadEprtArgument),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Formats an `EPRT` argument with `|` as the delimiter.
pub fn format_eprt(addr: SocketAddr) -> String {
    let af = if addr.is_ipv4() { 1 } else { 2 };
    format!("|{af}|{}|{}|", addr.ip(), addr.port())
}

fn parse_decimal_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|&p| p != 0)
}

/// What an `EPSV` command asks for (RFC 2428 §3 and §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// No argument: a passive port on the control connection's protocol.
    Any,
    /// `EPSV 1` / `EPSV 2`: a passive port for that address family.
    Family(u8),
    /// `EPSV ALL`: from now on only EPSV is accepted.
    All,
}

/// Parses the `EPSV` argument. Unknown numeric families are reported as
/// [`HostPortError::UnsupportedFamily`] so the server can answer 522.
pub fn parse_epsv(arg: Option<&str>) -> Result<EpsvArg, HostPortError> {
    match arg.map(str::trim) {
        None | Some("") => Ok(EpsvArg::Any),
        Some(a) if a.eq_ignore_ascii_case("ALL") => Ok(EpsvArg::All),
        Some("1") => Ok(EpsvArg::Family(1)),
        Some("2") => Ok(EpsvArg::Family(2)),
        Some(a) if a.len() <= 5 && a.bytes().all(|b| b.is_ascii_digit()) => Err(HostPortError::UnsupportedFamily),
        Some(_) => Err(HostPortError::BadEpsvArgument),
    }
}

/// The text of a `229` reply: `Entering Extended Passive Mode (|||port|)` (RFC 2428 §3).
pub fn format_epsv_reply(port: u16) -> String {
    format!("Entering Extended Passive Mode (|||{port}|)")
}

/// Finds the port in a `229` reply's `(<d><d><d>port<d>)`.
pub fn parse_epsv_reply(text: &str) -> Result<u16, HostPortError> {
    let open = text.find('(').ok_or(HostPortError::BadPassiveReply)?;
    let close = text[open..].find(')').ok_or(HostPortError::BadPassiveReply)? + open;
    let inner: Vec<char> = text[open + 1..close].chars().collect();
    if inner.len() < 5 {
        return Err(HostPortError::BadPassiveReply);
    }
    let d = inner[0];
    if inner[1] != d || inner[2] != d || inner[inner.len() - 1] != d {
        return Err(HostPortError::BadPassiveReply);
    }
    let port: String = inner[3..inner.len() - 1].iter().collect();
    parse_decimal_port(&port).ok_or(HostPortError::BadPassiveReply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn port_examples() {
        assert_eq!(parse_port("127,0,0,1,4,1").unwrap(), "127.0.0.1:1025".parse().unwrap());
        assert_eq!(parse_port(" 10, 0,0,2,0,21").unwrap(), "10.0.0.2:21".parse().unwrap());
        for bad in [
            "",
            "1,2,3,4,5",
            "1,2,3,4,5,6,7",
            "256,0,0,1,0,21",
            "1,2,3,4,5,",
            "a,b,c,d,e,f",
            "1,2,3,4,5,-6",
            "0001,2,3,4,5,6",
            "1;2;3;4;5;6",
            "1,2,3,4,5,+6",
        ] {
            assert!(parse_port(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn eprt_examples_from_rfc2428() {
        assert_eq!(parse_eprt("|1|132.235.1.2|6275|").unwrap(), "132.235.1.2:6275".parse().unwrap());
        assert_eq!(
            parse_eprt("|2|1080::8:800:200C:417A|5282|").unwrap(),
            "[1080::8:800:200C:417A]:5282".parse().unwrap()
        );
        assert_eq!(parse_eprt("!1!127.0.0.1!21!").unwrap(), "127.0.0.1:21".parse().unwrap());
        assert_eq!(parse_eprt("|3|x|1|"), Err(HostPortError::UnsupportedFamily));
        for bad in [
            "",
            "|1|127.0.0.1|21",
            "|1|127.0.0.1|0|",
            "|1|127.0.0.1|65536|",
            "|2|127.0.0.1|21|",
            "|1|::1|21|",
            "1|1|127.0.0.1|21|",
            "|1|127.0.0.1|21|x",
            "|1|1.2.3|21|",
            "||127.0.0.1|21|",
            "|1|127.0.0.1||",
            "|1|127.0.0.1|-1|",
        ] {
            assert!(parse_eprt(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn epsv_forms() {
        assert_eq!(parse_epsv(None), Ok(EpsvArg::Any));
        assert_eq!(parse_epsv(Some("all")), Ok(EpsvArg::All));
        assert_eq!(parse_epsv(Some("2")), Ok(EpsvArg::Family(2)));
        assert_eq!(parse_epsv(Some("7")), Err(HostPortError::UnsupportedFamily));
        assert_eq!(parse_epsv(Some("x")), Err(HostPortError::BadEpsvArgument));
        assert_eq!(parse_epsv_reply("Entering Extended Passive Mode (|||6446|)"), Ok(6446));
        assert!(parse_epsv_reply("(|||0|)").is_err());
        assert!(parse_epsv_reply("(||6446|)").is_err());
    }

    proptest! {
        #[test]
        fn port_round_trip(ip in any::<[u8; 4]>(), port in any::<u16>()) {
            let a = SocketAddrV4::new(Ipv4Addr::from(ip), port);
            prop_assert_eq!(parse_port(&format_port(a)).unwrap(), a);
            prop_assert_eq!(parse_pasv_reply(&format_pasv_reply(a)).unwrap(), a);
        }

        #[test]
        fn eprt_round_trip(v6 in any::<bool>(), ip4 in any::<[u8; 4]>(), ip6 in any::<[u8; 16]>(), port in 1u16..) {
            let ip = if v6 { IpAddr::V6(Ipv6Addr::from(ip6)) } else { IpAddr::V4(Ipv4Addr::from(ip4)) };
            let a = SocketAddr::new(ip, port);
            prop_assert_eq!(parse_eprt(&format_eprt(a)).unwrap(), a);
        }

        #[test]
        fn epsv_reply_round_trip(port in 1u16..) {
            prop_assert_eq!(parse_epsv_reply(&format_epsv_reply(port)).unwrap(), port);
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,60}") {
            let _ = parse_port(&s);
            let _ = parse_eprt(&s);
            let _ = parse_epsv(Some(&s));
            let _ = parse_pasv_reply(&s);
            let _ = parse_epsv_reply(&s);
        }
    }
}
