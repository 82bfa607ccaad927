//! The one-shot client commands: `ls`, `get`, `put`, `rm`, `mkdir`, `mv`, `fxp`.

use super::progress::Output;
use super::transfer::{Conn, TransferOptions, download, upload};
use super::{ConnectArgs, block_on, parse_url};
use anyhow::{Context as _, bail};
use clap::Args;
use ferroftp_client::fxp::{self, FxpOutcome};
use ferroftp_client::{Entry, FileKind, FtpUrl, TransferType};
use ferroftp_proto::timeval;
use std::path::{Path, PathBuf};

/// `--resume`, `--verify`, `--preserve`.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct TransferArgs {
    /// Continue an interrupted transfer: a download from its NAME.part file,
    /// an upload from the size the server already has.
    #[arg(long)]
    pub resume: bool,
    /// Check the result: the server's checksum (HASH, XSHA256 …) where it
    /// offers one, else the size.
    #[arg(long)]
    pub verify: bool,
    /// Keep modification times (MDTM on download; MFMT on upload).
    #[arg(long)]
    pub preserve: bool,
    /// Transfer in ASCII type (text; line ends converted).
    #[arg(long)]
    pub ascii: bool,
}

impl TransferArgs {
    pub fn options(&self) -> TransferOptions {
        TransferOptions { resume: self.resume, verify: self.verify, preserve: self.preserve }
    }
}

