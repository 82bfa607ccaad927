//! One control connection: its state and its event loop.
//!
//! A session is one task that owns all its state. The loop waits at once for
//! the next command line, for events from a running transfer task, for the
//! idle deadline and for server shutdown. While a transfer runs, `ABOR`, `STAT`
//! and `NOOP` are answered at once; other commands wait their turn (RFC 959 §5.4
//! allows only these during a transfer), in order.

mod control;
mod pending;

pub(crate) use control::{ControlReader, ControlWriter};
use control::{accept_tls, is_quit, split_plain, split_tls, start_tls, stop_tls};
pub(crate) use pending::Pending;

use crate::auth::{Account, Authenticator, PasswordChecks, Right};
use crate::commands::{self, Access, ArgRule, Outcome};
use crate::config::ServerConfig;
use crate::data::{
    DataEvent, DataSetup, DataTls, Job, MinRate, PublicAddress, Received, TransferError, TransferHandle,
    TransferParams, bind_passive, spawn_transfer,
};
use crate::error::{CommandError, StorageError, StorageErrorKind};
use crate::limits::{
    Connections, Direction, LoginGuard, QuotaCharge, QuotaPlan, QuotaUsage, Quotas, RateLimit, Refusal, Throttle,
    UserRates, UserSlot,
};
use crate::storage::{FileIdentity, Metadata, NameProblem, Storage, Uploader, VirtualPath, check_new_name, check_path};
use crate::tls::{SessionTls, TlsContext};
use ferroftp_proto::listing::{Facts, FileKind};
use ferroftp_proto::{Command, LineError, Reply, ReplyCode};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info};

/// Commands accepted while a transfer runs and held until it ends.
const MAX_QUEUED: usize = 32;

/// Files a session remembers having stored (for `MFMT`).
const STORED_REMEMBERED: usize = 256;

/// What every session shares.
pub(crate) struct ServerContext {
    pub(crate) config: ServerConfig,
    pub(crate) auth: Arc<dyn Authenticator>,
    pub(crate) shutdown: CancellationToken,
    /// FTPS, when configured.
    pub(crate) tls: Option<TlsContext>,
    /// Session counts; the same across configuration reloads.
    pub(crate) connections: Arc<Connections>,
    /// Failed logins and bans; the same across configuration reloads.
    pub(crate) login_guard: Arc<LoginGuard>,
    /// The password-check pool; the same across configuration reloads.
    pub(crate) password_checks: Arc<PasswordChecks>,
    /// Per-user rate limits, shared by a user's sessions, across reloads.
    pub(crate) user_rates: Arc<UserRates>,
    /// The whole server's rate limits.
    pub(crate) server_download: Option<Arc<RateLimit>>,
    pub(crate) server_upload: Option<Arc<RateLimit>>,
    /// Quota usage; measured again after a reload.
    pub(crate) quotas: Quotas,
    /// The address for `227` replies behind NAT.
    pub(crate) public_address: Option<PublicAddress>,
}

impl ServerContext {
    /// A context for `config`; what outlives reloads comes from `previous`.
    pub(crate) fn new(
        config: ServerConfig,
        auth: Arc<dyn Authenticator>,
        shutdown: CancellationToken,
        tls: Option<TlsContext>,
        previous: Option<&ServerContext>,
    ) -> Self {
        // A server-wide limit keeps its bucket across a reload that leaves it alone.
        let keep = |old: Option<&Arc<RateLimit>>, rate: Option<u64>| match (old, rate) {
            (Some(l), Some(r)) if l.bytes_per_second() == r => Some(Arc::clone(l)),
            (_, Some(r)) => Some(RateLimit::new(r)),
            (_, None) => None,
        };
        ServerContext {
            server_download: keep(previous.and_then(|p| p.server_download.as_ref()), config.download_limit),
            server_upload: keep(previous.and_then(|p| p.server_upload.as_ref()), config.upload_limit),
            connections: previous.map_or_else(Default::default, |p| Arc::clone(&p.connections)),
            user_rates: previous.map_or_else(Default::default, |p| Arc::clone(&p.user_rates)),
            login_guard: previous.map_or_else(Default::default, |p| Arc::clone(&p.login_guard)),
            password_checks: previous.map_or_else(Default::default, |p| Arc::clone(&p.password_checks)),
            quotas: Quotas::default(),
            public_address: config.public_address.clone().map(|name| PublicAddress::new(name, config.resolve_interval)),
            config,
            auth,
            shutdown,
            tls,
        }
    }
}

/// Where the login sequence stands (RFC 959 §5.4, USER/PASS state diagram).
pub(crate) enum Login {
    None,
    /// USER given, PASS expected.
    User(String),
    LoggedIn(Box<Account>),
}

/// The representation type (RFC 959 §3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransferType {
    Ascii,
    Binary,
}

