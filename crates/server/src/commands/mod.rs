//! FTP command handlers, one file each, registered in [`COMMANDS`].
//!
//! The table is the single list of what the server understands: dispatch looks
//! verbs up in it, `FEAT` collects its feature lines and `HELP` its verbs and
//! syntax. To add a command, add a file and a row.

use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::Reply;
use std::future::Future;
use std::pin::Pin;

mod abor;
mod acct;
mod allo;
mod appe;
mod auth;
mod ccc;
mod cdup;
mod clnt;
mod cwd;
mod dele;
mod eprt;
mod epsv;
mod feat;
mod hash;
mod help;
mod host;
mod list;
mod mdtm;
mod mfmt;
mod mkd;
mod mlsd;
mod mlst;
mod mode;
mod nlst;
mod noop;
mod opts;
pub(crate) mod pass;
mod pasv;
mod pbsz;
mod port;
mod prot;
mod pwd;
mod quit;
mod rein;
mod rest;
mod retr;
mod rmd;
mod rnfr;
mod rnto;
mod site;
mod size;
mod smnt;
pub(crate) mod stat;
mod stor;
mod stou;
mod stru;
mod syst;
mod r#type;
mod upload;
mod user;

/// What a handler did.
pub(crate) enum Outcome {
    /// Send this reply.
    Reply(Reply),
    /// A transfer was started; its replies come from the transfer task.
    Transfer,
    /// The handler already wrote its reply (a streamed multi-line reply).
    Done,
    /// Send this reply and close the session (QUIT).
    Close(Reply),
    /// Send this reply, then start TLS on the control connection (AUTH TLS).
    StartTls(Reply),
    /// Send this reply, then end TLS on the control connection (CCC).
    StopTls(Reply),
}

impl From<Reply> for Outcome {
    fn from(r: Reply) -> Self {
        Outcome::Reply(r)
    }
}

pub(crate) type HandlerResult = Result<Outcome, CommandError>;
pub(crate) type BoxFuture<'a> = Pin<Box<dyn Future<Output = HandlerResult> + Send + 'a>>;
/// A command handler: the session and the argument (`None` when absent or empty).
pub(crate) type Handler = for<'a> fn(&'a mut Session, Option<String>) -> BoxFuture<'a>;

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Before and after login.
    Any,
    /// Only after a successful login; otherwise 530.
    LoggedIn,
}

/// Whether a command takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArgRule {
    /// Missing argument: 501.
    Required,
    Optional,
}

/// One row of the command table.
pub(crate) struct CommandSpec {
    /// The verb and its aliases (RFC 775 `X` forms).
    pub verbs: &'static [&'static str],
    /// Argument syntax, for HELP and for 501 replies.
    pub syntax: &'static str,
    pub access: Access,
    pub arg: ArgRule,
    /// The FEAT line this command contributes (RFC 2389 §3.2), if any.
    pub feat: Option<&'static str>,
    pub handler: Handler,
}

/// Wraps an `async fn(&mut Session, Option<String>) -> HandlerResult` as a [`Handler`].
macro_rules! handler {
    ($f:path) => {{
        fn boxed(s: &mut Session, arg: Option<String>) -> BoxFuture<'_> {
            Box::pin($f(s, arg))
        }
        boxed as Handler
    }};
}

macro_rules! command {
    ([$($verb:literal),+], $syntax:literal, $access:ident, $arg:ident, $feat:expr, $f:path) => {
        CommandSpec {
            verbs: &[$($verb),+],
            syntax: $syntax,
            access: Access::$access,
            arg: ArgRule::$arg,
            feat: $feat,
            handler: handler!($f),
        }
    };
}

