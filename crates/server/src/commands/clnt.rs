//! `CLNT` (a de-facto extension sent by some clients): records the client's name.

use super::HandlerResult;
use crate::session::Session;
use ferroftp_proto::{Reply, ReplyCode};

pub(crate) async fn run(s: &mut Session, arg: Option<String>) -> HandlerResult {
    if let Some(name) = &arg {
        tracing::debug!(client = %name, "client identified");
    }
    s.client_name = arg;
    Ok(Reply::new(ReplyCode::OK, "Noted.").into())
}
