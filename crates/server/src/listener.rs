//! Control listeners, the accept loop and graceful shutdown.

use crate::auth::Authenticator;
use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::limits::{Ban, BanTarget, Reserve, is_exhaustion};
use crate::session::{self, ServerContext};
use crate::tls::{TlsContext, TlsError};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

/// What outlives a configuration reload.
struct Shared {
    /// The configuration new sessions start with; `reload` replaces it.
    current: RwLock<Arc<ServerContext>>,
    shutdown: CancellationToken,
}

impl Shared {
    fn current(&self) -> Arc<ServerContext> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A bound FTP server, ready to [`run`](Server::run).
pub struct Server {
    shared: Arc<Shared>,
    /// Control listeners; `true` marks implicit-FTPS ones.
    listeners: Vec<(TcpListener, bool)>,
    tls_fingerprint: Option<String>,
}

/// Controls a running server from another task.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Re-reads the TLS certificate and key (after a renewal). New handshakes
    /// use them; running sessions are not touched. On error the old certificate
    /// stays in use. Returns the new certificate's SHA-256 fingerprint, or
    /// `None` when TLS is not configured.
    pub fn reload_tls(&self) -> Result<Option<String>, TlsError> {
        self.shared.current().tls.as_ref().map(TlsContext::reload).transpose()
    }

    /// Replaces the configuration and accounts: sessions that start from now on
    /// use them, running sessions keep theirs. On error nothing changes. Listen
    /// addresses are bound once; a change to them waits for a restart (logged).
    /// Returns the SHA-256 fingerprint of the TLS certificate now in use.
    pub fn reload(&self, config: ServerConfig, auth: Arc<dyn Authenticator>) -> Result<Option<String>, ServerError> {
        let old = self.shared.current();
        let tls = config.tls.clone().map(TlsContext::new).transpose()?;
        let fingerprint = tls.as_ref().map(|(_, f)| f.clone());
        let tls = tls.map(|(ctx, _)| ctx);
        let implicit = |c: &ServerConfig| c.tls.as_ref().map(|t| t.implicit_listen.clone()).unwrap_or_default();
        if config.listen != old.config.listen || implicit(&config) != implicit(&old.config) {
            warn!("listen addresses changed in the configuration; they take effect at the next restart");
        }
        let ctx = Arc::new(ServerContext::new(config, auth, self.shared.shutdown.clone(), tls, Some(&old)));
        *self.shared.current.write().unwrap_or_else(|e| e.into_inner()) = ctx;
        Ok(fingerprint)
    }

    /// The bans in force after repeated failed logins (RFC 2577 §4).
    pub fn bans(&self) -> Vec<Ban> {
        self.shared.current().login_guard.bans()
    }

    /// Sessions open now (logged in or not).
    pub fn sessions(&self) -> u32 {
        self.shared.current().connections.total()
    }

    /// Counters of the password checks (run, refused for want of room, ...).
    pub fn password_check_stats(&self) -> crate::auth::CheckStats {
        self.shared.current().password_checks.stats()
    }

    /// Lifts an address's ban (an address, or an IPv6 /64 as listed) and
    /// forgets the failures behind it, or forgets a user name's failures
    /// (`user:NAME`), which ends the delays they cause. False if there was
    /// nothing to lift.
    pub fn lift_ban(&self, target: &BanTarget) -> bool {
        let lifted = self.shared.current().login_guard.lift(target);
        if lifted {
            info!(%target, "ban lifted");
        }
        lifted
    }

    /// Stops accepting, tells idle sessions `421`, lets running transfers finish
    /// within the grace period, then closes.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
    }
}