/// What the log line and the replies of a running transfer need.
pub(crate) struct Running {
    handle: TransferHandle,
    /// Text of the 150 reply.
    opened: String,
    /// Text of the 226 reply; `{bytes}` is filled in.
    done: String,
    verb: &'static str,
    path: String,
    started: Instant,
    /// ABOR arrived; after the transfer's own reply, ABOR gets its 226.
    abort_requested: bool,
    /// The identity of the file an upload made and is about to name (see
    /// `Received::file`), remembered for `MFMT` when it ends well.
    file: Option<FileIdentity>,
}

/// One client's session.
pub(crate) struct Session {
    pub(crate) ctx: Arc<ServerContext>,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    writer: ControlWriter,
    pub(crate) login: Login,
    /// RFC 7151 virtual host, if the client sent HOST.
    pub(crate) host: Option<String>,
    pub(crate) client_name: Option<String>,
    pub(crate) cwd: VirtualPath,
    pub(crate) transfer_type: TransferType,
    /// What REST and RNFR leave for a later command.
    pub(crate) pending: Pending,
    pub(crate) data: Option<DataSetup>,
    /// When the prepared passive listener is closed if nobody has used it.
    passive_deadline: Option<tokio::time::Instant>,
    /// The last passive listener was closed unused (the next transfer gets 425 saying so).
    passive_expired: bool,
    /// After `EPSV ALL`, only EPSV may set up data connections (RFC 2428 §4).
    pub(crate) epsv_all: bool,
    pub(crate) facts: Facts,
    /// This session's TLS acceptor (control and data), once TLS is in use.
    pub(crate) tls: Option<SessionTls>,
    /// The session began with TLS (implicit FTPS).
    pub(crate) implicit_tls: bool,
    /// `PBSZ` was accepted (RFC 4217 §8).
    pub(crate) pbsz: bool,
    /// `PROT P`: data connections are protected (RFC 4217 §9).
    pub(crate) prot_private: bool,
    /// `AUTH TLS` was accepted; the handshake starts after the reply.
    pub(crate) upgrade_requested: bool,
    /// `CCC` was accepted; TLS ends after the reply.
    pub(crate) downgrade_requested: bool,
    /// SHA-256 fingerprint of the client certificate presented on the control connection.
    pub(crate) client_certificate: Option<String>,
    /// The logged-in user's place among their sessions.
    pub(crate) user_slot: Option<UserSlot>,
    /// The logged-in user's storage quota.
    pub(crate) quota: Option<Arc<QuotaUsage>>,
    /// Files this session stored (path and identity), most recent last, for
    /// `MFMT` by users who may not change other files.
    stored: VecDeque<(VirtualPath, FileIdentity)>,
    transfer: Option<Running>,
    /// An upload's question whether the client is still there, taken early
    /// (with the 150 reply) and answered by the event loop.
    received: Option<Received>,
    queued: VecDeque<Result<Vec<u8>, LineError>>,
    /// The session ends after the current reply.
    closing: bool,
}

impl Session {
    /// The logged-in account. Handlers registered as [`Access::LoggedIn`] only run
    /// when there is one.
    pub(crate) fn account(&self) -> Result<&Account, CommandError> {
        match &self.login {
            Login::LoggedIn(a) => Ok(a),
            _ => Err(CommandError::reply(ReplyCode::NOT_LOGGED_IN, "Please log in with USER and PASS first.")),
        }
    }

    pub(crate) fn storage(&self) -> Result<Arc<dyn Storage>, CommandError> {
        Ok(Arc::clone(&self.account()?.storage))
    }

    /// Refuses with 550 naming the right and the path if the account lacks
    /// that right there.
    pub(crate) fn require(&self, right: Right, path: &VirtualPath) -> Result<(), CommandError> {
        if right.granted_by(&self.account()?.rights.at(path)) {
            Ok(())
        } else {
            Err(CommandError::reply(
                ReplyCode::FILE_UNAVAILABLE,
                format!("Permission denied: no '{}' right on {path}.", right.name()),
            ))
        }
    }

    /// Metadata of a path that must be a plain file (RETR, SIZE, MDTM).
    pub(crate) async fn file_metadata(&self, path: &VirtualPath) -> Result<Metadata, CommandError> {
        let meta = self.storage()?.metadata(path).await?;
        let refused = match meta.kind {
            FileKind::File => return Ok(meta),
            FileKind::Dir => StorageErrorKind::IsADirectory,
            _ => StorageErrorKind::NotAFile,
        };
        Err(CommandError::Storage(StorageError::new(refused, path.to_string())))
    }

    /// Opens a passive data listener on `ip` (replacing any prepared data
    /// connection) and returns its port, for PASV and EPSV.
    pub(crate) fn open_passive(&mut self, ip: std::net::IpAddr) -> Result<u16, CommandError> {
        self.data = None;
        let listener = bind_passive(ip, self.ctx.config.passive_ports.as_ref())
            .map_err(|e| CommandError::reply(ReplyCode::CANT_OPEN_DATA, format!("Cannot open a passive port: {e}.")))?;
        let port = listener.port();
        self.data = Some(DataSetup::Passive(listener));
        self.passive_deadline = Some(tokio::time::Instant::now() + self.ctx.config.data_timeout);
        Ok(port)
    }

