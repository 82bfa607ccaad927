//! `SITE` (RFC 959 §4.1.3): `SITE HELP` and `SITE CHMOD mode path`.
//!
//! `CHMOD` needs its own right (`chmod`; anonymous accounts never have it),
//! never sets the setuid, setgid or sticky bits, and never applies to the
//! root of the user's tree or to a mounted folder.

use super::HandlerResult;
use crate::auth::Right;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let arg = arg.unwrap_or_default();
    let (sub, rest) = arg.split_once(' ').unwrap_or((&arg, ""));
    match sub.to_ascii_uppercase().as_str() {
        "HELP" => Ok(Reply::multi(
            ReplyCode::HELP,
            vec!["The following SITE commands are recognized:".into(), " CHMOD HELP".into(), "Help OK.".into()],
        )
        .into()),
        "CHMOD" => {
            let (mode, path) = rest.split_once(' ').unwrap_or((rest, ""));
            let mode =
                u32::from_str_radix(mode, 8).ok().filter(|m| !mode.is_empty() && mode.len() <= 4 && *m <= 0o7777);
            let (Some(mode), false) = (mode, path.is_empty()) else {
                return Err(CommandError::reply(
                    ReplyCode::PARAMETER_SYNTAX_ERROR,
                    "Usage: SITE CHMOD <octal mode> <path>.",
                ));
            };
            let path = s.resolve(path)?;
            s.require(Right::Chmod, &path)?;
            if mode & 0o7000 != 0 {
                return Err(CommandError::reply(
                    ReplyCode::FILE_UNAVAILABLE,
                    format!(
                        "SITE CHMOD {mode:04o}: the setuid, setgid and sticky bits cannot be set; use a mode up to 0777."
                    ),
                ));
            }
            if path.is_root() || s.account()?.policy.mounts.contains(&path) {
                return Err(CommandError::reply(
                    ReplyCode::FILE_UNAVAILABLE,
                    format!(
                        "{path} is the root of your tree or of a mounted folder; its permissions cannot be changed."
                    ),
                ));
            }
            s.storage()?.set_mode(&path, mode).await?;
            Ok(Reply::new(ReplyCode::OK, format!("SITE CHMOD {mode:04o} {path} ok.")).into())
        }
        _ => Err(CommandError::reply(ReplyCode::SYNTAX_ERROR, "Unknown SITE command; SITE HELP lists them.")),
    }
}
