//! `ferroftp shell` (alias `ferroftp ftp`): the interactive client, with the
//! commands and flags of the classic `ftp` utility (BSD ftp, tnftp, netkit):
//! `open`, `user`, `get`, `put`, `mget`, `mput`, `bin`, `hash`, `prompt` …
//! and `-v -d -n -i -g -p`. On a terminal it has history and completion of
//! commands and remote names (rustyline); otherwise it reads commands from
//! standard input, one per line, as the classic utility does for scripts.

use super::progress::Output;
use super::transfer::{Conn, TransferOptions, download, upload};
use super::{ConnectArgs, trace_to_stderr};
use clap::Args;
use ferroftp_client::netrc::Netrc;
use ferroftp_client::{ClientError, DataMode, FtpUrl, Security, Session, StoreMode, TransferType};
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{Editor, Helper, Highlighter, Hinter, Validator};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// `ferroftp shell [HOST [PORT]]`
#[derive(Args, Debug)]
pub struct ShellArgs {
    /// Connect to this host (a name, an address, or an ftp:// URL) at start.
    pub host: Option<String>,
    /// The port (default 21).
    pub port: Option<u16>,
    /// Verbose: show every reply and transfer statistics (on by default on a terminal).
    #[arg(short = 'v')]
    pub verbose: bool,
    /// Debug: show every command sent.
    #[arg(short = 'd')]
    pub debug: bool,
    /// No auto-login from ~/.netrc or by asking; use `user` yourself.
    #[arg(short = 'n')]
    pub no_login: bool,
    /// No confirmation prompts for mget, mput and mdelete.
    #[arg(short = 'i')]
    pub no_prompt: bool,
    /// No filename globbing.
    #[arg(short = 'g')]
    pub no_glob: bool,
    /// Passive mode (the default).
    #[arg(short = 'p')]
    pub passive: bool,
    /// Active mode: the server connects back (EPRT/PORT).
    #[arg(short = 'A', long)]
    pub active: bool,
    /// Explicit TLS (AUTH TLS) on every connection.
    #[arg(long)]
    pub tls: bool,
    /// Trust the server certificate with this SHA-256 fingerprint.
    #[arg(long, value_name = "SHA256")]
    pub fingerprint: Option<String>,
    /// Trust the certificate authorities in this PEM file too.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Accept any server certificate.
    #[arg(long)]
    pub insecure: bool,
}

/// The commands, with their one-line help.
const COMMANDS: &[(&str, &str)] = &[
    ("!", "escape to the shell (not supported; use lcd and lpwd)"),
    ("?", "print help"),
    ("append", "append a local file to a remote file"),
    ("ascii", "set ascii transfer type"),
    ("binary", "set binary transfer type"),
    ("bin", "set binary transfer type"),
    ("bye", "terminate the session and exit"),
    ("cd", "change the remote directory"),
    ("cdup", "change the remote directory to its parent"),
    ("close", "terminate the session"),
    ("debug", "toggle showing the commands sent"),
    ("delete", "delete a remote file"),
    ("dir", "list a remote directory"),
    ("disconnect", "terminate the session"),
    ("exit", "terminate the session and exit"),
    ("features", "show what the server offers (FEAT)"),
    ("get", "receive a file"),
    ("glob", "toggle filename expansion for mdelete, mget and mput"),
    ("hash", "toggle printing '#' for each 1024 bytes (or: hash SIZE)"),
    ("help", "print help"),
    ("lcd", "change the local directory"),
    ("literal", "send an arbitrary command"),
    ("lpwd", "print the local directory"),
    ("ls", "list a remote directory"),
    ("mdelete", "delete several remote files"),
    ("mget", "get several files"),
    ("mkdir", "make a remote directory"),
    ("modtime", "show a remote file's modification time"),
    ("mput", "put several files"),
    ("nlist", "list names in a remote directory"),
    ("open", "connect to a server"),
    ("passive", "toggle passive mode"),
    ("progress", "toggle progress bars"),
    ("prompt", "toggle interactive prompting for mget, mput and mdelete"),
    ("put", "send a file"),
    ("pwd", "print the remote directory"),
    ("quit", "terminate the session and exit"),
    ("quote", "send an arbitrary command"),
    ("recv", "receive a file"),
    ("reget", "resume receiving a file"),
    ("rename", "rename a remote file"),
    ("rmdir", "remove a remote directory"),
    ("send", "send a file"),
    ("site", "send a SITE command"),
    ("size", "show a remote file's size"),
    ("status", "show the current state"),
    ("system", "show the remote system type"),
    ("type", "set the transfer type (ascii or binary)"),
    ("user", "log in: user NAME [PASSWORD]"),
    ("verbose", "toggle verbose mode"),
];