    /// True if the user may move data to and from other hosts (FXP).
    pub(crate) fn fxp_allowed(&self) -> bool {
        self.account().is_ok_and(|a| a.policy.fxp)
    }

    /// Resolves a path argument against the working directory; refuses with
    /// 553 an overlong path or one with control characters.
    pub(crate) fn resolve(&self, arg: &str) -> Result<VirtualPath, CommandError> {
        check_path(arg).map_err(|p| name_refused(arg, p))?;
        Ok(self.cwd.join(arg))
    }

    /// Resolves the path of something about to be created: its new name must
    /// also pass [`check_new_name`] (no backslashes, look-alike separators,
    /// invisible characters).
    pub(crate) fn resolve_new(&self, arg: &str) -> Result<VirtualPath, CommandError> {
        let path = self.resolve(arg)?;
        let name = path.file_name().unwrap_or_default();
        check_new_name(name).map_err(|p| name_refused(name, p))?;
        Ok(path)
    }

    /// True once the control connection is protected.
    pub(crate) fn control_protected(&self) -> bool {
        self.writer.is_tls()
    }

    pub(crate) fn tls_context(&self) -> Option<&TlsContext> {
        self.ctx.tls.as_ref()
    }

    pub(crate) async fn send(&mut self, reply: &Reply) -> io::Result<()> {
        self.writer.send(reply).await
    }

    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.send_raw(bytes).await
    }

    /// Bytes moved so far by the running transfer, and what it is.
    pub(crate) fn transfer_status(&self) -> Option<(String, u64)> {
        self.transfer.as_ref().map(|t| (format!("{} {}", t.verb, t.path), t.handle.progress.load(Ordering::Relaxed)))
    }

    /// The quota that counts what is stored at `path`, if any: the account's,
    /// when the deepest mount holding `path` is one the quota covers.
    pub(crate) fn quota_at(&self, path: &VirtualPath) -> Option<Arc<QuotaUsage>> {
        let quota = self.quota.as_ref()?;
        let policy = &self.account().ok()?.policy;
        let mount = policy.mounts.iter().filter(|m| path.starts_with(m)).max_by_key(|m| m.depth());
        match mount {
            Some(m) if policy.quota_mounts.contains(m) => Some(Arc::clone(quota)),
            // Accounts without mount points (the command-line ones) have one tree.
            None if policy.mounts.is_empty() => Some(Arc::clone(quota)),
            _ => None,
        }
    }

    /// Starts counting an upload to `path` against its quota; refuses with 552
    /// when nothing more fits.
    pub(crate) fn quota_charge(
        &self,
        path: &VirtualPath,
        plan: QuotaPlan,
    ) -> Result<Option<QuotaCharge>, CommandError> {
        let Some(usage) = self.quota_at(path) else { return Ok(None) };
        QuotaCharge::start(usage, plan).map(Some).map_err(|text| CommandError::reply(ReplyCode::EXCEEDED_STORAGE, text))
    }

    /// True if the account has `right` at `path`.
    pub(crate) fn has(&self, right: Right, path: &VirtualPath) -> bool {
        self.account().is_ok_and(|a| right.granted_by(&a.rights.at(path)))
    }

    /// Whose this session's uploads to `path` are: the account's, and for the
    /// anonymous account (shared by everyone) the client address's too; and
    /// the quota that counts what is stored there.
    pub(crate) fn uploader(&self, path: &VirtualPath) -> Result<Uploader, CommandError> {
        let account = self.account()?;
        let owner = if account.anonymous {
            format!("{}@{}", account.name, self.peer.ip().to_canonical())
        } else {
            account.name.clone()
        };
        Ok(Uploader { owner, quota: self.quota_at(path).map(|q| q.owner().to_string()) })
    }

    /// True if the client sent `QUIT` among the commands held during a transfer.
    fn quit_queued(&self) -> bool {
        self.queued.iter().any(|l| l.as_ref().is_ok_and(|l| is_quit(l)))
    }

    /// True if this session stored the file now at `path` (`meta`).
    pub(crate) fn stored_here(&self, path: &VirtualPath, meta: &Metadata) -> bool {
        let identity = meta.identity();
        self.stored.iter().any(|(p, stored)| p == path && *stored == identity)
    }

    /// The rate limits a transfer obeys: the user's (shared by all their
    /// transfers) and the server's. Listings are not limited.
    fn throttle(&self, job: &Job) -> Result<Throttle, CommandError> {
        let account = self.account()?;
        let (direction, user_rate, server) = match job {
            Job::Send { .. } => (Direction::Download, account.policy.download_limit, &self.ctx.server_download),
            Job::Receive { .. } => (Direction::Upload, account.policy.upload_limit, &self.ctx.server_upload),
            Job::List { .. } => return Ok(Throttle::default()),
        };
        let user = user_rate.map(|r| self.ctx.user_rates.get(&account.name, direction, r));
        Ok(Throttle::new(user.into_iter().chain(server.clone())))
    }

    /// Starts a transfer on the prepared data connection. Replies 425 if there is
    /// none; otherwise the transfer task reports back and the loop sends 150/226.
    pub(crate) fn start_transfer(
        &mut self,
        job: Job,
        verb: &'static str,
        path: &VirtualPath,
        opened: String,
        done: String,
    ) -> Result<Outcome, CommandError> {
        let tls = if self.prot_private {
            let (Some(session), Some(ctx)) = (&self.tls, &self.ctx.tls) else {
                return Err(CommandError::reply(ReplyCode::LOCAL_ERROR, "TLS is not available."));
            };
            Some(DataTls {
                acceptor: match job {
                    Job::Receive { .. } => session.data_receive.clone(),
                    Job::Send { .. } | Job::List { .. } => session.data_send.clone(),
                },
                require_session_reuse: ctx.settings.require_session_reuse,
                handshake_timeout: ctx.settings.handshake_timeout,
            })
        } else {
            if self.ctx.tls.as_ref().is_some_and(|t| t.settings.data_required) {
                // RFC 4217 §9: 521 when the current PROT level is not acceptable.
                return Err(CommandError::reply(
                    ReplyCode(521),
                    "Data connections must be protected: send PBSZ 0 and PROT P first.",
                ));
            }
            None
        };
        let Some(setup) = self.data.take() else {
            if std::mem::take(&mut self.passive_expired) {
                let secs = self.ctx.config.data_timeout.as_secs();
                return Err(CommandError::reply(
                    ReplyCode::CANT_OPEN_DATA,
                    format!(
                        "The passive port was closed: no transfer command within {secs} seconds; send PASV or EPSV again."
                    ),
                ));
            }
            return Err(CommandError::reply(ReplyCode::CANT_OPEN_DATA, "Use PORT, PASV, EPRT or EPSV first."));
        };
        let throttle = self.throttle(&job)?;
        // With FXP the passive connection may come from another server.
        let peer_ip = (!self.fxp_allowed()).then(|| self.peer.ip());
        #[cfg(target_os = "linux")]
        let (setup, job) = if tls.is_none() && throttle.is_unlimited() {
            let started = Instant::now();
            match crate::data::send_at_once(setup, job, peer_ip) {
                crate::data::AtOnce::Sent(bytes) => {
                    self.writer.hold(&Reply::new(ReplyCode::FILE_STATUS_OK, opened));
                    let reply = self.transfer_reply(verb, &path.to_string(), &done, started, &Ok(bytes));
                    return Ok(Outcome::Reply(reply));
                }
                crate::data::AtOnce::Rest { setup, job } => (setup, job),
            }
        } else {
            (setup, job)
        };
        let params = TransferParams {
            local_ip: self.local.ip(),
            peer_ip,
            connect_timeout: self.ctx.config.data_timeout,
            stall_timeout: self.ctx.config.stall_timeout,
            path: path.to_string(),
            tls,
            throttle,
            min_rate: MinRate {
                bytes_per_second: self.ctx.config.min_transfer_rate,
                window: self.ctx.config.min_rate_window,
            },
        };
        let handle = spawn_transfer(setup, job, params);
        self.transfer = Some(Running {
            handle,
            opened,
            done,
            verb,
            path: path.to_string(),
            started: Instant::now(),
            abort_requested: false,
            file: None,
        });
        Ok(Outcome::Transfer)
    }

    /// Resets the session to just after the greeting (REIN, RFC 959 §4.1.1;
    /// RFC 7151 §3.2: HOST is reset too).
    pub(crate) fn reinitialize(&mut self) {
        self.login = Login::None;
        self.user_slot = None;
        self.quota = None;
        self.stored.clear();
        self.host = None;
        self.cwd = VirtualPath::root();
        self.transfer_type = TransferType::Ascii;
        self.pending = Pending::default();
        self.data = None;
        self.passive_deadline = None;
        self.passive_expired = false;
        self.epsv_all = false;
        self.facts = Facts::default();
        // The control connection keeps its TLS; the data protection level starts over
        // (implicit FTPS starts with protected data).
        self.pbsz = self.implicit_tls;
        self.prot_private = self.implicit_tls;
    }

    fn user_name(&self) -> &str {
        match &self.login {
            Login::LoggedIn(a) => &a.name,
            Login::User(u) => u,
            Login::None => "-",
        }
    }

    /// Handles one line: parse, check access and arguments, run the handler, reply.
    async fn handle_line(&mut self, line: Result<Vec<u8>, LineError>) -> io::Result<()> {
        let cmd = match line.and_then(|l| Command::parse(&l)) {
            Ok(c) => c,
            Err(e) => {
                let code = match e {
                    LineError::TooLong | LineError::Empty | LineError::BadVerb => ReplyCode::SYNTAX_ERROR,
                    LineError::BadUtf8 | LineError::Nul => ReplyCode::PARAMETER_SYNTAX_ERROR,
                };
                debug!(error = %e, "<- unparsable line");
                return self.send(&Reply::new(code, format!("Syntax error: {e}."))).await;
            }
        };
        if cmd.verb == "PASS" {
            debug!("<- PASS ****");
        } else {
            debug!(command = %cmd, "<-");
        }
        let reply = self.dispatch(&cmd).await;
        self.pending.after(&cmd.verb);
        if self.data.is_none() {
            self.passive_deadline = None;
        }
        if self.data.is_some() {
            self.passive_expired = false;
        }
        match reply {
            Ok(Outcome::Reply(r)) => self.send(&r).await,
            Ok(Outcome::Transfer | Outcome::Done) => Ok(()),
            Ok(Outcome::StartTls(r)) => {
                self.send(&r).await?;
                self.upgrade_requested = true;
                Ok(())
            }
            Ok(Outcome::StopTls(r)) => {
                self.send(&r).await?;
                self.downgrade_requested = true;
                Ok(())
            }
            Ok(Outcome::Close(r)) => {
                self.closing = true;
                self.send(&r).await
            }
            Err(e) => {
                let r = e.into_reply()?;
                self.send(&r).await
            }
        }
    }

    async fn dispatch(&mut self, cmd: &Command) -> Result<Outcome, CommandError> {
        let Some(spec) = commands::lookup(&cmd.verb) else {
            let verb: String = cmd.verb.chars().take(8).collect();
            return Err(CommandError::reply(ReplyCode::SYNTAX_ERROR, format!("{verb}: command not understood.")));
        };
        if spec.access == Access::LoggedIn && !matches!(self.login, Login::LoggedIn(_)) {
            return Err(CommandError::reply(ReplyCode::NOT_LOGGED_IN, "Please log in with USER and PASS first."));
        }
        let arg = cmd.arg.clone().filter(|a| !a.is_empty());
        if spec.arg == ArgRule::Required && arg.is_none() {
            return Err(CommandError::reply(
                ReplyCode::PARAMETER_SYNTAX_ERROR,
                format!("{} needs an argument: {}.", spec.verbs[0], spec.syntax),
            ));
        }
        (spec.handler)(self, arg).await
    }

    /// A line arriving while a transfer runs.
    async fn handle_line_during_transfer(&mut self, line: Result<Vec<u8>, LineError>) -> io::Result<()> {
        let verb = line.as_ref().ok().and_then(|l| Command::parse(l).ok()).map(|c| (c.verb, c.arg));
        match verb {
            Some((v, None)) if v == "ABOR" => {
                debug!("<- ABOR (during transfer)");
                if let Some(t) = &mut self.transfer {
                    t.abort_requested = true;
                    t.handle.abort();
                }
                Ok(())
            }
            Some((v, None)) if v == "STAT" => {
                let r = commands::stat::session_status(self);
                self.send(&r).await
            }
            Some((v, _)) if v == "NOOP" => self.send(&Reply::new(ReplyCode::OK, "NOOP ok.")).await,
            _ if self.queued.len() >= MAX_QUEUED => {
                self.send(&Reply::new(ReplyCode::BAD_SEQUENCE, "Too many commands during a transfer; command dropped."))
                    .await
            }
            _ => {
                self.queued.push_back(line);
                Ok(())
            }
        }
    }

    async fn on_data_event(&mut self, event: Option<DataEvent>) -> io::Result<()> {
        let Some(t) = &mut self.transfer else {
            return Ok(());
        };
        match event {
            Some(DataEvent::Opened) => {
                let r = Reply::new(ReplyCode::FILE_STATUS_OK, t.opened.clone());
                // A small transfer is often over by the time the session gets
                // to announce it: then 150 and 226 leave in one segment, which
                // saves a send and the client a wake-up per file.
                match t.handle.events.try_recv() {
                    Ok(DataEvent::Done(result)) => {
                        self.writer.hold(&r);
                        self.finish_transfer(result).await
                    }
                    // An upload already complete: the event loop answers it next.
                    Ok(DataEvent::Received(received)) => {
                        self.received = Some(received);
                        self.send(&r).await
                    }
                    _ => self.send(&r).await,
                }
            }
            Some(DataEvent::Done(result)) => self.finish_transfer(result).await,
            // Answered in the event loop, which holds the control reader.
            Some(DataEvent::Received(received)) => {
                t.file = received.file;
                let _ = received.answer.send(true);
                Ok(())
            }
            None => {
                self.transfer = None;
                self.send(&Reply::new(ReplyCode::LOCAL_ERROR, "Transfer ended unexpectedly.")).await
            }
        }
    }

    /// Logs the end of the running transfer and replies 226 or the error.
    async fn finish_transfer(&mut self, result: Result<u64, TransferError>) -> io::Result<()> {
        let Some(t) = self.transfer.take() else {
            return Ok(());
        };
        if let (Ok(_), Some(file)) = (&result, &t.file) {
            self.remember_stored(&t.path, file);
        }
        let reply = self.transfer_reply(t.verb, &t.path, &t.done, t.started, &result);
        if t.abort_requested {
            self.writer.hold(&reply);
            return self.send(&Reply::new(ReplyCode::CLOSING_DATA, "ABOR successful.")).await;
        }
        self.send(&reply).await
    }

    /// Remembers a file this session stored (`file`, its identity taken
    /// before it got its name), where the account could not change it otherwise.
    fn remember_stored(&mut self, path: &str, file: &FileIdentity) {
        let path = VirtualPath::root().join(path);
        if self.has(Right::Delete, &path) {
            return;
        }
        if self.stored.len() >= STORED_REMEMBERED {
            self.stored.pop_front();
        }
        self.stored.push_back((path, file.clone()));
    }

    /// Logs the end of a transfer and gives its reply: 226 with `done` (its
    /// `{bytes}` filled in), or the error's.
    fn transfer_reply(
        &self,
        verb: &str,
        path: &str,
        done: &str,
        started: Instant,
        result: &Result<u64, TransferError>,
    ) -> Reply {
        match result {
            Ok(bytes) => {
                let secs = started.elapsed().as_secs_f64();
                info!(
                    user = self.user_name(),
                    peer = %self.peer,
                    command = verb,
                    path,
                    bytes,
                    seconds = format!("{secs:.3}"),
                    rate = format!("{:.1} MB/s", *bytes as f64 / secs.max(1e-6) / 1e6),
                    "transfer complete"
                );
                Reply::new(ReplyCode::CLOSING_DATA, done.replace("{bytes}", &bytes.to_string()))
            }
            Err(e) => {
                info!(user = self.user_name(), peer = %self.peer, command = verb, path, error = %e, "transfer failed");
                e.to_reply()
            }
        }
    }
}