/// `ferroftp ls URL`
#[derive(Args, Debug)]
pub struct LsArgs {
    /// The directory (or file) to list: ftp://[USER[:PASSWORD]@]HOST[:PORT]/PATH
    pub url: String,
    /// Print the server's LIST output exactly as sent.
    #[arg(long)]
    pub raw: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn ls(args: LsArgs) -> anyhow::Result<()> {
    let url = parse_url(&args.url)?;
    block_on(async {
        let mut conn = Conn::open(&url, &args.connect).await?;
        let path = url.path();
        let path = (!path.is_empty()).then_some(path.as_str());
        if args.raw {
            for line in conn.session.list(path).await? {
                println!("{line}");
            }
        } else {
            let listing = conn.session.read_dir(path).await?;
            let mut entries = listing.entries;
            entries.sort_by(|a, b| a.name.cmp(&b.name));
            if args.connect.json {
                for e in &entries {
                    println!("{}", entry_json(e));
                }
            } else {
                for e in &entries {
                    println!("{}", entry_line(e));
                }
            }
            // Lines no parser understood are shown as they came, never dropped.
            for raw in &listing.unparsed {
                if args.connect.json {
                    println!("{}", serde_json::json!({ "unparsed": raw }));
                } else {
                    println!("{raw}");
                }
            }
        }
        let _ = conn.session.quit().await;
        Ok(())
    })
}

/// One line of `ferroftp ls`: kind, size, UTC time, name.
pub fn entry_line(e: &Entry) -> String {
    let kind = e.kind.ls_char();
    let when = timeval::to_utc(e.modified);
    let mut line = format!(
        "{kind} {:>14}  {:04}-{:02}-{:02} {:02}:{:02}  {}",
        e.size,
        when.year(),
        u8::from(when.month()),
        when.day(),
        when.hour(),
        when.minute(),
        e.name
    );
    if e.kind == FileKind::Dir {
        line.push('/');
    }
    if let Some(t) = &e.link_target {
        line.push_str(" -> ");
        line.push_str(t);
    }
    line
}

fn entry_json(e: &Entry) -> serde_json::Value {
    let kind = match e.kind {
        FileKind::File => "file",
        FileKind::Dir => "dir",
        FileKind::Symlink => "symlink",
        _ => "other",
    };
    serde_json::json!({
        "name": e.name, "type": kind, "size": e.size,
        "modified": timeval::format(e.modified), "target": e.link_target,
    })
}

/// `ferroftp get URL [LOCAL]`
#[derive(Args, Debug)]
pub struct GetArgs {
    /// The file to download.
    pub url: String,
    /// Where to write it: a file, a directory, or - for standard output
    /// (default: the remote name, in the current directory).
    pub local: Option<PathBuf>,
    #[command(flatten)]
    pub transfer: TransferArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn get(args: GetArgs) -> anyhow::Result<()> {
    let url = parse_url(&args.url)?;
    let Some(name) = url.file_name().map(str::to_string) else {
        bail!("{url} names a directory; give a file, or use `ferroftp mirror` for a whole directory");
    };
    let out = Output::new(args.connect.quiet, args.connect.json);
    block_on(async {
        let mut conn = Conn::open(&url, &args.connect).await?;
        if args.transfer.ascii {
            conn.session.set_type(TransferType::Ascii).await?;
        }
        let remote = url.path();
        if args.local.as_deref() == Some(Path::new("-")) {
            let mut stdout = tokio::io::stdout();
            conn.session.retrieve(&remote, 0, &mut stdout, &mut |_| {}).await?;
        } else {
            let local = match args.local {
                Some(p) if p.is_dir() => p.join(&name),
                Some(p) => p,
                None => PathBuf::from(&name),
            };
            let done = download(&mut conn, &remote, &local, args.transfer.options(), &out, &mut |_| {}).await?;
            out.result(done.json("get", &url.to_string(), &local));
            out.note(&format!("{} ← {url}: {} bytes", local.display(), done.bytes + done.skipped));
        }
        let _ = conn.session.quit().await;
        Ok(())
    })
}

/// `ferroftp put LOCAL URL`
#[derive(Args, Debug)]
pub struct PutArgs {
    /// The file to upload.
    pub local: PathBuf,
    /// Where: a file URL, or a directory URL ending in / (the local name is kept).
    pub url: String,
    #[command(flatten)]
    pub transfer: TransferArgs,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn put(args: PutArgs) -> anyhow::Result<()> {
    let url = parse_url(&args.url)?;
    let out = Output::new(args.connect.quiet, args.connect.json);
    let meta = std::fs::metadata(&args.local)
        .map_err(|e| ferroftp_client::ClientError::Local { path: args.local.display().to_string(), cause: e })?;
    if !meta.is_file() {
        bail!("{} is not a file; use `ferroftp mirror --reverse` for a directory", args.local.display());
    }
    let remote = match url.file_name() {
        Some(_) => url.path(),
        None => {
            let name = args.local.file_name().context("the local path has no file name")?.to_string_lossy();
            let dir = url.path();
            if dir.is_empty() { name.into_owned() } else { format!("{}/{name}", dir.trim_end_matches('/')) }
        }
    };
    block_on(async {
        let mut conn = Conn::open(&url, &args.connect).await?;
        if args.transfer.ascii {
            conn.session.set_type(TransferType::Ascii).await?;
        }
        let done = upload(&mut conn, &args.local, &remote, args.transfer.options(), &out, &mut |_| {}).await?;
        out.result(done.json("put", &remote, &args.local));
        out.note(&format!("{} → {remote}: {} bytes", args.local.display(), done.bytes + done.skipped));
        let _ = conn.session.quit().await;
        Ok(())
    })
}

/// `ferroftp rm URL...`
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Files to delete (directories with --dir or -r).
    #[arg(required = true)]
    pub urls: Vec<String>,
    /// Remove empty directories (RMD) instead of files.
    #[arg(long)]
    pub dir: bool,
    /// Remove directories and everything in them.
    #[arg(short, long)]
    pub recursive: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn rm(args: RmArgs) -> anyhow::Result<()> {
    let urls = args.urls.iter().map(|u| parse_url(u)).collect::<anyhow::Result<Vec<FtpUrl>>>()?;
    block_on(async {
        for url in &urls {
            let mut conn = Conn::open(url, &args.connect).await?;
            let path = url.path();
            if args.recursive {
                remove_tree(&mut conn.session, &path).await?;
            } else if args.dir {
                conn.session.rmdir(&path).await?;
            } else {
                conn.session.delete(&path).await?;
            }
            let _ = conn.session.quit().await;
        }
        Ok(())
    })
}

/// Deletes a file, or a directory with everything in it.
pub async fn remove_tree(session: &mut ferroftp_client::Session, path: &str) -> anyhow::Result<()> {
    if session.delete(path).await.is_ok() {
        return Ok(());
    }
    let listing = session.read_dir(Some(path)).await?;
    for e in listing.entries {
        let child = format!("{}/{}", path.trim_end_matches('/'), e.name);
        if e.kind == FileKind::Dir {
            Box::pin(remove_tree(session, &child)).await?;
        } else {
            session.delete(&child).await?;
        }
    }
    session.rmdir(path).await?;
    Ok(())
}

/// `ferroftp mkdir URL...`
#[derive(Args, Debug)]
pub struct MkdirArgs {
    #[arg(required = true)]
    pub urls: Vec<String>,
    /// Create missing parents too; an existing directory is no error.
    #[arg(short, long)]
    pub parents: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn mkdir(args: MkdirArgs) -> anyhow::Result<()> {
    let urls = args.urls.iter().map(|u| parse_url(u)).collect::<anyhow::Result<Vec<FtpUrl>>>()?;
    block_on(async {
        for url in &urls {
            let mut conn = Conn::open(url, &args.connect).await?;
            let path = url.path();
            if args.parents {
                make_parents(&mut conn.session, &path).await?;
            } else {
                conn.session.mkdir(&path).await?;
            }
            let _ = conn.session.quit().await;
        }
        Ok(())
    })
}

/// Creates `path` and any missing parents.
pub async fn make_parents(session: &mut ferroftp_client::Session, path: &str) -> anyhow::Result<()> {
    let mut so_far = String::new();
    if path.starts_with('/') {
        so_far.push('/');
    }
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if !so_far.is_empty() && !so_far.ends_with('/') {
            so_far.push('/');
        }
        so_far.push_str(part);
        if let Err(e) = session.mkdir(&so_far).await {
            // Exists already (550 on most servers, 521 on some): fine if it is a directory.
            if session.read_dir(Some(&so_far)).await.is_err() {
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// `ferroftp mv URL NEWPATH`
#[derive(Args, Debug)]
pub struct MvArgs {
    /// The file or directory to rename.
    pub url: String,
    /// The new path, on the same server: relative to the login directory, or absolute.
    pub to: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn mv(args: MvArgs) -> anyhow::Result<()> {
    let url = parse_url(&args.url)?;
    block_on(async {
        let mut conn = Conn::open(&url, &args.connect).await?;
        conn.session.rename(&url.path(), &args.to).await?;
        let _ = conn.session.quit().await;
        Ok(())
    })
}

/// `ferroftp fxp SRC_URL DST_URL`
#[derive(Args, Debug)]
pub struct FxpArgs {
    /// The file to copy.
    pub src: String,
    /// Where to: a file URL, or a directory URL ending in /.
    pub dst: String,
    /// Never stream through this machine: fail when the servers refuse a direct transfer.
    #[arg(long)]
    pub direct_only: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

pub fn fxp(args: FxpArgs) -> anyhow::Result<()> {
    let src = parse_url(&args.src)?;
    let dst = parse_url(&args.dst)?;
    let Some(name) = src.file_name().map(str::to_string) else {
        bail!("{src} names a directory; FXP copies one file");
    };
    let dst_path = match dst.file_name() {
        Some(_) => dst.path(),
        None if dst.path().is_empty() => name.clone(),
        None => format!("{}/{name}", dst.path().trim_end_matches('/')),
    };
    let out = Output::new(args.connect.quiet, args.connect.json);
    block_on(async {
        let mut a = Conn::open(&src, &args.connect).await?;
        let mut b = Conn::open(&dst, &args.connect).await?;
        let started = std::time::Instant::now();
        let bar = out.transfer(&name, a.session.size(&src.path()).await.ok());
        let mut bytes = 0;
        let outcome = if args.direct_only {
            match fxp::copy_direct(&mut a.session, &src.path(), &mut b.session, &dst_path).await? {
                Ok(()) => FxpOutcome::Direct,
                Err(reason) => bail!("direct transfer refused: {reason}"),
            }
        } else {
            fxp::copy(&mut a.session, &src.path(), &mut b.session, &dst_path, &mut |n| {
                bytes = n;
                bar.set(n);
            })
            .await?
        };
        bar.finish();
        let how = match &outcome {
            FxpOutcome::Direct => "direct".to_string(),
            FxpOutcome::Streamed { reason } => {
                out.note(&format!("server-to-server transfer refused ({reason}); streamed through this machine"));
                "streamed".to_string()
            }
        };
        if bytes == 0 {
            bytes = b.session.size(&dst_path).await.unwrap_or(0);
        }
        out.result(serde_json::json!({
            "op": "fxp", "src": src.to_string(), "dst": format!("{dst}"), "path": dst_path,
            "bytes": bytes, "how": how, "seconds": started.elapsed().as_secs_f64(),
        }));
        out.note(&format!("{src} → {dst_path} on {}: {bytes} bytes ({how})", dst.host));
        let _ = a.session.quit().await;
        let _ = b.session.quit().await;
        Ok(())
    })
}