/// Every command the server understands.
pub(crate) static COMMANDS: &[CommandSpec] = &[
    // Access control (RFC 959 §4.1.1)
    command!(["USER"], "USER <sp> username", Any, Required, None, user::run),
    command!(["PASS"], "PASS <sp> password", Any, Optional, None, pass::run),
    command!(["ACCT"], "ACCT <sp> account", Any, Required, None, acct::run),
    command!(["CWD", "XCWD"], "CWD <sp> pathname", LoggedIn, Required, None, cwd::run),
    command!(["CDUP", "XCUP"], "CDUP", LoggedIn, Optional, None, cdup::run),
    command!(["SMNT"], "SMNT <sp> pathname", LoggedIn, Optional, None, smnt::run),
    command!(["REIN"], "REIN", Any, Optional, None, rein::run),
    command!(["QUIT"], "QUIT", Any, Optional, None, quit::run),
    command!(["HOST"], "HOST <sp> hostname", Any, Required, Some("HOST"), host::run),
    // Security (RFC 2228, RFC 4217)
    command!(["AUTH"], "AUTH <sp> TLS", Any, Required, Some("AUTH TLS"), auth::run),
    command!(["PBSZ"], "PBSZ <sp> 0", Any, Required, Some("PBSZ"), pbsz::run),
    command!(["PROT"], "PROT <sp> C | P", Any, Required, Some("PROT"), prot::run),
    command!(["CCC"], "CCC", Any, Optional, None, ccc::run),
    // Transfer parameters (RFC 959 §4.1.2, RFC 2428)
    command!(["PORT"], "PORT <sp> h1,h2,h3,h4,p1,p2", LoggedIn, Required, None, port::run),
    command!(["PASV"], "PASV", LoggedIn, Optional, None, pasv::run),
    command!(["EPRT"], "EPRT <sp> |af|address|port|", LoggedIn, Required, Some("EPRT"), eprt::run),
    command!(["EPSV"], "EPSV [<sp> 1 | 2 | ALL]", LoggedIn, Optional, Some("EPSV"), epsv::run),
    command!(["TYPE"], "TYPE <sp> A [N] | I | L 8", Any, Required, None, r#type::run),
    command!(["STRU"], "STRU <sp> F", Any, Required, None, stru::run),
    command!(["MODE"], "MODE <sp> S", Any, Required, None, mode::run),
    // Service commands (RFC 959 §4.1.3, RFC 3659)
    command!(["RETR"], "RETR <sp> pathname", LoggedIn, Required, None, retr::run),
    command!(["STOR"], "STOR <sp> pathname", LoggedIn, Required, None, stor::run),
    command!(["STOU"], "STOU [<sp> pathname]", LoggedIn, Optional, None, stou::run),
    command!(["APPE"], "APPE <sp> pathname", LoggedIn, Required, None, appe::run),
    command!(["ALLO"], "ALLO <sp> size [<sp> R <sp> size]", LoggedIn, Optional, None, allo::run),
    command!(["REST"], "REST <sp> offset", LoggedIn, Required, Some("REST STREAM"), rest::run),
    command!(["RNFR"], "RNFR <sp> pathname", LoggedIn, Required, None, rnfr::run),
    command!(["RNTO"], "RNTO <sp> pathname", LoggedIn, Required, None, rnto::run),
    command!(["ABOR"], "ABOR", Any, Optional, None, abor::run),
    command!(["DELE"], "DELE <sp> pathname", LoggedIn, Required, None, dele::run),
    command!(["RMD", "XRMD"], "RMD <sp> pathname", LoggedIn, Required, None, rmd::run),
    command!(["MKD", "XMKD"], "MKD <sp> pathname", LoggedIn, Required, None, mkd::run),
    command!(["PWD", "XPWD"], "PWD", LoggedIn, Optional, None, pwd::run),
    command!(["LIST"], "LIST [<sp> -options] [<sp> pathname]", LoggedIn, Optional, None, list::run),
    command!(["NLST"], "NLST [<sp> -options] [<sp> pathname]", LoggedIn, Optional, None, nlst::run),
    command!(["MLSD"], "MLSD [<sp> pathname]", LoggedIn, Optional, None, mlsd::run),
    command!(["MLST"], "MLST [<sp> pathname]", LoggedIn, Optional, Some("MLST"), mlst::run),
    command!(["SIZE"], "SIZE <sp> pathname", LoggedIn, Required, Some("SIZE"), size::run),
    command!(["MDTM"], "MDTM <sp> pathname", LoggedIn, Required, Some("MDTM"), mdtm::run),
    command!(["MFMT"], "MFMT <sp> YYYYMMDDHHMMSS <sp> pathname", LoggedIn, Required, Some("MFMT"), mfmt::run),
    command!(["HASH"], "HASH <sp> pathname", LoggedIn, Required, Some("HASH SHA-256*"), hash::run),
    command!(["XSHA256"], "XSHA256 <sp> pathname", LoggedIn, Required, None, hash::run_x),
    command!(["SITE"], "SITE <sp> HELP | CHMOD <sp> mode <sp> pathname", LoggedIn, Required, None, site::run),
    command!(["SYST"], "SYST", Any, Optional, None, syst::run),
    command!(["STAT"], "STAT [<sp> pathname]", Any, Optional, None, stat::run),
    command!(["HELP"], "HELP [<sp> command]", Any, Optional, None, help::run),
    command!(["NOOP"], "NOOP", Any, Optional, None, noop::run),
    // Extensions (RFC 2389, RFC 2640, and the CLNT convention)
    command!(["FEAT"], "FEAT", Any, Optional, None, feat::run),
    command!(["OPTS"], "OPTS <sp> UTF8 ON | MLST facts", Any, Required, Some("UTF8"), opts::run),
    command!(["CLNT"], "CLNT <sp> client name", Any, Optional, Some("CLNT"), clnt::run),
];

/// FEAT lines offered only when TLS is configured (RFC 4217 §6).
pub(crate) const TLS_FEATURES: [&str; 3] = ["AUTH TLS", "PBSZ", "PROT"];

/// Finds a command by verb or alias (already upper-cased).
pub(crate) fn lookup(verb: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.verbs.contains(&verb))
}

/// Quotes a path for 257 replies: `"` inside it is doubled (RFC 959 Appendix II).
pub(crate) fn quote_path(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

/// `ASCII` or `BINARY`, for 150 replies.
pub(crate) fn mode_label(s: &Session) -> &'static str {
    match s.transfer_type {
        crate::session::TransferType::Ascii => "ASCII",
        crate::session::TransferType::Binary => "BINARY",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_unique_and_upper_case() {
        let mut all: Vec<&str> = COMMANDS.iter().flat_map(|c| c.verbs.iter().copied()).collect();
        assert!(all.iter().all(|v| v.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())));
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "a verb is registered twice");
    }
}
