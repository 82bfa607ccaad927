//! One-shot state that a command leaves for a later one: the restart offset of
//! `REST` and the source of `RNFR`. Which command keeps, uses or clears it is
//! written here once ([`Pending::after`]).

use crate::storage::VirtualPath;

/// Commands that open a data connection. Each uses the restart offset (or
/// ignores it, for listings and `STOU`) whether it succeeds or not.
const TRANSFERS: [&str; 7] = ["RETR", "STOR", "APPE", "STOU", "LIST", "NLST", "MLSD"];

/// The state `REST` and `RNFR` leave for the command that completes them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    /// Restart offset from `REST` (RFC 3659 §5) for the next transfer.
    pub(crate) rest: Option<u64>,
    /// Source of a rename from `RNFR`, for the next command only if it is `RNTO`.
    pub(crate) rename_from: Option<VirtualPath>,
}

impl Pending {
    /// Applies the rules after `verb` (upper case) has run:
    ///
    /// - `REST`'s offset stays until a transfer command uses it (RETR, STOR,
    ///   APPE; STOU, LIST, NLST and MLSD drop it), a new `REST` replaces it or
    ///   `REIN` clears it. Commands in between leave it alone: clients send
    ///   `REST` before or after `PASV`, `EPSV`, `PORT`, `EPRT` and `TYPE`, and
    ///   vsftpd, pure-ftpd, ProFTPD and pyftpdlib all keep it.
    /// - `RNFR`'s source is for the very next command, which must be `RNTO`
    ///   (RFC 959 §4.1.3: "RNFR ... must be immediately followed by RNTO").
    pub(crate) fn after(&mut self, verb: &str) {
        if TRANSFERS.contains(&verb) {
            self.rest = None;
        }
        if verb != "RNFR" {
            self.rename_from = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_both() -> Pending {
        Pending { rest: Some(4096), rename_from: Some(VirtualPath::root().join("a")) }
    }

    #[test]
    fn rest_survives_data_setup_and_type_and_ends_with_a_transfer() {
        for verb in ["PASV", "EPSV", "PORT", "EPRT", "TYPE", "MODE", "STRU", "NOOP", "PWD", "CWD", "SIZE", "FEAT"] {
            let mut p = with_both();
            p.after(verb);
            assert_eq!(p.rest, Some(4096), "{verb} dropped the restart offset");
        }
        for verb in TRANSFERS {
            let mut p = with_both();
            p.after(verb);
            assert_eq!(p.rest, None, "{verb} left the restart offset for the next transfer");
        }
    }

    #[test]
    fn rnfr_is_for_the_next_command_only() {
        let mut p = with_both();
        p.after("RNFR");
        assert!(p.rename_from.is_some(), "RNFR's own run keeps its source");
        for verb in ["RNTO", "NOOP", "REST", "PASV", "DELE"] {
            let mut p = with_both();
            p.after(verb);
            assert_eq!(p.rename_from, None, "{verb} kept the rename source");
        }
        // REST between RNFR and RNTO: the rename source is gone, the offset stays.
        let mut p = with_both();
        p.after("REST");
        assert_eq!((p.rest, p.rename_from), (Some(4096), None));
    }
}
