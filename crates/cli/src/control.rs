//! The control socket: a Unix socket (mode 0600) on which `ferroftp reload`
//! asks a running server to read its configuration again (and gets back
//! either `ok` or the mistakes that made it keep the old one), and `ferroftp
//! bans` lists or lifts the bans after failed logins.
//!
//! One request line in, the answer out, then the connection closes:
//! `reload`, `bans`, `lift TARGET`.

use crate::serve::{ServeArgs, reload as reload_config};
use anyhow::{Context, bail};
use ferroftp_server::ServerHandle;
use ferroftp_server::limits::BanTarget;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tracing::{info, warn};

/// Binds the socket, replacing a stale one from an earlier run.
pub fn listen(path: &Path) -> anyhow::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            bail!("{} exists and is not a socket; remove it or choose another control_socket", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing the old socket {}", path.display()))?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("cannot create the control socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {} to its owner", path.display()))?;
    Ok(listener)
}

/// Answers requests: one line (`reload`) in, the result out.
pub async fn serve(listener: UnixListener, args: Arc<ServeArgs>, handle: ServerHandle) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (read, mut write) = stream.into_split();
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(read.take(1024));
        if reader.read_line(&mut line).await.is_err() {
            continue;
        }
        let answer = match line.trim() {
            "reload" => match reload_config(&args, &handle) {
                Ok(()) => {
                    info!("control socket: configuration reloaded; new sessions use it, running sessions go on");
                    "ok\n".to_string()
                }
                Err(e) => {
                    warn!("control socket: configuration not reloaded, the running one stays:\n{e:#}");
                    format!("{e:#}\n")
                }
            },
            "bans" => list_bans(&handle),
            other if other.starts_with("lift ") => {
                let target = BanTarget::parse(other["lift ".len()..].trim());
                if handle.lift_ban(&target) {
                    "ok\n".to_string()
                } else if matches!(target, BanTarget::User(_)) {
                    format!("{target} has no failed logins to forget\n")
                } else {
                    format!("{target} is not banned\n")
                }
            }
            other => format!("unknown request {other:?}; the requests are: reload, bans, lift TARGET\n"),
        };
        let _ = write.write_all(answer.as_bytes()).await;
    }
}

/// The `bans` answer: one ban per line, or a line saying there are none.
fn list_bans(handle: &ServerHandle) -> String {
    let bans = handle.bans();
    if bans.is_empty() {
        return "no bans\n".to_string();
    }
    let mut out = String::new();
    for ban in bans {
        let target = ban.target.as_arg();
        let left = ban.remaining.as_secs();
        out.push_str(&format!(
            "{target:<40} {:>3}m{:02}s left  {} failed logins\n",
            left / 60,
            left % 60,
            ban.failures
        ));
    }
    out
}

/// Sends one request and returns the answer.
fn request(socket: &Path, line: &str) -> anyhow::Result<String> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).with_context(|| {
        format!("cannot reach a server at {} (is server.control_socket set in its configuration?)", socket.display())
    })?;
    stream.write_all(format!("{line}\n").as_bytes())?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut answer = String::new();
    for line in BufReader::new(stream).lines() {
        answer.push_str(&line?);
        answer.push('\n');
    }
    Ok(answer)
}

/// `ferroftp bans`: lists the bans in force, or lifts one.
pub fn bans(socket: &Path, lift: Option<&str>) -> anyhow::Result<()> {
    match lift {
        None => {
            print!("{}", request(socket, "bans")?);
            Ok(())
        }
        Some(target) => {
            let answer = request(socket, &format!("lift {target}"))?;
            if answer.trim() == "ok" {
                println!("ban lifted: {target}");
                Ok(())
            } else {
                bail!("{}", answer.trim_end())
            }
        }
    }
}

/// `ferroftp reload`: asks the server behind `socket` to reload.
pub fn reload(socket: &Path) -> anyhow::Result<()> {
    let answer = request(socket, "reload")?;
    if answer.trim() == "ok" {
        println!("configuration reloaded");
        Ok(())
    } else {
        bail!("the server kept its configuration:\n{}", answer.trim_end())
    }
}