/// The 553 reply for a refused name.
fn name_refused(name: &str, problem: NameProblem) -> CommandError {
    let shown: String = name.chars().take(64).flat_map(char::escape_debug).collect();
    CommandError::reply(ReplyCode::NAME_NOT_ALLOWED, format!("File name not allowed: {problem} (\"{shown}\")."))
}

async fn next_event(t: &mut Option<Running>) -> Option<DataEvent> {
    match t {
        Some(t) => t.handle.events.recv().await,
        None => std::future::pending().await,
    }
}

/// The addresses of an accepted control connection, as far as the listener
/// knows them.
pub(crate) struct Addresses {
    /// The client's, from `accept`.
    pub(crate) peer: SocketAddr,
    /// The server's, when the listener is bound to one address.
    pub(crate) local: Option<SocketAddr>,
}

/// Runs a session on an accepted control connection until it ends. On an
/// implicit-FTPS listener the TLS handshake comes first (RFC 4217 §1, port 990).
pub(crate) async fn run(ctx: Arc<ServerContext>, stream: TcpStream, addresses: Addresses, id: u64, implicit: bool) {
    let peer = addresses.peer;
    let Some(local) = addresses.local.or_else(|| stream.local_addr().ok()) else { return };
    // One reply per segment without Nagle delays, and Telnet Synch (the urgent
    // byte before ABOR) read in line so IAC DM is stripped, not lost.
    let _ = stream.set_nodelay(true);
    let _ = socket2::SockRef::from(&stream).set_out_of_band_inline(true);
    let span = tracing::info_span!("session", id, peer = %peer);
    // Admission comes first, before any TLS handshake: a denied, banned or
    // over-the-limit address costs no handshake and holds no descriptor for
    // its timeout. On an implicit-FTPS port it is closed without a reply
    // (one in clear text would mean nothing to a TLS client).
    let admitted = if !ctx.config.ip_filter.permits(peer.ip()) {
        Err(Refusal::Address.to_string())
    } else if let Some(left) = ctx.login_guard.address_ban(peer.ip(), &ctx.config.login) {
        Err(commands::pass::banned_text("from your address", left))
    } else {
        let c = &ctx.config;
        ctx.connections.admit(peer.ip(), c.max_connections, c.max_connections_per_ip).map_err(|r| r.to_string())
    };
    let slot = match admitted {
        Ok(slot) => slot,
        Err(refusal) => {
            span.in_scope(|| info!(reason = %refusal, "connection refused"));
            if !implicit {
                use tokio::io::AsyncWriteExt;
                let mut stream = stream;
                let mut wire = Vec::new();
                Reply::new(ReplyCode::NOT_AVAILABLE, refusal).write_wire(&mut wire);
                let _ = stream.write_all(&wire).await;
                let _ = stream.shutdown().await;
            }
            return;
        }
    };
    let tls = if implicit { ctx.tls.as_ref().map(|t| (t.session(), t.settings.handshake_timeout)) } else { None };
    let (mut reader, writer, session_tls, client_certificate) = match tls {
        Some((session_tls, limit)) => {
            match accept_tls(&session_tls.acceptor, stream, limit).instrument(span.clone()).await {
                Ok(tls_stream) => {
                    let fingerprint = crate::tls::peer_fingerprint(tls_stream.get_ref().1);
                    let (r, w) = split_tls(tls_stream);
                    (r, w, Some(session_tls), fingerprint)
                }
                Err(e) => {
                    span.in_scope(|| info!(error = %e, "implicit TLS handshake failed"));
                    return;
                }
            }
        }
        None => {
            let (r, w) = split_plain(stream);
            (r, w, None, None)
        }
    };
    let shutdown = ctx.shutdown.clone();
    let mut s = Session {
        ctx,
        peer,
        local,
        writer,
        login: Login::None,
        host: None,
        client_name: None,
        cwd: VirtualPath::root(),
        transfer_type: TransferType::Ascii,
        pending: Pending::default(),
        data: None,
        passive_deadline: None,
        passive_expired: false,
        epsv_all: false,
        facts: Facts::default(),
        tls: session_tls,
        implicit_tls: implicit,
        pbsz: implicit,
        prot_private: implicit,
        upgrade_requested: false,
        downgrade_requested: false,
        client_certificate,
        user_slot: None,
        quota: None,
        stored: VecDeque::new(),
        transfer: None,
        received: None,
        queued: VecDeque::new(),
        closing: false,
    };
    async move {
        info!(local = %local, "session start");
        let started = Instant::now();
        let result = event_loop(&mut s, &mut reader, &shutdown).await;
        if let Some(mut t) = s.transfer.take() {
            t.handle.abort();
        }
        // Give back the session's places before the client sees the close, so a
        // client that reconnects at once is counted correctly.
        s.user_slot = None;
        drop(slot);
        s.writer.shutdown().await;
        info!(
            user = s.user_name(),
            seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
            error = result.err().map(|e| e.to_string()),
            "session end"
        );
    }
    .instrument(span)
    .await;
}