struct Shell {
    rt: tokio::runtime::Runtime,
    session: Option<Session>,
    url: Option<FtpUrl>,
    args: ShellArgs,
    verbose: bool,
    debug: bool,
    prompt: bool,
    glob: bool,
    passive: bool,
    hash: Option<u64>,
    progress: bool,
    ascii: bool,
    interactive: bool,
    failures: usize,
    /// Names in the remote directory, for completion.
    names: Arc<Mutex<Vec<String>>>,
    names_stale: bool,
}

/// Where command lines come from.
enum Input {
    Editor(Box<Editor<ShellHelper, DefaultHistory>>),
    Lines(std::io::StdinLock<'static>),
}

impl Input {
    /// The next line; `None` at the end of input.
    fn line(&mut self, prompt: &str) -> Option<String> {
        match self {
            Input::Editor(e) => loop {
                match e.readline(prompt) {
                    Ok(line) => {
                        if !line.trim().is_empty() {
                            let _ = e.add_history_entry(line.as_str());
                        }
                        return Some(line);
                    }
                    Err(ReadlineError::Interrupted) => continue,
                    Err(_) => return None,
                }
            },
            Input::Lines(stdin) => {
                let mut line = String::new();
                match stdin.read_line(&mut line) {
                    Ok(0) | Err(_) => None,
                    Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
                }
            }
        }
    }
}

pub fn run(args: ShellArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let interactive = std::io::stdin().is_terminal();
    let names = Arc::new(Mutex::new(Vec::new()));
    let mut input = if interactive {
        match Editor::<ShellHelper, DefaultHistory>::new() {
            Ok(mut e) => {
                e.set_helper(Some(ShellHelper { names: names.clone(), files: FilenameCompleter::new() }));
                if let Some(h) = history_path() {
                    let _ = e.load_history(&h);
                }
                Input::Editor(Box::new(e))
            }
            Err(_) => Input::Lines(std::io::stdin().lock()),
        }
    } else {
        Input::Lines(std::io::stdin().lock())
    };
    let mut shell = Shell {
        rt,
        session: None,
        url: None,
        verbose: args.verbose || interactive,
        debug: args.debug,
        prompt: !args.no_prompt,
        glob: !args.no_glob,
        passive: !args.active,
        hash: None,
        progress: false,
        ascii: false,
        interactive,
        failures: 0,
        names,
        names_stale: true,
        args,
    };
    if let Some(host) = shell.args.host.clone() {
        let port = shell.args.port.map(|p| p.to_string());
        let words: Vec<&str> = std::iter::once(host.as_str()).chain(port.as_deref()).collect();
        shell.open(&words, &mut input);
    }
    loop {
        if shell.interactive && shell.names_stale {
            shell.refresh_names();
        }
        let Some(line) = input.line("ftp> ") else { break };
        let words = split_words(&line);
        let Some((command, rest)) = words.split_first() else { continue };
        let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
        if !shell.dispatch(command, &rest, &mut input) {
            break;
        }
    }
    if let Some(session) = shell.session.take() {
        let _ = shell.rt.block_on(session.quit());
    }
    if let (Input::Editor(e), Some(h)) = (&mut input, history_path()) {
        let _ = e.save_history(&h);
    }
    // Scripts learn whether every command worked.
    if shell.failures > 0 && !shell.interactive { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

fn history_path() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ferroftp_history"))
}

/// Splits a command line into words; double quotes group words with spaces.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.trim().chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut current));
                    any = false;
                }
            }
            c => {
                current.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(current);
    }
    words
}

