//! FTP URLs (RFC 1738 §3.2):
//! `ftp://USER:PASSWORD@HOST:PORT/CWD1/CWD2/NAME;type=TYPECODE`.
//!
//! - `ftp://` is plain FTP (port 21), `ftps://` implicit TLS (port 990, RFC
//!   4217 §1), `ftpes://` explicit TLS after `AUTH TLS` (port 21), as curl and
//!   lftp name them.
//! - User, password and each path segment are percent-decoded separately, so
//!   `%2F` inside a segment is a `/` in a name, `%40` an `@` in a password.
//! - The path is relative to the login directory (RFC 1738 §3.2.2: one `CWD`
//!   per segment); a first segment of `%2F` makes it absolute, as curl does.
//! - Without a user, the login is anonymous (RFC 1738 §3.2.1).

use std::fmt;

/// How the control connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `ftp://`: no TLS.
    None,
    /// `ftpes://`: `AUTH TLS` on the plain port.
    Explicit,
    /// `ftps://`: TLS from the first byte.
    Implicit,
}

/// The `;type=` suffix (RFC 1738 §3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeCode {
    /// `a`: TYPE A.
    Ascii,
    /// `i`: TYPE I.
    Image,
    /// `d`: the path is a directory to list (NLST).
    Directory,
}

/// A parsed FTP URL.
#[derive(Clone, PartialEq, Eq)]
pub struct FtpUrl {
    pub security: Security,
    /// `None`: anonymous.
    pub user: Option<String>,
    pub password: Option<String>,
    /// Host name or address; an IPv6 address without its brackets.
    pub host: String,
    pub port: u16,
    /// Decoded path segments; empty for the login directory.
    pub segments: Vec<String>,
    /// The URL names a directory: it ends in `/` or has no path.
    pub trailing_slash: bool,
    pub type_code: Option<TypeCode>,
}

/// Why a URL is not an FTP URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not an FTP URL: expected ftp://, ftps:// or ftpes:// at the start")]
    Scheme,
    #[error("no host after the scheme")]
    NoHost,
    #[error("the port {0:?} is not a number from 1 to 65535")]
    Port(String),
    #[error("bad percent escape {0:?}: '%' must be followed by two hex digits")]
    Escape(String),
    #[error("the escapes in {0:?} do not decode to UTF-8 text")]
    NotUtf8(String),
    #[error("unterminated IPv6 address: '[' without ']'")]
    Bracket,
    #[error("unknown ;type={0}: use a, i or d")]
    TypeCode(String),
    #[error("a NUL, CR or LF byte in the URL cannot be sent to a server")]
    ControlByte,
}

/// Decodes `%XX` escapes in one URL component.
pub fn percent_decode(s: &str) -> Result<String, UrlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let value =
                hex.filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit())).and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(v) = value else {
                let end = (i + 3).min(bytes.len());
                return Err(UrlError::Escape(String::from_utf8_lossy(&bytes[i..end]).into_owned()));
            };
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    if out.iter().any(|b| matches!(b, 0 | b'\r' | b'\n')) {
        return Err(UrlError::ControlByte);
    }
    String::from_utf8(out).map_err(|_| UrlError::NotUtf8(s.to_string()))
}

/// Escapes what cannot stand for itself in a URL component.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl FtpUrl {
    /// Parses a URL. A bare `host[:port][/path]` is read as `ftp://`.
    pub fn parse(input: &str) -> Result<FtpUrl, UrlError> {
        let input = input.trim();
        let (security, rest) = match input.split_once("://") {
            Some((scheme, rest)) => match scheme.to_ascii_lowercase().as_str() {
                "ftp" => (Security::None, rest),
                "ftps" => (Security::Implicit, rest),
                "ftpes" => (Security::Explicit, rest),
                _ => return Err(UrlError::Scheme),
            },
            None => (Security::None, input),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        // The last '@' ends the user info: an unescaped '@' in a password is common.
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)?), Some(percent_decode(p)?)),
                None => (Some(percent_decode(info)?), None),
            },
        };
        let (host, port_text) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6.split_once(']').ok_or(UrlError::Bracket)?;
            (addr.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost);
        }
        let port = match port_text {
            None | Some("") => {
                if security == Security::Implicit {
                    990
                } else {
                    21
                }
            }
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| UrlError::Port(p.to_string()))?,
        };
        let (path, type_code) = match path.rsplit_once(";type=") {
            Some((p, code)) => (
                p,
                Some(match code.to_ascii_lowercase().as_str() {
                    "a" => TypeCode::Ascii,
                    "i" => TypeCode::Image,
                    "d" => TypeCode::Directory,
                    _ => return Err(UrlError::TypeCode(code.to_string())),
                }),
            ),
            None => (path, None),
        };
        let trailing_slash = path.is_empty() || path.ends_with('/');
        let segments = path.split('/').filter(|s| !s.is_empty()).map(percent_decode).collect::<Result<Vec<_>, _>>()?;
        Ok(FtpUrl { security, user, password, host, port, segments, trailing_slash, type_code })
    }

    /// True when no user is given: log in as `anonymous`.
    pub fn is_anonymous(&self) -> bool {
        self.user.is_none()
    }

    /// The path as one string for commands that take a path (`RETR a/b`):
    /// relative to the login directory, absolute if it starts with `/`.
    pub fn path(&self) -> String {
        self.segments.join("/")
    }

    /// The last segment: the file a URL names (none for a directory URL).
    pub fn file_name(&self) -> Option<&str> {
        if self.trailing_slash || self.type_code == Some(TypeCode::Directory) {
            return None;
        }
        self.segments.last().map(String::as_str)
    }

    /// `host:port` for connecting (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for FtpUrl {
    /// The URL with its password replaced by `***`, fit for logs and messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.security {
            Security::None => "ftp",
            Security::Explicit => "ftpes",
            Security::Implicit => "ftps",
        };
        write!(f, "{scheme}://")?;
        if let Some(u) = &self.user {
            write!(f, "{}", percent_encode(u))?;
            if self.password.is_some() {
                f.write_str(":***")?;
            }
            f.write_str("@")?;
        }
        f.write_str(&self.authority())?;
        for s in &self.segments {
            write!(f, "/{}", percent_encode(s))?;
        }
        if self.trailing_slash {
            f.write_str("/")?;
        }
        Ok(())
    }
}