/// Finds interrupted uploads left by an earlier run (a walk of the served
/// folders at start), then removes those older than `keep_partial_uploads`
/// now and every quarter of that time (between 1 s and 1 min), giving their
/// bytes back to the quotas that counted them, and the staging folders that
/// are empty (they stay between uploads into a folder: creating and removing
/// one for each upload cost a fifth of the speed of small uploads). Ends
/// with the server.
async fn sweep_staged_uploads(shared: Arc<Shared>) {
    /// Folders the start-up walk visits at most.
    const MAX_DIRS: usize = 200_000;
    let folders = shared.current().auth.folders();
    let started = std::time::Instant::now();
    let walked = folders.clone();
    let visited =
        tokio::task::spawn_blocking(move || crate::storage::discover_staging(&walked, MAX_DIRS)).await.unwrap_or(0);
    tracing::debug!(folders = visited, seconds = started.elapsed().as_secs_f64(), "looked for interrupted uploads");
    loop {
        let ctx = shared.current();
        let keep = ctx.config.keep_partial_uploads;
        // The folders of the accounts as configured now (a reload may add some).
        let roots = ctx.auth.folders();
        let swept =
            tokio::task::spawn_blocking(move || crate::storage::sweep_staging(keep, &roots)).await.unwrap_or_default();
        for freed in &swept.removed {
            if let Some(tag) = &freed.quota {
                ctx.quotas.released(tag, freed.bytes).await;
            }
        }
        let every = (keep / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// `EAFNOSUPPORT` on Linux: the kernel was built or booted without IPv6.
const fn libc_eafnosupport() -> i32 {
    97
}

/// The control listeners of a configuration, bound but not yet serving: bound
/// first so that a server started as root can bind ports below 1024 and then
/// give up root before it serves anyone.
#[derive(Debug)]
pub struct Listeners(Vec<(std::net::TcpListener, bool)>);

impl Listeners {
    /// Binds every listen address (and the implicit-FTPS ones). An IPv6
    /// address the machine cannot bind (no IPv6 configured) is skipped with
    /// one warning; any other failure is an error.
    pub fn bind(config: &ServerConfig) -> Result<Listeners, ServerError> {
        let implicit = config.tls.as_ref().map(|t| t.implicit_listen.clone()).unwrap_or_default();
        let mut listeners = Vec::new();
        let mut warned_v6 = false;
        let all = config.listen.iter().map(|a| (*a, false)).chain(implicit.into_iter().map(|a| (a, true)));
        for (addr, is_implicit) in all {
            match bind_one(addr) {
                Ok(l) => listeners.push((l, is_implicit)),
                Err(e)
                    if addr.is_ipv6()
                        && (matches!(e.kind(), io::ErrorKind::AddrNotAvailable | io::ErrorKind::Unsupported)
                            || e.raw_os_error() == Some(libc_eafnosupport())) =>
                {
                    if !warned_v6 {
                        warn!(%addr, error = %e, "IPv6 is not available on this machine; serving IPv4 only");
                        warned_v6 = true;
                    }
                }
                Err(source) => return Err(ServerError::Bind { addr, source }),
            }
        }
        if listeners.is_empty() {
            return Err(ServerError::NoListener);
        }
        Ok(Listeners(listeners))
    }
}

fn bind_one(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        // Keep [::]:21 and 0.0.0.0:21 separate listeners, as configured.
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// With no descriptor left: frees the reserved one, accepts the waiting
/// connection, tells it `421` and closes it, then takes the reserve back.
/// Sessions already running are not touched.
async fn refuse_one(listener: &TcpListener, reserve: &mut Reserve) {
    reserve.release();
    if let Ok(Ok((stream, _))) = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await {
        let _ = stream.try_write(b"421 Server busy (out of resources); try again later.\r\n");
        drop(stream);
    } else {
        // Nothing could be accepted even so: give sessions time to close some.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    reserve.refill();
}

impl Server {
    /// Binds every listen address. An IPv6 address the machine cannot bind (no
    /// IPv6 configured) is skipped with one warning; any other failure is an error.
    pub async fn bind(config: ServerConfig, auth: Arc<dyn Authenticator>) -> Result<Server, ServerError> {
        let listeners = Listeners::bind(&config)?;
        Server::with_listeners(config, auth, listeners)
    }

    /// A server on listeners bound earlier (by [`Listeners::bind`], before the
    /// process gave up its privileges). Runs inside the Tokio runtime.
    pub fn with_listeners(
        config: ServerConfig,
        auth: Arc<dyn Authenticator>,
        bound: Listeners,
    ) -> Result<Server, ServerError> {
        let (tls, tls_fingerprint) = match config.tls.clone() {
            Some(settings) => {
                let (ctx, fingerprint) = TlsContext::new(settings)?;
                (Some(ctx), Some(fingerprint))
            }
            None => (None, None),
        };
        let mut listeners = Vec::new();
        for (l, implicit) in bound.0 {
            let addr = l.local_addr().ok();
            let l = TcpListener::from_std(l).map_err(|source| ServerError::Bind {
                addr: addr.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
                source,
            })?;
            listeners.push((l, implicit));
        }
        let shutdown = CancellationToken::new();
        let ctx = Arc::new(ServerContext::new(config, auth, shutdown.clone(), tls, None));
        let shared = Arc::new(Shared { current: RwLock::new(ctx), shutdown });
        Ok(Server { shared, listeners, tls_fingerprint })
    }

    /// The addresses actually bound (with the real port when 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter(|(_, i)| !i).filter_map(|(l, _)| l.local_addr().ok()).collect()
    }

    /// The addresses of the implicit-FTPS listeners.
    pub fn implicit_tls_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().filter(|(_, i)| *i).filter_map(|(l, _)| l.local_addr().ok()).collect()
    }

    /// True when TLS is required on the control connection.
    pub fn tls_required(&self) -> bool {
        self.shared.current().tls.as_ref().is_some_and(|t| t.settings.control == crate::tls::TlsPolicy::Required)
    }

    /// SHA-256 fingerprint of the TLS certificate, when TLS is configured.
    pub fn tls_fingerprint(&self) -> Option<&str> {
        self.tls_fingerprint.as_deref()
    }

    /// A handle that can stop the server.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle { shared: Arc::clone(&self.shared) }
    }

    /// Accepts sessions until shutdown, then waits for them to close.
    ///
    /// Each listener's task starts the sessions it accepts itself, on the
    /// worker thread that accepted them: handing connections to one loop over a
    /// channel cost two thread wake-ups per connection (perf: the futex calls
    /// of a login benchmark were mostly that hand-over).
    pub async fn run(self) {
        let tracker = TaskTracker::new();
        let next_id = Arc::new(std::sync::atomic::AtomicU64::new(0));
        for (listener, implicit) in self.listeners {
            let shared = Arc::clone(&self.shared);
            let sessions = tracker.clone();
            let next_id = Arc::clone(&next_id);
            // A listener on one address gives its sessions their local address
            // (no getsockname per session); a wildcard one cannot.
            let bound = listener.local_addr().ok().filter(|a| !a.ip().is_unspecified());
            tracker.spawn(async move {
                let mut reserve = Reserve::new();
                let mut warned: Option<tokio::time::Instant> = None;
                loop {
                    let accepted = tokio::select! {
                        _ = shared.shutdown.cancelled() => return,
                        a = listener.accept() => a,
                    };
                    match accepted {
                        Ok((stream, peer)) => {
                            let id = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                            let addresses = session::Addresses { peer, local: bound };
                            sessions.spawn(session::run(shared.current(), stream, addresses, id, implicit));
                        }
                        Err(e) if is_exhaustion(&e) => {
                            if warned.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                                warn!(error = %e, "out of file descriptors: new connections get 421 (raise server.open_files)");
                                warned = Some(tokio::time::Instant::now());
                            }
                            refuse_one(&listener, &mut reserve).await;
                        }
                        Err(e) => {
                            // Something else: back off instead of spinning.
                            warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            });
        }
        tracker.spawn(sweep_staged_uploads(Arc::clone(&self.shared)));
        self.shared.shutdown.cancelled().await;
        info!("shutting down: no new sessions; waiting for open sessions to close");
        tracker.close();
        tracker.wait().await;
        info!("all sessions closed");
    }
}