impl Shell {
    /// Runs one command; false to leave the shell.
    fn dispatch(&mut self, command: &str, rest: &[&str], input: &mut Input) -> bool {
        let name = COMMANDS.iter().map(|(n, _)| *n).find(|n| *n == command).or_else(|| {
            // Unambiguous prefixes work, as in the classic utility.
            let matches: Vec<&str> = COMMANDS.iter().map(|(n, _)| *n).filter(|n| n.starts_with(command)).collect();
            (matches.len() == 1).then(|| matches[0])
        });
        let Some(name) = name else {
            println!("?Invalid command.");
            self.failures += 1;
            return true;
        };
        match name {
            "bye" | "quit" | "exit" => return false,
            "?" | "help" => self.help(rest),
            "open" => self.open(rest, input),
            "user" => self.user(rest, input),
            "close" | "disconnect" => {
                if let Some(s) = self.session.take() {
                    let _ = self.rt.block_on(s.quit());
                    self.say("221 Goodbye.");
                }
            }
            "verbose" => self.verbose = toggle("Verbose mode", self.verbose, rest),
            "debug" => {
                self.debug = toggle("Debugging", self.debug, rest);
                self.apply_trace();
            }
            "prompt" => self.prompt = toggle("Interactive mode", self.prompt, rest),
            "glob" => self.glob = toggle("Globbing", self.glob, rest),
            "passive" => {
                self.passive = toggle("Passive mode", self.passive, rest);
                let mode = if self.passive { DataMode::Passive } else { DataMode::Active };
                if let Some(s) = &mut self.session {
                    s.set_data_mode(mode);
                }
            }
            "progress" => self.progress = toggle("Progress bar", self.progress, rest),
            "hash" => self.set_hash(rest),
            "lcd" => self.lcd(rest),
            "lpwd" => println!("Local directory: {}", cwd_display()),
            "status" => self.status(),
            "!" => {
                println!("?Shell escapes are not supported.");
                self.failures += 1;
            }
            _ => self.remote(name, rest, input),
        }
        true
    }

    fn help(&self, rest: &[&str]) {
        if rest.is_empty() {
            println!("Commands may be abbreviated.  Commands are:\n");
            let names: Vec<&str> = COMMANDS.iter().map(|(n, _)| *n).collect();
            for row in names.chunks(5) {
                println!("{}", row.iter().map(|n| format!("{n:<15}")).collect::<String>().trim_end());
            }
            return;
        }
        for word in rest {
            match COMMANDS.iter().find(|(n, _)| n == word) {
                Some((n, h)) => println!("{n:<15} {h}"),
                None => println!("?Invalid help command {word}"),
            }
        }
    }

    fn say(&self, text: &str) {
        if self.verbose {
            println!("{text}");
        }
    }

    fn fail(&mut self, e: impl std::fmt::Display) {
        self.failures += 1;
        println!("{e}");
    }

    fn connect_args(&self) -> ConnectArgs {
        ConnectArgs {
            tls: self.args.tls,
            ca: self.args.ca.clone(),
            fingerprint: self.args.fingerprint.clone(),
            insecure: self.args.insecure,
            active: !self.passive,
            timeout: 60,
            quiet: !self.verbose,
            ..ConnectArgs::default()
        }
    }

    fn apply_trace(&mut self) {
        let debug = self.debug;
        if let Some(s) = &mut self.session {
            s.set_trace(debug.then(trace_to_stderr));
        }
    }

    fn open(&mut self, rest: &[&str], input: &mut Input) {
        if self.session.is_some() {
            println!("Already connected to {}, use close first.", self.url.as_ref().map_or("", |u| u.host.as_str()));
            self.failures += 1;
            return;
        }
        let typed = match rest.first() {
            Some(t) => Some(t.to_string()),
            None => input.line("(to) ").map(|l| l.trim().to_string()).filter(|l| !l.is_empty()),
        };
        let Some(target) = typed.as_deref() else {
            println!("usage: open host-name [port]");
            self.failures += 1;
            return;
        };
        let url = if target.contains("://") {
            FtpUrl::parse(target)
        } else {
            let host = if target.contains(':') { format!("[{target}]") } else { target.to_string() };
            let port = rest.get(1).map(|p| format!(":{p}")).unwrap_or_default();
            FtpUrl::parse(&format!("ftp://{host}{port}/"))
        };
        let url = match url {
            Ok(u) => u,
            Err(e) => return self.fail(format!("ftp: {target}: {e}")),
        };
        let options = self.connect_args().options(&url);
        let debug = self.debug;
        let connected = self.rt.block_on(async {
            let mut s = Session::connect(&options).await?;
            if debug {
                s.set_trace(Some(trace_to_stderr()));
            }
            Ok::<_, ClientError>(s)
        });
        let session = match connected {
            Ok(s) => s,
            Err(e) => return self.fail(format!("ftp: {e}")),
        };
        println!("Connected to {}.", url.host);
        if self.verbose {
            for line in &session.welcome().lines {
                println!("{} {line}", session.welcome().code);
            }
        }
        if options.security != Security::None {
            self.say("TLS negotiated on the control connection.");
        }
        self.session = Some(session);
        self.url = Some(url.clone());
        self.names_stale = true;
        if let Some(user) = &url.user {
            let pass = url.password.clone();
            self.login(user, pass.as_deref(), input);
        } else if !self.args.no_login {
            let from_netrc = Netrc::default_path()
                .and_then(|p| Netrc::load(&p).ok())
                .and_then(|n| n.lookup(&url.host).cloned())
                .and_then(|e| Some((e.login?, e.password)));
            match from_netrc {
                Some((user, pass)) => self.login(&user, pass.as_deref(), input),
                None => {
                    let default = std::env::var("USER").unwrap_or_default();
                    let Some(name) = input.line(&format!("Name ({}:{default}): ", url.host)) else { return };
                    let name = if name.trim().is_empty() { default } else { name.trim().to_string() };
                    self.login(&name, None, input);
                }
            }
        }
    }

