//! `ferroftp config example|check|explain` and `ferroftp passwd`.

use anyhow::{Context, bail};
use clap::Subcommand;
use ferroftp_server::auth::{Resolved, UserEntry, hash_password};
use ferroftp_server::config::load::show_cidrs;
use ferroftp_server::config::values::format_bytes;
use ferroftp_server::config::{self, BuildOptions, EXAMPLE, Source};
use std::fmt::Display;
use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

/// Configuration file tools.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print a complete, annotated configuration file.
    ///
    /// Start from it: `ferroftp config example > ferroftp.toml`.
    Example,
    /// Check a configuration file: every mistake with its line and column.
    ///
    /// Exits with status 1 if the file would be refused, 0 if `serve --config`
    /// would accept it (folders and certificate files must exist).
    Check {
        /// The file to check.
        file: PathBuf,
    },
    /// Show what a user ends up with: settings (and where each comes from),
    /// folders and rights.
    Explain {
        /// The configuration file.
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// The user (`anonymous` for the anonymous account).
        user: String,
    },
}

fn load(path: &Path) -> anyhow::Result<config::Loaded> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let source = Source::new(path.display().to_string(), text);
    let file = config::parse(&source)?;
    let base = crate::serve::config_dir(path);
    let options = BuildOptions { check_paths: true, base_dir: Some(base), ..BuildOptions::default() };
    Ok(config::build(&file, &source, &options)?)
}

pub fn run(cmd: ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Example => {
            print!("{EXAMPLE}");
            Ok(())
        }
        ConfigCommand::Check { file } => {
            let loaded = load(&file)?;
            let d = &loaded.directory;
            let anonymous = match d.anonymous() {
                Some(a) if a.rights.at(&ferroftp_server::VirtualPath::root()).write => "read and upload",
                Some(_) => "read-only",
                None => "off",
            };
            let n = d.names().len();
            let users = if n == 1 { "1 user".to_string() } else { format!("{n} users") };
            println!("{}: OK ({users}; anonymous access {anonymous})", file.display());
            Ok(())
        }
        ConfigCommand::Explain { config, user } => {
            let loaded = load(&config)?;
            let Some(entry) = loaded.directory.get(&user) else {
                bail!("{}: no user {user:?}; the users are: {}", config.display(), loaded.directory.names().join(", "));
            };
            print!("{}", explain(entry));
            Ok(())
        }
    }
}

fn line<T>(out: &mut String, key: &str, r: &Resolved<T>, show: impl FnOnce(&T) -> String) {
    out.push_str(&format!("  {key:<16} {:<24} ({})\n", show(&r.value), r.from));
}

fn or_none<T: Display>(v: &Option<T>) -> String {
    v.as_ref().map_or("none".to_string(), ToString::to_string)
}

/// The effective settings of one account, as `config explain` prints them.
pub fn explain(u: &UserEntry) -> String {
    let mut out = format!("user {}\n", u.name);
    if u.disabled {
        out.push_str("  DISABLED: cannot log in\n");
    }
    out.push_str(&format!(
        "  groups           {}\n",
        if u.groups.is_empty() { "-".into() } else { u.groups.join(", ") }
    ));
    if u.certificate.is_some() {
        out.push_str("  certificate      must present its TLS client certificate\n");
    }
    out.push_str("settings:\n");
    let s = &u.settings;
    line(&mut out, "max_sessions", &s.max_sessions, or_none);
    let rate = |v: &Option<u64>| v.map_or("unlimited".into(), |r| format!("{}/s", format_bytes(r)));
    line(&mut out, "download_limit", &s.download_limit, rate);
    line(&mut out, "upload_limit", &s.upload_limit, rate);
    line(&mut out, "quota", &s.quota, |q| match q {
        None => "none".into(),
        Some((bytes, files)) => {
            let b = bytes.map_or("any size".into(), format_bytes);
            let f = files.map_or("any number of files".into(), |f| format!("{f} files"));
            format!("{b}, {f}")
        }
    });
    line(&mut out, "tls", &s.tls_required, |t| match t {
        None => "server's policy".into(),
        Some(true) => "required".into(),
        Some(false) => "optional".into(),
    });
    line(&mut out, "allow", &s.ip_filter, |f| show_cidrs(&f.allow));
    line(&mut out, "deny", &s.ip_filter, |f| show_cidrs(&f.deny));
    line(&mut out, "fxp", &s.fxp, |f| if *f { "allowed".into() } else { "not allowed".into() });
    line(&mut out, "login_message", &s.login_message, |m| {
        m.as_deref().map_or("none".into(), |m| format!("{:?}", m.lines().next().unwrap_or("")))
    });
    out.push_str("folders (virtual path -> directory):\n");
    let mut mounts = u.mounts.clone();
    mounts.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    for (at, dir, origin) in &mounts {
        out.push_str(&format!("  {:<24} -> {}  ({origin})\n", at.as_str(), dir.display()));
    }
    out.push_str("rights (inherited by subfolders unless set deeper):\n");
    for (at, rights) in u.rights.rules() {
        out.push_str(&format!("  {:<24} {rights}\n", at.as_str()));
    }
    out
}

/// `ferroftp passwd`: reads a password without echo (twice on a terminal, one
/// line from standard input otherwise) and prints its argon2id hash.
pub fn passwd() -> anyhow::Result<()> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").context("reading the password")?;
        let again = rpassword::prompt_password("Again: ").context("reading the password")?;
        if first != again {
            bail!("the two passwords differ; nothing printed");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    if password.is_empty() {
        bail!("empty password; nothing printed");
    }
    let hash = hash_password(&password).map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    println!("{hash}");
    if std::io::stdout().is_terminal() {
        eprintln!("Put it in the configuration as:  password = \"{hash}\"");
    }
    Ok(())
}
