//! `~/.netrc` (the format of the classic `ftp` utility and of curl's
//! `--netrc`): `machine NAME login USER password PASS`, a `default` entry,
//! `account`, and `macdef` blocks (skipped, ended by a blank line).

use std::path::{Path, PathBuf};

/// The credentials for one machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetrcEntry {
    pub login: Option<String>,
    pub password: Option<String>,
    pub account: Option<String>,
}

/// A parsed `.netrc` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Netrc {
    machines: Vec<(String, NetrcEntry)>,
    default: Option<NetrcEntry>,
}

impl Netrc {
    pub fn parse(text: &str) -> Netrc {
        let mut netrc = Netrc::default();
        let mut lines = text.lines();
        // The entry being filled: Some(name) for a machine, None for default.
        let mut current: Option<(Option<String>, NetrcEntry)> = None;
        let finish = |netrc: &mut Netrc, current: Option<(Option<String>, NetrcEntry)>| match current {
            Some((Some(name), entry)) => netrc.machines.push((name, entry)),
            Some((None, entry)) => netrc.default = Some(entry),
            None => {}
        };
        while let Some(line) = lines.next() {
            let mut words = line.split_whitespace();
            while let Some(word) = words.next() {
                match word {
                    "machine" => {
                        finish(&mut netrc, current.take());
                        current = words.next().map(|m| (Some(m.to_ascii_lowercase()), NetrcEntry::default()));
                    }
                    "default" => {
                        finish(&mut netrc, current.take());
                        current = Some((None, NetrcEntry::default()));
                    }
                    "login" | "password" | "passwd" | "account" => {
                        let value = words.next().map(str::to_string);
                        if let Some((_, entry)) = &mut current {
                            match word {
                                "login" => entry.login = value,
                                "account" => entry.account = value,
                                _ => entry.password = value,
                            }
                        }
                    }
                    "macdef" => {
                        // The macro runs to the next blank line.
                        for body in lines.by_ref() {
                            if body.trim().is_empty() {
                                break;
                            }
                        }
                        break;
                    }
                    w if w.starts_with('#') => break,
                    _ => {}
                }
            }
        }
        finish(&mut netrc, current);
        netrc
    }

    /// Reads a file; a missing file is an empty `.netrc`.
    pub fn load(path: &Path) -> std::io::Result<Netrc> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Netrc::parse(&text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Netrc::default()),
            Err(e) => Err(e),
        }
    }

    /// `$NETRC`, else `~/.netrc`.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("NETRC") {
            return Some(PathBuf::from(p));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".netrc"))
    }

    /// The entry for `host` (case-insensitive), else the `default` entry.
    pub fn lookup(&self, host: &str) -> Option<&NetrcEntry> {
        let host = host.to_ascii_lowercase();
        self.machines.iter().find(|(m, _)| *m == host).map(|(_, e)| e).or(self.default.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_default_and_macros() {
        let n = Netrc::parse(
            "machine ftp.example.com login alice password s3cret\n\
             # a comment\n\
             macdef init\nbin\nhash\n\n\
             machine Other.Example login bob\npassword pw account acct\n\
             default login anonymous password me@example.com\n",
        );
        let a = n.lookup("FTP.example.com").unwrap();
        assert_eq!((a.login.as_deref(), a.password.as_deref()), (Some("alice"), Some("s3cret")));
        let b = n.lookup("other.example").unwrap();
        assert_eq!(
            (b.login.as_deref(), b.password.as_deref(), b.account.as_deref()),
            (Some("bob"), Some("pw"), Some("acct"))
        );
        assert_eq!(n.lookup("elsewhere").unwrap().login.as_deref(), Some("anonymous"));
        assert_eq!(Netrc::parse("").lookup("x"), None);
    }
}