/// Performs the TLS handshake that `AUTH TLS` announced, or ends TLS after `CCC`.
async fn upgrade_if_requested(s: &mut Session, reader: &mut ControlReader) -> io::Result<()> {
    if std::mem::take(&mut s.downgrade_requested) {
        let limit = s.ctx.tls.as_ref().map_or(std::time::Duration::from_secs(10), |t| t.settings.handshake_timeout);
        stop_tls(reader, &mut s.writer, limit).await?;
        debug!("control connection back in clear text after CCC");
        return Ok(());
    }
    if !std::mem::take(&mut s.upgrade_requested) {
        return Ok(());
    }
    let Some(ctx) = &s.ctx.tls else { return Ok(()) };
    let session_tls = ctx.session();
    let limit = ctx.settings.handshake_timeout;
    s.client_certificate = start_tls(reader, &mut s.writer, &session_tls.acceptor, limit).await?;
    debug!(client_certificate = s.client_certificate.as_deref(), "control connection protected by TLS");
    s.tls = Some(session_tls);
    Ok(())
}

/// The session's deadlines, watched by one timer.
///
/// Arming a tokio timer earlier than the runtime's next wake-up wakes the
/// thread parked on the I/O driver (a write to its eventfd, and a trip through
/// the scheduler on the other core). A timer per deadline, created afresh at
/// every command, cost one such wake-up per command; perf showed it as most of
/// the eventfd writes of a session fetching small files. One timer, moved
/// earlier only when a deadline needs it and otherwise re-armed when it fires,
/// makes that about once per data timeout.
struct Deadlines {
    idle: tokio::time::Instant,
    login: tokio::time::Instant,
    shutdown: Option<tokio::time::Instant>,
    timer: Pin<Box<tokio::time::Sleep>>,
    armed: tokio::time::Instant,
}