    fn user(&mut self, rest: &[&str], input: &mut Input) {
        if self.session.is_none() {
            return self.fail("Not connected.");
        }
        let Some(name) = rest.first() else {
            println!("usage: user username [password]");
            self.failures += 1;
            return;
        };
        self.login(name, rest.get(1).copied(), input);
    }

    fn login(&mut self, user: &str, password: Option<&str>, input: &mut Input) {
        let password = match password {
            Some(p) => p.to_string(),
            None if user == "anonymous" || user == "ftp" => "ferroftp@".to_string(),
            None if self.interactive => rpassword::prompt_password("Password: ").unwrap_or_default(),
            None => input.line("Password: ").unwrap_or_default(),
        };
        let Some(session) = &mut self.session else { return };
        let result = self.rt.block_on(async {
            session.login(user, &password).await?;
            session.set_type(TransferType::Binary).await
        });
        match result {
            Ok(()) => {
                self.say("230 Login successful.");
                self.say("Using binary mode to transfer files.");
                self.ascii = false;
                self.names_stale = true;
                if let Some(url) = &mut self.url {
                    url.user = Some(user.to_string());
                    url.password = Some(password);
                }
            }
            Err(ClientError::Login { code, text }) => {
                self.fail(format!("{code} {text}\nLogin failed."));
            }
            Err(e) => self.fail(e),
        }
    }

    fn set_hash(&mut self, rest: &[&str]) {
        match rest.first() {
            Some(size) => match parse_size(size) {
                Some(n) if n > 0 => {
                    self.hash = Some(n);
                    println!("Hash mark printing on ({n} bytes/hash mark).");
                }
                _ => self.fail(format!("hash: bad size {size:?}")),
            },
            None => {
                self.hash = if self.hash.is_some() { None } else { Some(1024) };
                match self.hash {
                    Some(n) => println!("Hash mark printing on ({n} bytes/hash mark)."),
                    None => println!("Hash mark printing off."),
                }
            }
        }
    }

    fn lcd(&mut self, rest: &[&str]) {
        let target = match rest.first() {
            Some(d) => PathBuf::from(d),
            None => std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/")),
        };
        match std::env::set_current_dir(&target) {
            Ok(()) => println!("Local directory now: {}", cwd_display()),
            Err(e) => self.fail(format!("local: {}: {e}", target.display())),
        }
    }

    fn status(&self) {
        match (&self.session, &self.url) {
            (Some(s), Some(u)) => {
                println!("Connected to {} ({}).", u.host, s.peer_addr());
                let (control, data) = s.tls();
                println!("TLS: control {}, data {}.", on_off(control), on_off(data));
            }
            _ => println!("Not connected."),
        }
        println!(
            "Mode: stream; Type: {}; Form: non-print; Structure: file",
            if self.ascii { "ascii" } else { "binary" }
        );
        println!("Passive mode: {}.", on_off(self.passive));
        println!(
            "Verbose: {}; Debugging: {}; Prompting: {}; Globbing: {}.",
            on_off(self.verbose),
            on_off(self.debug),
            on_off(self.prompt),
            on_off(self.glob)
        );
        println!(
            "Hash mark printing: {}; Progress bar: {}.",
            match self.hash {
                Some(n) => format!("on ({n} bytes/hash mark)"),
                None => "off".into(),
            },
            on_off(self.progress)
        );
    }

