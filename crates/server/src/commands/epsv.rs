//! `EPSV` (RFC 2428 §3–4): passive mode for IPv4 and IPv6; `EPSV ALL` locks the
//! session to EPSV.

use super::HandlerResult;
use super::eprt::unsupported_family;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::hostport::{self, EpsvArg, HostPortError};
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let local = s.local.ip().to_canonical();
    match hostport::parse_epsv(arg.as_deref()) {
        Ok(EpsvArg::All) => {
            s.epsv_all = true;
            return Ok(Reply::new(ReplyCode::OK, "EPSV ALL ok; PORT, EPRT and PASV are now refused.").into());
        }
        Ok(EpsvArg::Family(af)) if (af == 1) != local.is_ipv4() => {
            return Err(unsupported_family(s));
        }
        Ok(_) => {}
        Err(HostPortError::UnsupportedFamily) => return Err(unsupported_family(s)),
        Err(e) => {
            return Err(CommandError::reply(ReplyCode::PARAMETER_SYNTAX_ERROR, format!("Syntax error in EPSV: {e}.")));
        }
    }
    let port = s.open_passive(local)?;
    Ok(Reply::new(ReplyCode::EXTENDED_PASSIVE, hostport::format_epsv_reply(port)).into())
}