impl Deadlines {
    fn new(s: &Session) -> Self {
        let now = tokio::time::Instant::now();
        let idle = now + s.ctx.config.idle_timeout;
        Deadlines {
            idle,
            login: now + s.ctx.config.login_timeout,
            shutdown: None,
            timer: Box::pin(tokio::time::sleep_until(idle)),
            armed: idle,
        }
    }

    /// The earliest deadline that applies in the session's state.
    fn next(&self, s: &Session) -> tokio::time::Instant {
        let idle = s.transfer.is_none().then_some(self.idle);
        let login = (!matches!(s.login, Login::LoggedIn(_))).then_some(self.login);
        let passive = s.passive_deadline.filter(|_| s.transfer.is_none());
        // Once the grace period is over the transfer has been aborted; the
        // session ends when it reports back.
        let now = tokio::time::Instant::now();
        let shutdown = self.shutdown.filter(|d| *d > now);
        // With nothing due (a transfer runs), the timer still fires now and
        // then, to look again.
        [idle, login, passive, shutdown].into_iter().flatten().min().unwrap_or_else(|| now + s.ctx.config.idle_timeout)
    }

    /// Moves the timer earlier if a deadline needs it.
    fn arm(&mut self, s: &Session) {
        let wanted = self.next(s);
        if wanted < self.armed {
            self.timer.as_mut().reset(wanted);
            self.armed = wanted;
        }
    }

