//! `ferroftp mirror URL DIR` and `mirror --reverse DIR URL`: make one tree a
//! copy of the other, transferring only files whose size or modification
//! time differ, over `--parallel N` connections; `--delete` removes what the
//! source no longer has.
//!
//! Times are compared to the second when the server lists with `MLSD` (RFC
//! 3659) and, for uploads, can set times with `MFMT`; otherwise by size
//! alone, since `LIST` dates are only to the minute or the day, and a server
//! without `MFMT` stamps every upload with the time it arrived.

use super::progress::Output;
use super::transfer::{Conn, TransferOptions, download, set_local_mtime, upload};
use super::{ConnectArgs, Partial, block_on, parse_url};
use anyhow::{Context as _, bail};
use clap::Args;
use ferroftp_client::{FileKind, Session};
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// `ferroftp mirror`
#[derive(Args, Debug)]
pub struct MirrorArgs {
    /// The source: a directory URL (or, with --reverse, a local directory).
    pub from: String,
    /// The destination: a local directory (or, with --reverse, a directory URL).
    pub to: String,
    /// Upload: mirror the local directory FROM to the server directory TO.
    #[arg(short = 'R', long)]
    pub reverse: bool,
    /// Delete files and directories the source does not have.
    #[arg(long)]
    pub delete: bool,
    /// Transfer over this many connections at once.
    #[arg(short = 'P', long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=32))]
    pub parallel: u16,
    /// Show what would be done, and do nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Verify each file after transfer (checksum where offered, else size).
    #[arg(long)]
    pub verify: bool,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// A file or directory in a tree, by path relative to the tree's top.
#[derive(Debug, Clone, Copy)]
struct Node {
    dir: bool,
    size: u64,
    modified: SystemTime,
}

type Tree = BTreeMap<String, Node>;

/// One thing to do.
#[derive(Debug, Clone)]
enum Action {
    MakeDir(String),
    Copy { rel: String, size: u64, modified: SystemTime },
    Delete { rel: String, dir: bool },
}

pub fn run(args: MirrorArgs) -> anyhow::Result<()> {
    let (url_arg, local) = if args.reverse { (&args.to, &args.from) } else { (&args.from, &args.to) };
    let url = parse_url(url_arg)?;
    let local = PathBuf::from(local);
    if args.reverse && !local.is_dir() {
        bail!("{} is not a directory", local.display());
    }
    let out = Output::new(args.connect.quiet, args.connect.json);
    block_on(async {
        let mut first = Conn::open(&url, &args.connect).await?;
        let base = url.path().trim_end_matches('/').to_string();
        let remote = if args.reverse {
            match remote_tree(&mut first.session, &base).await {
                Ok(tree) => tree,
                Err(e) if e.is_not_found() => Tree::new(),
                Err(e) if e.code().is_some_and(|c| c >= 500) && missing_dir(&mut first.session, &base).await? => {
                    Tree::new()
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            remote_tree(&mut first.session, &base).await?
        };
        let local_tree = if local.exists() { local_tree(&local)? } else { Tree::new() };
        let features = first.session.features();
        let precise = features.has("MLST") && (!args.reverse || features.has("MFMT"));
        let (source, dest) = if args.reverse { (&local_tree, &remote) } else { (&remote, &local_tree) };
        let plan = plan(source, dest, precise, args.delete);
        let copies: Vec<&Action> = plan.iter().filter(|a| matches!(a, Action::Copy { .. })).collect();
        let bytes: u64 = copies.iter().map(|a| if let Action::Copy { size, .. } = a { *size } else { 0 }).sum();
        out.note(&format!(
            "mirror: {} to copy ({bytes} bytes), {} directories to create, {} to delete",
            copies.len(),
            plan.iter().filter(|a| matches!(a, Action::MakeDir(_))).count(),
            plan.iter().filter(|a| matches!(a, Action::Delete { .. })).count()
        ));
        if args.dry_run {
            for a in &plan {
                println!("{}", describe(a));
            }
            return Ok(());
        }
        if !args.reverse {
            std::fs::create_dir_all(&local).with_context(|| format!("creating {}", local.display()))?;
        } else if !base.is_empty() && remote.is_empty() {
            super::commands::make_parents(&mut first.session, &base).await?;
        }
        let join = |rel: &str| if base.is_empty() { rel.to_string() } else { format!("{base}/{rel}") };
        let mut failed = 0;
        // Directories first, in order, so every file has its parent.
        for a in &plan {
            if let Action::MakeDir(rel) = a {
                let result = if args.reverse {
                    first.session.mkdir(&join(rel)).await.map(drop).map_err(anyhow::Error::from)
                } else {
                    std::fs::create_dir_all(local.join(rel)).map_err(anyhow::Error::from)
                };
                report(&out, "mkdir", rel, result.as_ref().err(), &mut failed);
            }
        }
        // Files over N connections.
        let queue: Arc<Mutex<VecDeque<Action>>> =
            Arc::new(Mutex::new(plan.iter().filter(|a| matches!(a, Action::Copy { .. })).cloned().collect()));
        let total = Arc::new(out.total(copies.len() as u64, bytes));
        let workers = usize::from(args.parallel).min(copies.len().max(1));
        let mut conns = vec![first];
        for _ in 1..workers {
            conns.push(Conn::open(&url, &args.connect).await?);
        }
        let mut set = tokio::task::JoinSet::new();
        for mut conn in conns {
            let (queue, out, total) = (queue.clone(), out.clone(), total.clone());
            let (base, local, reverse, verify) = (base.clone(), local.clone(), args.reverse, args.verify);
            set.spawn(async move {
                let mut failed = 0;
                loop {
                    let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                    let Some(Action::Copy { rel, size, modified }) = next else { break };
                    let remote_path = if base.is_empty() { rel.clone() } else { format!("{base}/{rel}") };
                    let local_path = local.join(&rel);
                    let opts = TransferOptions { resume: !reverse, verify, preserve: reverse };
                    let result = if reverse {
                        upload(&mut conn, &local_path, &remote_path, opts, &out, &mut |_| {}).await
                    } else {
                        download(&mut conn, &remote_path, &local_path, opts, &out, &mut |_| {}).await.and_then(|done| {
                            set_local_mtime(&local_path, modified)
                                .with_context(|| format!("setting the time of {}", local_path.display()))?;
                            Ok(done)
                        })
                    };
                    total.add(size);
                    if let Ok(done) = &result {
                        out.result(done.json(if reverse { "put" } else { "get" }, &remote_path, &local_path));
                    }
                    report(&out, if reverse { "put" } else { "get" }, &rel, result.as_ref().err(), &mut failed);
                }
                let _ = conn.session.quit().await;
                failed
            });
        }
        while let Some(joined) = set.join_next().await {
            failed += joined.unwrap_or(1);
        }
        total.finish();
        // Deletions last, deepest first, once everything else is in place.
        if plan.iter().any(|a| matches!(a, Action::Delete { .. })) {
            let mut conn = Conn::open(&url, &args.connect).await?;
            for a in plan.iter().rev() {
                if let Action::Delete { rel, dir } = a {
                    let result = if args.reverse {
                        let p = join(rel);
                        if *dir { conn.session.rmdir(&p).await } else { conn.session.delete(&p).await }
                            .map_err(anyhow::Error::from)
                    } else {
                        let p = local.join(rel);
                        if *dir { std::fs::remove_dir(&p) } else { std::fs::remove_file(&p) }
                            .map_err(anyhow::Error::from)
                    };
                    report(&out, "delete", rel, result.as_ref().err(), &mut failed);
                }
            }
            let _ = conn.session.quit().await;
        }
        let total_actions = plan.len();
        out.note(&format!("mirror: done, {} of {total_actions} actions failed", failed));
        out.result(serde_json::json!({ "op": "mirror", "actions": total_actions, "failed": failed }));
        if failed > 0 {
            return Err(Partial { failed, total: total_actions }.into());
        }
        Ok(())
    })
}

fn report(out: &Output, op: &str, rel: &str, error: Option<&anyhow::Error>, failed: &mut usize) {
    match error {
        None => {}
        Some(e) => {
            *failed += 1;
            eprintln!("error: {op} {rel}: {e:#}");
            out.result(serde_json::json!({ "op": op, "path": rel, "error": format!("{e:#}") }));
        }
    }
}

fn describe(a: &Action) -> String {
    match a {
        Action::MakeDir(rel) => format!("mkdir  {rel}/"),
        Action::Copy { rel, size, .. } => format!("copy   {rel} ({size} bytes)"),
        Action::Delete { rel, dir: true } => format!("delete {rel}/"),
        Action::Delete { rel, dir: false } => format!("delete {rel}"),
    }
}

/// What to do so that `dest` matches `source`.
fn plan(source: &Tree, dest: &Tree, precise: bool, delete: bool) -> Vec<Action> {
    let mut actions = Vec::new();
    for (rel, node) in source {
        match (node.dir, dest.get(rel)) {
            (true, Some(d)) if d.dir => {}
            (true, _) => actions.push(Action::MakeDir(rel.clone())),
            (false, Some(d)) if !d.dir && !changed(node, d, precise) => {}
            (false, _) => actions.push(Action::Copy { rel: rel.clone(), size: node.size, modified: node.modified }),
        }
    }
    if delete {
        for (rel, node) in dest {
            let keep = source.get(rel).is_some_and(|s| s.dir == node.dir);
            if !keep {
                actions.push(Action::Delete { rel: rel.clone(), dir: node.dir });
            }
        }
    }
    actions
}

fn changed(src: &Node, dst: &Node, precise: bool) -> bool {
    if src.size != dst.size {
        return true;
    }
    if !precise {
        return false;
    }
    let diff = match src.modified.duration_since(dst.modified) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    diff > Duration::from_secs(1)
}

/// The remote tree under `base`, by `MLSD` (or `LIST`), directory by directory.
/// Whether the folder `dir` is missing on the server, asked after its listing
/// failed. Servers disagree on how a listing of a missing folder fails (550
/// from most, 501 from pyftpdlib), so the answer comes from `CWD`: refused
/// too, and the folder is not there; accepted, and the listing's error stands.
async fn missing_dir(session: &mut Session, dir: &str) -> Result<bool, ferroftp_client::ClientError> {
    let here = session.pwd().await?;
    match session.cwd(if dir.is_empty() { "/" } else { dir }).await {
        Ok(()) => {
            session.cwd(&here).await?;
            Ok(false)
        }
        Err(e) if e.code().is_some_and(|c| (500..600).contains(&c)) => Ok(true),
        Err(e) => Err(e),
    }
}

async fn remote_tree(session: &mut Session, base: &str) -> Result<Tree, ferroftp_client::ClientError> {
    let mut tree = Tree::new();
    let mut pending = vec![String::new()];
    while let Some(rel) = pending.pop() {
        let path = match (base.is_empty(), rel.is_empty()) {
            (true, true) => None,
            (true, false) => Some(rel.clone()),
            (false, true) => Some(base.to_string()),
            (false, false) => Some(format!("{base}/{rel}")),
        };
        let listing = session.read_dir(path.as_deref()).await?;
        for raw in &listing.unparsed {
            eprintln!("warning: {}: a listing line not understood, skipped: {raw}", path.as_deref().unwrap_or("."));
        }
        for e in listing.entries {
            if e.name.contains('/') {
                continue;
            }
            let child = if rel.is_empty() { e.name.clone() } else { format!("{rel}/{}", e.name) };
            match e.kind {
                FileKind::Dir => {
                    tree.insert(child.clone(), Node { dir: true, size: 0, modified: e.modified });
                    pending.push(child);
                }
                FileKind::File => {
                    tree.insert(child, Node { dir: false, size: e.size, modified: e.modified });
                }
                // Links, devices and pipes are not mirrored.
                _ => {}
            }
        }
    }
    Ok(tree)
}

/// The local tree under `root` (symbolic links are not followed).
fn local_tree(root: &Path) -> anyhow::Result<Tree> {
    let mut tree = Tree::new();
    let mut pending = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
            let Ok(name) = entry.file_name().into_string() else {
                eprintln!("warning: {}: a name that is not UTF-8, skipped", entry.path().display());
                continue;
            };
            let meta = entry.metadata().with_context(|| format!("{}", entry.path().display()))?;
            let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
            if meta.is_dir() {
                tree.insert(child.clone(), Node { dir: true, size: 0, modified });
                pending.push((entry.path(), child));
            } else if meta.is_file() {
                tree.insert(child, Node { dir: false, size: meta.len(), modified });
            }
        }
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(dir: bool, size: u64, secs: u64) -> Node {
        Node { dir, size, modified: SystemTime::UNIX_EPOCH + Duration::from_secs(secs) }
    }

    #[test]
    fn plan_copies_changes_and_deletes_extras_deepest_last() {
        let source: Tree = [
            ("a".to_string(), node(true, 0, 0)),
            ("a/same".to_string(), node(false, 5, 100)),
            ("a/newer".to_string(), node(false, 5, 200)),
            ("a/bigger".to_string(), node(false, 9, 100)),
            ("b".to_string(), node(false, 1, 100)),
        ]
        .into();
        let dest: Tree = [
            ("a".to_string(), node(true, 0, 0)),
            ("a/same".to_string(), node(false, 5, 100)),
            ("a/newer".to_string(), node(false, 5, 100)),
            ("a/bigger".to_string(), node(false, 5, 100)),
            ("gone".to_string(), node(true, 0, 0)),
            ("gone/x".to_string(), node(false, 1, 0)),
        ]
        .into();
        let described: Vec<String> = plan(&source, &dest, true, true).iter().map(describe).collect();
        assert_eq!(
            described,
            [
                "copy   a/bigger (9 bytes)",
                "copy   a/newer (5 bytes)",
                "copy   b (1 bytes)",
                "delete gone/",
                "delete gone/x"
            ]
        );
        // By size only, the newer file of equal size stays; without --delete nothing goes.
        let described: Vec<String> = plan(&source, &dest, false, false).iter().map(describe).collect();
        assert_eq!(described, ["copy   a/bigger (9 bytes)", "copy   b (1 bytes)"]);
    }
}