impl fmt::Debug for FtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FtpUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn full_urls_with_escapes() {
        let u = FtpUrl::parse("ftp://al%69ce:p%40ss:w@example.com:2121/pub/a%20b/file%2Fname.txt;type=i").unwrap();
        assert_eq!(u.security, Security::None);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("p@ss:w"));
        assert_eq!((u.host.as_str(), u.port), ("example.com", 2121));
        assert_eq!(u.segments, ["pub", "a b", "file/name.txt"]);
        assert_eq!(u.type_code, Some(TypeCode::Image));
        assert_eq!(u.file_name(), Some("file/name.txt"));
        assert_eq!(u.to_string(), "ftp://alice:***@example.com:2121/pub/a%20b/file%2Fname.txt");
    }

    #[test]
    fn schemes_ports_hosts_and_anonymous() {
        let u = FtpUrl::parse("ftps://[::1]/").unwrap();
        assert_eq!((u.security, u.host.as_str(), u.port), (Security::Implicit, "::1", 990));
        assert!(u.is_anonymous() && u.segments.is_empty() && u.trailing_slash);
        assert_eq!(u.authority(), "[::1]:990");
        let u = FtpUrl::parse("FTPES://h:21/dir/").unwrap();
        assert_eq!((u.security, u.port, u.file_name()), (Security::Explicit, 21, None));
        let u = FtpUrl::parse("127.0.0.1:2121/x").unwrap();
        assert_eq!((u.security, u.port, u.path()), (Security::None, 2121, "x".to_string()));
        // An unescaped '@' in the password: the last '@' ends the user info.
        let u = FtpUrl::parse("ftp://bob:a@b@host/").unwrap();
        assert_eq!((u.password.as_deref(), u.host.as_str()), (Some("a@b"), "host"));
        // Absolute paths start with %2F, as curl reads them.
        assert_eq!(FtpUrl::parse("ftp://h/%2Fetc/motd").unwrap().path(), "/etc/motd");
        assert_eq!(FtpUrl::parse("ftp://h/pub;type=d").unwrap().file_name(), None);
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, err) in [
            ("http://host/", UrlError::Scheme),
            ("ftp:///path", UrlError::NoHost),
            ("ftp://h:0/", UrlError::Port("0".into())),
            ("ftp://h:70000/", UrlError::Port("70000".into())),
            ("ftp://h:ab/", UrlError::Port("ab".into())),
            ("ftp://h/a%2", UrlError::Escape("%2".into())),
            ("ftp://h/a%zzb", UrlError::Escape("%zz".into())),
            ("ftp://h/%ff%fe", UrlError::NotUtf8("%ff%fe".into())),
            ("ftp://h/a%0d%0aDELE%20x", UrlError::ControlByte),
            ("ftp://[::1/", UrlError::Bracket),
            ("ftp://h/f;type=x", UrlError::TypeCode("x".into())),
        ] {
            assert_eq!(FtpUrl::parse(url), Err(err), "{url}");
        }
    }

    proptest! {
        #[test]
        fn encoded_segments_and_credentials_round_trip(
            user in "[^\\x00\\r\\n]{1,12}",
            segs in proptest::collection::vec("[^\\x00\\r\\n]{1,12}", 0..4),
        ) {
            let path: Vec<String> = segs.iter().map(|s| percent_encode(s)).collect();
            let url = format!("ftp://{}:{}@host/{}", percent_encode(&user), percent_encode(&user), path.join("/"));
            let u = FtpUrl::parse(&url).unwrap();
            prop_assert_eq!(u.user.as_deref(), Some(user.as_str()));
            prop_assert_eq!(u.password.as_deref(), Some(user.as_str()));
            prop_assert_eq!(&u.segments, &segs);
        }
    }
}