    fn refresh_names(&mut self) {
        self.names_stale = false;
        let Some(session) = &mut self.session else { return };
        if session.user().is_none() {
            return;
        }
        if let Ok(names) = self.rt.block_on(session.nlst(None)) {
            if let Ok(mut n) = self.names.lock() {
                *n = names;
            }
        }
    }

    /// Commands that need a session.
    fn remote(&mut self, name: &str, rest: &[&str], input: &mut Input) {
        if self.session.is_none() {
            return self.fail("Not connected.");
        }
        let result = match name {
            "ls" | "dir" | "nlist" => self.list(name, rest),
            "cd" => self.simple(rest, "usage: cd remote-directory", |s, a| {
                Box::pin(async move {
                    s.cwd(&a[0]).await?;
                    Ok(format!("250 Directory changed to {}.", s.pwd().await?))
                })
            }),
            "cdup" => self.simple(&["."], "", |s, _| {
                Box::pin(async move {
                    s.cdup().await?;
                    Ok(format!("250 Directory changed to {}.", s.pwd().await?))
                })
            }),
            "pwd" => self.simple(&["."], "", |s, _| {
                Box::pin(async move { Ok(format!("Remote directory: {}", s.pwd().await?)) })
            }),
            "mkdir" => self.simple(rest, "usage: mkdir directory-name", |s, a| {
                Box::pin(async move { Ok(format!("257 \"{}\" created.", s.mkdir(&a[0]).await?)) })
            }),
            "rmdir" => self.simple(rest, "usage: rmdir directory-name", |s, a| {
                Box::pin(async move {
                    s.rmdir(&a[0]).await?;
                    Ok("250 Directory removed.".into())
                })
            }),
            "delete" => self.simple(rest, "usage: delete remote-file", |s, a| {
                Box::pin(async move {
                    s.delete(&a[0]).await?;
                    Ok("250 File deleted.".into())
                })
            }),
            "rename" => {
                if rest.len() < 2 {
                    Err(Usage("usage: rename from-name to-name").into())
                } else {
                    self.simple(rest, "", |s, a| {
                        Box::pin(async move {
                            s.rename(&a[0], &a[1]).await?;
                            Ok("250 Rename successful.".into())
                        })
                    })
                }
            }
            "size" => self.simple(rest, "usage: size remote-file", |s, a| {
                Box::pin(async move { Ok(format!("213 {}", s.size(&a[0]).await?)) })
            }),
            "modtime" => self.simple(rest, "usage: modtime remote-file", |s, a| {
                Box::pin(async move {
                    let t = ferroftp_proto::timeval::to_utc(s.mdtm(&a[0]).await?);
                    Ok(format!(
                        "{}\t{:02}/{:02}/{:04} {:02}:{:02}:{:02} GMT",
                        a[0],
                        u8::from(t.month()),
                        t.day(),
                        t.year(),
                        t.hour(),
                        t.minute(),
                        t.second()
                    ))
                })
            }),
            "system" => {
                self.simple(&["."], "", |s, _| Box::pin(async move { Ok(format!("215 {}", s.system().await?)) }))
            }
            "features" => self.simple(&["."], "", |s, _| {
                Box::pin(async move {
                    let f = s.refresh_features().await?;
                    Ok(f.names()
                        .map(|n| format!(" {n} {}", f.params(n).unwrap_or("")).trim_end().to_string())
                        .collect::<Vec<_>>()
                        .join("\n"))
                })
            }),
            "site" => self.quote(&[&["SITE"], rest].concat()),
            "quote" | "literal" => self.quote(rest),
            "ascii" => self.set_type(true),
            "bin" | "binary" => self.set_type(false),
            "type" => match rest.first().map(|t| t.to_ascii_lowercase()) {
                None => {
                    println!("Using {} mode to transfer files.", if self.ascii { "ascii" } else { "binary" });
                    Ok(())
                }
                Some(t) if t == "ascii" || t == "a" => self.set_type(true),
                Some(t) if t == "binary" || t == "image" || t == "i" => self.set_type(false),
                Some(t) => Err(anyhow::anyhow!("{t}: unknown mode")),
            },
            "get" | "recv" => self.get(rest, false),
            "reget" => self.get(rest, true),
            "put" | "send" => self.put(rest, StoreMode::Replace),
            "append" => self.put(rest, StoreMode::Append),
            "mget" => self.mget(rest, input),
            "mput" => self.mput(rest, input),
            "mdelete" => self.mdelete(rest, input),
            _ => Err(Usage("?Invalid command.").into()),
        };
        if let Err(e) = result {
            match e.downcast_ref::<Usage>() {
                Some(u) => {
                    self.failures += 1;
                    println!("{}", u.0);
                }
                None => self.fail(describe_error(&e)),
            }
            // A session whose connection is gone is closed, as the classic utility does.
            if e.downcast_ref::<ClientError>()
                .is_some_and(|c| matches!(c, ClientError::Closed | ClientError::Control(_)))
            {
                self.session = None;
                println!("Connection closed; use open to reconnect.");
            }
        }
    }

