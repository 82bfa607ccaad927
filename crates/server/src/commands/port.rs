//! `PORT` (RFC 959 §4.1.2): the server will connect to the client.

use super::HandlerResult;
use crate::data::{DataSetup, same_host};
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::hostport;
use ferroftp_proto::{Reply, ReplyCode};
use std::net::{SocketAddr, SocketAddrV4};

/// RFC 2577 §3 bounce protection, shared with `EPRT`: the data connection may
/// only go to the client's own address (unless the user may do server-to-server
/// transfers, FXP), and never to a privileged port.
pub(super) fn check_active_target(s: &Session, addr: SocketAddr) -> Result<(), CommandError> {
    if s.epsv_all {
        return Err(CommandError::reply(ReplyCode::BAD_SEQUENCE, "EPSV ALL is in effect; only EPSV may be used."));
    }
    if !same_host(addr.ip(), s.peer.ip()) && !s.fxp_allowed() {
        return Err(CommandError::reply(
            ReplyCode::SYNTAX_ERROR,
            "Illegal PORT/EPRT: the data address must be the client's own address (RFC 2577).",
        ));
    }
    if addr.port() < 1024 {
        return Err(CommandError::reply(
            ReplyCode::PARAMETER_NOT_IMPLEMENTED,
            "Illegal PORT/EPRT: data connections to privileged ports are refused (RFC 2577).",
        ));
    }
    Ok(())
}

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    let addr: SocketAddrV4 = hostport::parse_port(arg.as_deref().unwrap_or_default())
        .map_err(|e| CommandError::reply(ReplyCode::PARAMETER_SYNTAX_ERROR, format!("Syntax error in PORT: {e}.")))?;
    if s.peer.ip().to_canonical().is_ipv6() {
        return Err(CommandError::reply(
            ReplyCode::PARAMETER_SYNTAX_ERROR,
            "PORT is IPv4 only; use EPRT on an IPv6 connection.",
        ));
    }
    check_active_target(s, SocketAddr::V4(addr))?;
    s.data = Some(DataSetup::Active(SocketAddr::V4(addr)));
    Ok(Reply::new(ReplyCode::OK, "PORT command successful.").into())
}
