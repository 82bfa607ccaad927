//! `EPRT` (RFC 2428 §2): active mode for IPv4 and IPv6.

use super::HandlerResult;
use super::port::check_active_target;
use crate::data::DataSetup;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::hostport::{self, HostPortError};
use ferroftp_proto::{Reply, ReplyCode};

/// The RFC 2428 §2 reply naming the families this connection can use.
pub(super) fn unsupported_family(s: &Session) -> CommandError {
    let af = if s.local.ip().to_canonical().is_ipv4() { 1 } else { 2 };
    CommandError::reply(
        ReplyCode::NETWORK_PROTOCOL_NOT_SUPPORTED,
        format!("Network protocol not supported, use ({af})"),
    )
}

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let addr = match hostport::parse_eprt(arg.as_deref().unwrap_or_default()) {
        Ok(a) => a,
        Err(HostPortError::UnsupportedFamily) => return Err(unsupported_family(s)),
        Err(e) => {
            return Err(CommandError::reply(ReplyCode::PARAMETER_SYNTAX_ERROR, format!("Syntax error in EPRT: {e}.")));
        }
    };
    if addr.ip().to_canonical().is_ipv4() != s.peer.ip().to_canonical().is_ipv4() {
        return Err(unsupported_family(s));
    }
    check_active_target(s, addr)?;
    s.data = Some(DataSetup::Active(addr));
    Ok(Reply::new(ReplyCode::OK, "EPRT command successful.").into())
}