    /// A command of one request: checks it has an argument, runs it, prints its line.
    fn simple<F>(&mut self, rest: &[&str], usage: &'static str, f: F) -> anyhow::Result<()>
    where
        F: for<'s> FnOnce(&'s mut Session, Vec<String>) -> RemoteFuture<'s>,
    {
        if rest.is_empty() {
            return Err(Usage(usage).into());
        }
        let Some(session) = &mut self.session else { return Ok(()) };
        let args = rest.iter().map(|s| s.to_string()).collect();
        let text = self.rt.block_on(f(session, args))?;
        println!("{text}");
        self.names_stale = true;
        Ok(())
    }

    fn quote(&mut self, rest: &[&str]) -> anyhow::Result<()> {
        if rest.is_empty() {
            return Err(Usage("usage: quote line-to-send").into());
        }
        let Some(session) = &mut self.session else { return Ok(()) };
        let reply = self.rt.block_on(session.quote(&rest.join(" ")))?;
        for (i, line) in reply.lines.iter().enumerate() {
            if i == 0 || i + 1 == reply.lines.len() { println!("{} {line}", reply.code) } else { println!("{line}") }
        }
        if reply.code.is_error() {
            self.failures += 1;
        }
        Ok(())
    }

    fn set_type(&mut self, ascii: bool) -> anyhow::Result<()> {
        let Some(session) = &mut self.session else { return Ok(()) };
        let t = if ascii { TransferType::Ascii } else { TransferType::Binary };
        self.rt.block_on(session.set_type(t))?;
        self.ascii = ascii;
        println!("200 Type set to {}.", if ascii { "A" } else { "I" });
        Ok(())
    }

