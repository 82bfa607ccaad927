//! `PASV` (RFC 959 §4.1.2): the client will connect to a port the server opens.

use super::HandlerResult;
use crate::data::is_local_network;
use crate::error::CommandError;
use crate::session::Session;
use ferroftp_proto::hostport;
use ferroftp_proto::{Reply, ReplyCode};
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};

/// The address put in the 227 reply: the configured public address (for NAT),
/// else the control connection's local address. Clients on local networks get
/// the local address when `local_clients_direct` is on.
async fn advertised_ip(s: &Session, local: Ipv4Addr) -> Result<Ipv4Addr, CommandError> {
    let Some(public) = &s.ctx.public_address else {
        return Ok(local);
    };
    if s.ctx.config.local_clients_direct && is_local_network(s.peer.ip()) {
        return Ok(local);
    }
    public.get().await.ok_or_else(|| {
        CommandError::reply(ReplyCode::CANT_OPEN_DATA, "Cannot resolve the server's public address; try EPSV.")
    })
}

pub(crate) async fn run(s: &mut Session, _arg: Option<String>) -> HandlerResult {
    if s.epsv_all {
        return Err(CommandError::reply(ReplyCode::BAD_SEQUENCE, "EPSV ALL is in effect; only EPSV may be used."));
    }
    let IpAddr::V4(local) = s.local.ip().to_canonical() else {
        return Err(CommandError::reply(
            ReplyCode::CANT_OPEN_DATA,
            "PASV is IPv4 only; use EPSV on an IPv6 connection.",
        ));
    };
    let ip = advertised_ip(s, local).await?;
    let port = s.open_passive(IpAddr::V4(local))?;
    Ok(Reply::new(ReplyCode::PASSIVE, hostport::format_pasv_reply(SocketAddrV4::new(ip, port))).into())
}
