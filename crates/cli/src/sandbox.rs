//! What the process gives up before it serves anyone: root (to a configured
//! user, once the ports are bound) and, where the kernel has Landlock, access
//! to every file outside the served folders and what the server itself reads.
//!
//! Both are applied while the process has a single thread, before the Tokio
//! runtime starts: Landlock restricts the calling thread and the threads it
//! creates afterwards, so every worker inherits it.

use anyhow::{Context, bail};
use landlock::{ABI, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, path_beneath_rules};
use nix::unistd::{Gid, Group, Uid, User};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing::{info, warn};

/// Files outside the served folders the running server may read: name
/// resolution (for a host name in `public_address`), user and group names,
/// the time zone, the spare descriptor kept for running out, and the shared
/// libraries name resolution loads.
const SYSTEM_READ: &[&str] = &[
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/services",
    "/etc/localtime",
    "/etc/passwd",
    "/etc/group",
    "/dev/null",
    "/dev/urandom",
    "/usr/lib",
    "/usr/lib64",
    "/lib",
    "/lib64",
];

/// Switches to `user` (and `group`, else the user's own group) when running as
/// root. Already running as that user is fine; any other user cannot switch.
pub fn drop_privileges(user: Option<&str>, group: Option<&str>) -> anyhow::Result<()> {
    let euid = Uid::effective();
    let Some(name) = user else {
        if euid.is_root() {
            warn!("running as root: set server.user (or --run-as) to give up root once the ports are bound");
        }
        return Ok(());
    };
    let account = User::from_name(name)
        .with_context(|| format!("looking up server.user {name:?}"))?
        .with_context(|| format!("server.user {name:?}: no such user on this system"))?;
    let gid = match group {
        Some(g) => {
            Group::from_name(g)
                .with_context(|| format!("looking up server.group {g:?}"))?
                .with_context(|| format!("server.group {g:?}: no such group on this system"))?
                .gid
        }
        None => account.gid,
    };
    if euid == account.uid && Gid::effective() == gid {
        return Ok(());
    }
    if !euid.is_root() {
        bail!(
            "server.user = {name:?}: switching users needs root (running as uid {euid}); start as root or remove the setting"
        );
    }
    nix::unistd::setgroups(&[gid]).context("dropping supplementary groups")?;
    nix::unistd::setgid(gid).with_context(|| format!("switching to group {gid}"))?;
    nix::unistd::setuid(account.uid).with_context(|| format!("switching to user {name}"))?;
    // Make sure there is no way back.
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        bail!("could not give up root: setuid(0) still works after switching to {name}");
    }
    info!(user = name, uid = account.uid.as_raw(), gid = gid.as_raw(), "ports bound; gave up root");
    Ok(())
}

/// Set once the sandbox is in force.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// True if this process is restricted by Landlock.
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// What the sandbox allows.
pub struct Allowed {
    /// Read and write: the served folders.
    pub folders: Vec<PathBuf>,
    /// Read only: the configuration file, certificates and keys, their folders.
    pub read: Vec<PathBuf>,
}

/// Restricts this process with Landlock to what is beneath `read_write`
/// (anything) and `read_only` (reading); returns how far the kernel enforces it.
pub fn enter(read_write: &[PathBuf], read_only: &[PathBuf]) -> anyhow::Result<RulesetStatus> {
    let abi = ABI::V5;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .context("preparing the Landlock sandbox")?
        .create()
        .context("creating the Landlock sandbox")?
        .add_rules(path_beneath_rules(read_write, AccessFs::from_all(abi)))
        .context("allowing the served folders")?
        .add_rules(path_beneath_rules(read_only, AccessFs::from_read(abi)))
        .context("allowing the configuration and system files")?
        .restrict_self()
        .context("entering the Landlock sandbox")?;
    Ok(status.ruleset)
}

/// Restricts file access with Landlock and says in the log whether it is in
/// force. A kernel without Landlock is not an error: the log says so.
pub fn restrict(allowed: &Allowed) -> anyhow::Result<bool> {
    let mut read = allowed.read.clone();
    read.extend(SYSTEM_READ.iter().map(PathBuf::from));
    let status = enter(&allowed.folders, &read)?;
    let folders = allowed.folders.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    match status {
        RulesetStatus::FullyEnforced => {
            ACTIVE.store(true, Ordering::Relaxed);
            info!(%folders, "sandbox: Landlock active; files outside the served folders are out of reach");
            Ok(true)
        }
        RulesetStatus::PartiallyEnforced => {
            ACTIVE.store(true, Ordering::Relaxed);
            info!(%folders, "sandbox: Landlock partly active (older kernel); files outside the served folders are out of reach for most operations");
            Ok(true)
        }
        RulesetStatus::NotEnforced => {
            warn!("sandbox: Landlock is not available on this kernel; the server is not sandboxed");
            Ok(false)
        }
    }
}
