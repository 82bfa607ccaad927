//! The control socket: a Unix socket (mode 0600) on which `ferroftp reload`
//! asks a running server to read its configuration again, and gets back
//! either `ok` or the mistakes that made it keep the old one.

use crate::serve::{ServeArgs, reload as reload_config};
use anyhow::{Context, bail};
use ferroftp_server::ServerHandle;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tracing::{info, warn};

/// Binds the socket, replacing a stale one from an earlier run.
pub fn listen(path: &Path) -> anyhow::Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            bail!("{} exists and is not a socket; remove it or choose another control_socket", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing the old socket {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot create the control socket {}", path.display()))?;
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
            other => format!("unknown request {other:?}; the requests are: reload\n"),
        };
        let _ = write.write_all(answer.as_bytes()).await;
    }
}

/// `ferroftp reload`: asks the server behind `socket` to reload.
pub fn reload(socket: &Path) -> anyhow::Result<()> {
    let mut stream = std::os::unix::net::UnixStream::connect(socket).with_context(|| {
        format!("cannot reach a server at {} (is server.control_socket set? else send SIGHUP)", socket.display())
    })?;
    stream.write_all(b"reload\n")?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut answer = String::new();
    for line in BufReader::new(stream).lines() {
        answer.push_str(&line?);
        answer.push('\n');
    }
    if answer.trim() == "ok" {
        println!("configuration reloaded");
        Ok(())
    } else {
        bail!("the server kept its configuration:\n{}", answer.trim_end())
    }
}