    /// After the timer fired: arms it for the next deadline.
    fn rearm(&mut self, s: &Session) {
        let wanted = self.next(s);
        self.timer.as_mut().reset(wanted);
        self.armed = wanted;
    }
}

/// Answers an upload's question whether the client is still there: its
/// control connection open, or closed after `QUIT` (see `DataEvent::Received`).
fn answer_received(s: &mut Session, reader: &mut ControlReader, received: Received) {
    let gone = reader.client_gone() && !s.quit_queued();
    if gone {
        info!("control connection closed before the end of an upload; not stored");
    }
    if let Some(t) = &mut s.transfer {
        t.file = received.file;
    }
    let _ = received.answer.send(!gone);
}

async fn event_loop(s: &mut Session, reader: &mut ControlReader, shutdown: &CancellationToken) -> io::Result<()> {
    let banner = Reply::multi(ReplyCode::READY, s.ctx.config.banner.lines().map(str::to_string).collect());
    s.send(&banner).await?;
    let mut due = Deadlines::new(s);
    // The client closed its side after sending QUIT while a transfer ran: the
    // transfer ends, then the queued commands (the QUIT) are answered.
    let mut reader_done = false;
    loop {
        if s.closing {
            return Ok(());
        }
        if let Some(received) = s.received.take() {
            answer_received(s, reader, received);
        }
        if s.transfer.is_none() {
            if due.shutdown.is_some() {
                s.send(&Reply::new(ReplyCode::NOT_AVAILABLE, "Server shutting down.")).await?;
                return Ok(());
            }
            if let Some(line) = s.queued.pop_front() {
                s.handle_line(line).await?;
                upgrade_if_requested(s, reader).await?;
                due.idle = tokio::time::Instant::now() + s.ctx.config.idle_timeout;
                continue;
            }
            if reader_done {
                return Ok(());
            }
        }
        due.arm(s);
        tokio::select! {
            _ = shutdown.cancelled(), if due.shutdown.is_none() => {
                // Idle sessions are told at once; a running transfer gets the grace period.
                due.shutdown = Some(tokio::time::Instant::now() + s.ctx.config.shutdown_grace);
            }
            event = next_event(&mut s.transfer) => {
                if let Some(DataEvent::Received(received)) = event {
                    // The upload is complete on disk; it is given its name only
                    // if the client is still there.
                    answer_received(s, reader, received);
                    continue;
                }
                s.on_data_event(event).await?;
                due.idle = tokio::time::Instant::now() + s.ctx.config.idle_timeout;
            }
            line = reader.next_line(), if !reader_done => {
                let Some(line) = line? else {
                    // The client closed the connection. A client that sent QUIT
                    // without waiting for its upload's 226 still gets the upload
                    // stored (and 226, 221 if it listens).
                    if s.transfer.is_some() && s.quit_queued() {
                        reader_done = true;
                        continue;
                    }
                    return Ok(());
                };
                if s.transfer.is_some() {
                    s.handle_line_during_transfer(line).await?;
                } else {
                    s.handle_line(line).await?;
                    upgrade_if_requested(s, reader).await?;
                }
                due.idle = tokio::time::Instant::now() + s.ctx.config.idle_timeout;
            }
            () = &mut due.timer => {
                let now = tokio::time::Instant::now();
                if due.shutdown.is_some_and(|d| d <= now) {
                    // The grace period is over.
                    if let Some(t) = &mut s.transfer {
                        t.handle.abort();
                    }
                }
                if !matches!(s.login, Login::LoggedIn(_)) && due.login <= now {
                    // However slowly the client trickles bytes, this ends the session (slowloris).
                    let secs = s.ctx.config.login_timeout.as_secs();
                    info!("login timeout");
                    s.send(&Reply::new(ReplyCode::NOT_AVAILABLE, format!("Login timeout: not logged in within {secs} seconds; closing."))).await?;
                    return Ok(());
                }
                if s.transfer.is_none() && s.passive_deadline.is_some_and(|d| d <= now) {
                    s.passive_deadline = None;
                    if matches!(s.data, Some(DataSetup::Passive(_))) {
                        debug!("passive listener closed: no transfer command within the data timeout");
                        s.data = None;
                        s.passive_expired = true;
                    }
                }
                if s.transfer.is_none() && due.idle <= now {
                    let secs = s.ctx.config.idle_timeout.as_secs();
                    s.send(&Reply::new(ReplyCode::NOT_AVAILABLE, format!("Timeout: no command for {secs} seconds; closing."))).await?;
                    return Ok(());
                }
                due.rearm(s);
            }
        }
    }
}