    fn list(&mut self, name: &str, rest: &[&str]) -> anyhow::Result<()> {
        let Some(session) = &mut self.session else { return Ok(()) };
        let path = rest.first().copied();
        let lines = self
            .rt
            .block_on(async { if name == "nlist" { session.nlst(path).await } else { session.list(path).await } })?;
        // `ls remote local` writes the listing to a local file.
        match rest.get(1) {
            Some(local) => std::fs::write(local, lines.join("\n") + "\n")?,
            None => {
                let mut out = std::io::stdout().lock();
                for line in &lines {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        self.say("226 Directory send OK.");
        Ok(())
    }

    /// Runs a transfer on a [`Conn`] built around the current session.
    fn with_conn<T>(&mut self, f: impl AsyncFnOnce(&mut Conn, &Output) -> anyhow::Result<T>) -> anyhow::Result<T> {
        let (Some(session), Some(url)) = (self.session.take(), self.url.clone()) else {
            return Err(Usage("Not connected.").into());
        };
        let mut conn = Conn { session, url, args: self.connect_args() };
        let out = Output::new(!self.progress, false);
        let result = self.rt.block_on(f(&mut conn, &out));
        self.session = Some(conn.session);
        self.names_stale = true;
        result
    }

    fn stats(&self, bytes: u64, started: Instant, received: bool) {
        if self.hash.is_some() {
            println!();
        }
        let secs = started.elapsed().as_secs_f64().max(1e-6);
        self.say(&format!(
            "226 Transfer complete.\n{bytes} bytes {} in {secs:.2} secs ({:.1} MB/s)",
            if received { "received" } else { "sent" },
            bytes as f64 / secs / 1e6
        ));
    }

    fn get(&mut self, rest: &[&str], resume: bool) -> anyhow::Result<()> {
        let Some(remote) = rest.first().map(|s| s.to_string()) else {
            return Err(Usage("usage: get remote-file [local-file]").into());
        };
        let local = PathBuf::from(rest.get(1).map_or_else(|| base_name(&remote).to_string(), |s| s.to_string()));
        self.transfer_get(&remote, &local, resume)
    }

    fn transfer_get(&mut self, remote: &str, local: &Path, resume: bool) -> anyhow::Result<()> {
        self.say(&format!("local: {} remote: {remote}", local.display()));
        let started = Instant::now();
        let hash = self.hash;
        let ascii = self.ascii;
        // In ASCII type byte offsets differ between the two ends: no resume.
        let opts = TransferOptions { resume: resume && !ascii, ..TransferOptions::default() };
        let done = self.with_conn(async |conn, out| {
            let mut marks = HashMarks::new(hash);
            Ok(download(conn, remote, local, opts, out, &mut |n| marks.update(n)).await?.bytes)
        })?;
        self.stats(done, started, true);
        Ok(())
    }

    fn put(&mut self, rest: &[&str], mode: StoreMode) -> anyhow::Result<()> {
        let Some(local) = rest.first().map(PathBuf::from) else {
            return Err(Usage("usage: put local-file [remote-file]").into());
        };
        let remote = rest.get(1).map_or_else(
            || local.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            |s| s.to_string(),
        );
        self.transfer_put(&local, &remote, mode)
    }

    fn transfer_put(&mut self, local: &Path, remote: &str, mode: StoreMode) -> anyhow::Result<()> {
        self.say(&format!("local: {} remote: {remote}", local.display()));
        let started = Instant::now();
        let hash = self.hash;
        let done = self.with_conn(async |conn, out| {
            let mut marks = HashMarks::new(hash);
            if mode == StoreMode::Append {
                let mut file = tokio::fs::File::open(local)
                    .await
                    .map_err(|e| ClientError::Local { path: local.display().to_string(), cause: e })?;
                return Ok(conn.session.store(remote, mode, &mut file, &mut |n| marks.update(n)).await?);
            }
            Ok(upload(conn, local, remote, TransferOptions::default(), out, &mut |n| marks.update(n)).await?.bytes)
        })?;
        self.stats(done, started, false);
        Ok(())
    }

    /// Remote names matching each pattern (client-side globbing of `NLST`).
    fn remote_matches(&mut self, patterns: &[&str]) -> anyhow::Result<Vec<String>> {
        let Some(session) = &mut self.session else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for pattern in patterns {
            if !self.glob || !pattern.contains(['*', '?', '[']) {
                out.push(pattern.to_string());
                continue;
            }
            let (dir, file_pattern) = match pattern.rsplit_once('/') {
                Some((d, p)) => (Some(d), p),
                None => (None, *pattern),
            };
            let matcher = glob::Pattern::new(file_pattern)?;
            let mut names = self.rt.block_on(session.nlst(dir))?;
            names.sort();
            let before = out.len();
            for name in names {
                let base = base_name(&name);
                if matcher.matches(base) {
                    out.push(match dir {
                        Some(d) => format!("{d}/{base}"),
                        None => base.to_string(),
                    });
                }
            }
            if out.len() == before {
                println!("No match for {pattern}.");
            }
        }
        Ok(out)
    }

    /// Asks `question? ` when prompting; y/Enter yes, n no, a all, q quit.
    fn confirm(&mut self, question: &str, input: &mut Input, all: &mut bool) -> Option<bool> {
        if !self.prompt || *all || !self.interactive {
            return Some(true);
        }
        let answer = input.line(&format!("{question}? "))?;
        match answer.trim().chars().next().map(|c| c.to_ascii_lowercase()) {
            Some('n') => Some(false),
            Some('a') => {
                *all = true;
                Some(true)
            }
            Some('q') => None,
            _ => Some(true),
        }
    }

    fn mget(&mut self, rest: &[&str], input: &mut Input) -> anyhow::Result<()> {
        if rest.is_empty() {
            return Err(Usage("usage: mget remote-files").into());
        }
        let mut all = false;
        for remote in self.remote_matches(rest)? {
            match self.confirm(&format!("mget {remote}"), input, &mut all) {
                None => break,
                Some(false) => continue,
                Some(true) => {}
            }
            let local = PathBuf::from(base_name(&remote));
            if let Err(e) = self.transfer_get(&remote, &local, false) {
                self.fail(describe_error(&e));
            }
        }
        Ok(())
    }

    fn mput(&mut self, rest: &[&str], input: &mut Input) -> anyhow::Result<()> {
        if rest.is_empty() {
            return Err(Usage("usage: mput local-files").into());
        }
        let mut files = Vec::new();
        for pattern in rest {
            if self.glob && pattern.contains(['*', '?', '[']) {
                let matched: Vec<PathBuf> =
                    glob::glob(pattern)?.filter_map(Result::ok).filter(|p| p.is_file()).collect();
                if matched.is_empty() {
                    println!("No match for {pattern}.");
                }
                files.extend(matched);
            } else {
                files.push(PathBuf::from(pattern));
            }
        }
        let mut all = false;
        for local in files {
            match self.confirm(&format!("mput {}", local.display()), input, &mut all) {
                None => break,
                Some(false) => continue,
                Some(true) => {}
            }
            let remote = local.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if let Err(e) = self.transfer_put(&local, &remote, StoreMode::Replace) {
                self.fail(describe_error(&e));
            }
        }
        Ok(())
    }

    fn mdelete(&mut self, rest: &[&str], input: &mut Input) -> anyhow::Result<()> {
        if rest.is_empty() {
            return Err(Usage("usage: mdelete remote-files").into());
        }
        let mut all = false;
        for remote in self.remote_matches(rest)? {
            match self.confirm(&format!("mdelete {remote}"), input, &mut all) {
                None => break,
                Some(false) => continue,
                Some(true) => {}
            }
            let Some(session) = &mut self.session else { break };
            match self.rt.block_on(session.delete(&remote)) {
                Ok(()) => self.say(&format!("250 Deleted {remote}.")),
                Err(e) => self.fail(e),
            }
        }
        self.names_stale = true;
        Ok(())
    }
}

/// The work of a one-request command, borrowing the session.
type RemoteFuture<'s> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, ClientError>> + 's>>;

/// A usage message: printed as it is.
#[derive(Debug)]
struct Usage(&'static str);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Usage {}

/// A server refusal as the classic utility prints it (`550 …`), others as they are.
fn describe_error(e: &anyhow::Error) -> String {
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::Reply { code, text, .. }) => format!("{code} {text}"),
        _ => format!("ftp: {e:#}"),
    }
}

/// Prints `#` for every `every` bytes.
struct HashMarks {
    every: Option<u64>,
    printed: u64,
}

impl HashMarks {
    fn new(every: Option<u64>) -> Self {
        HashMarks { every, printed: 0 }
    }

    fn update(&mut self, total: u64) {
        let Some(every) = self.every else { return };
        let due = total / every;
        if due > self.printed {
            let mut out = std::io::stdout().lock();
            for _ in self.printed..due {
                let _ = out.write_all(b"#");
            }
            let _ = out.flush();
            self.printed = due;
        }
    }
}

fn toggle(what: &str, current: bool, rest: &[&str]) -> bool {
    let new = match rest.first().map(|s| s.to_ascii_lowercase()) {
        Some(s) if s == "on" => true,
        Some(s) if s == "off" => false,
        _ => !current,
    };
    println!("{what} {}.", on_off(new));
    new
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn parse_size(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (n, mult) = match lower.strip_suffix('k') {
        Some(n) => (n, 1024),
        None => match lower.strip_suffix('m') {
            Some(n) => (n, 1024 * 1024),
            None => (lower.as_str(), 1),
        },
    };
    n.parse::<u64>().ok().map(|n| n * mult)
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn cwd_display() -> String {
    std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_else(|e| format!("({e})"))
}

/// Completion of command names, remote names and (for local arguments) local files.
#[derive(Helper, Highlighter, Hinter, Validator)]
struct ShellHelper {
    names: Arc<Mutex<Vec<String>>>,
    files: FilenameCompleter,
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, ctx: &rustyline::Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(' ').map_or(0, |i| i + 1);
        let word = &before[start..];
        let pair = |s: &str| Pair { display: s.to_string(), replacement: s.to_string() };
        if start == 0 {
            let found = COMMANDS.iter().filter(|(n, _)| n.starts_with(word)).map(|(n, _)| pair(n)).collect();
            return Ok((0, found));
        }
        let command = before.split_whitespace().next().unwrap_or("");
        let local = matches!(command, "put" | "send" | "mput" | "append" | "lcd")
            && before[..start].split_whitespace().count() == 1;
        if local {
            return self.files.complete(line, pos, ctx);
        }
        let names = self.names.lock().map(|n| n.clone()).unwrap_or_default();
        let found = names.iter().map(|n| base_name(n)).filter(|n| n.starts_with(word)).map(pair).collect();
        Ok((start, found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_and_sizes() {
        assert_eq!(split_words("  get \"a file.txt\"  b "), ["get", "a file.txt", "b"]);
        assert_eq!(split_words("put \"\""), ["put", ""]);
        assert_eq!(parse_size("8k"), Some(8192));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("x"), None);
    }
}
