//! The `ferroftp` binary: parses the command line and wires the library crates together.

mod client;
mod config;
mod control;
mod keys;
mod sandbox;
mod serve;
mod tls;

use clap::{Parser, Subcommand};

/// ferroftp: a fast, safe FTP server and client.
///
/// Start with `ferroftp serve` to share the current directory read-only on
/// ftp://127.0.0.1:2121/ (anonymous login), then add flags as needed.
#[derive(Parser, Debug)]
#[command(name = "ferroftp", version, about, long_about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the FTP server: serve a directory over FTP.
    ///
    /// With no options: DIR (default: the current directory) read-only to anonymous
    /// users, on 127.0.0.1 and ::1 port 2121. Nothing is reachable from other
    /// machines until you pass --listen.
    ///
    /// Examples:
    ///   ferroftp serve ./public
    ///   ferroftp serve /srv/ftp --user alice:s3cret --anonymous off
    ///   ferroftp serve /srv/ftp --listen 0.0.0.0:21 --passive-ports 50000-50100
    ///   ferroftp serve /srv/ftp --listen 0.0.0.0:21 --public-address ftp.example.com
    ///   ferroftp serve --config /etc/ferroftp.toml
    #[command(verbatim_doc_comment)]
    Serve(Box<serve::ServeArgs>),
    /// TLS certificate tools.
    Cert {
        #[command(subcommand)]
        command: tls::CertCommand,
    },
    /// Configuration file tools: example, check, explain.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// Reload a running server's configuration through its control socket
    /// (server.control_socket); prints the mistakes if the file is refused.
    Reload {
        /// The control socket.
        #[arg(long, value_name = "PATH", default_value = "/run/ferroftp.sock")]
        socket: std::path::PathBuf,
    },
    /// List the addresses banned after repeated failed logins ([login]
    /// ban_after), or lift a ban, through the server's control socket. User
    /// names are never banned (that would lock their owners out); their failed
    /// logins slow further failures down, which lifting user:NAME forgets.
    ///
    /// Examples:
    ///   ferroftp bans
    ///   ferroftp bans --lift 203.0.113.7
    ///   ferroftp bans --lift user:alice
    #[command(verbatim_doc_comment)]
    Bans {
        /// The control socket (server.control_socket).
        #[arg(long, value_name = "PATH", default_value = "/run/ferroftp.sock")]
        socket: std::path::PathBuf,
        /// Lift this ban: an address or an IPv6 network as listed; or user:NAME
        /// to forget a name's failed logins.
        #[arg(long, value_name = "TARGET")]
        lift: Option<String>,
    },
    /// List a directory on a server.
    ///
    /// Examples:
    ///   ferroftp ls ftp://ftp.example.com/pub/
    ///   ferroftp ls ftp://alice@ftp.example.com/ --netrc
    ///   ferroftp ls ftpes://alice:s3cret@ftp.example.com/ --json
    #[command(verbatim_doc_comment)]
    Ls(client::commands::LsArgs),
    /// Download a file (written to NAME.part, renamed when complete).
    ///
    /// Examples:
    ///   ferroftp get ftp://ftp.example.com/pub/file.iso
    ///   ferroftp get ftp://alice:s3cret@host/big.bin /tmp/ --resume --verify
    ///   ferroftp get ftp://host/notes.txt - | less
    #[command(verbatim_doc_comment)]
    Get(client::commands::GetArgs),
    /// Upload a file.
    ///
    /// Examples:
    ///   ferroftp put report.pdf ftp://alice:s3cret@host/docs/
    ///   ferroftp put big.bin ftp://alice@host/big.bin --netrc --resume --verify --preserve
    #[command(verbatim_doc_comment)]
    Put(client::commands::PutArgs),
    /// Delete files (or directories with --dir, whole trees with -r).
    Rm(client::commands::RmArgs),
    /// Create directories (-p: with parents).
    Mkdir(client::commands::MkdirArgs),
    /// Rename or move a file or directory on a server.
    ///
    /// Example:
    ///   ferroftp mv ftp://alice:s3cret@host/draft.txt final.txt
    #[command(verbatim_doc_comment)]
    Mv(client::commands::MvArgs),
    /// Make a local directory a copy of a server directory, or the reverse.
    ///
    /// Only files whose size or time differ are transferred.
    ///
    /// Examples:
    ///   ferroftp mirror ftp://ftp.example.com/pub/ ./pub
    ///   ferroftp mirror --reverse ./site ftp://alice:s3cret@host/www/ --delete --parallel 4
    #[command(verbatim_doc_comment)]
    Mirror(client::mirror::MirrorArgs),
    /// Copy a file from one server to another directly (FXP), or through this
    /// machine when the servers refuse.
    ///
    /// Example:
    ///   ferroftp fxp ftp://a.example.com/pub/x.iso ftp://bob:pw@b.example.com/incoming/
    #[command(verbatim_doc_comment)]
    Fxp(client::commands::FxpArgs),
    /// The interactive client, like the classic `ftp` utility.
    ///
    /// Examples:
    ///   ferroftp shell ftp.example.com
    ///   ferroftp ftp -n 127.0.0.1 2121 < commands.txt
    #[command(verbatim_doc_comment, visible_alias = "ftp")]
    Shell(client::shell::ShellArgs),
    /// Print the argon2id hash of a password, for `password = "..."` in the
    /// configuration. Reads the password without echo (or one line from
    /// standard input when it is not a terminal).
    Passwd,
    /// The helper `serve` starts, as root, to read its TLS key files after it
    /// gave up root (see `server.user`); not for use by hand.
    #[command(hide = true)]
    KeyHelper {
        #[arg(long)]
        cert: std::path::PathBuf,
        #[arg(long)]
        key: std::path::PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Cert { command } => tls::run_cert(command),
        Command::Config { command } => config::run(command),
        Command::Passwd => config::passwd(),
        Command::KeyHelper { cert, key } => keys::run_helper(&cert, &key),
        Command::Reload { socket } => control::reload(&socket),
        Command::Bans { socket, lift } => control::bans(&socket, lift.as_deref()),
        Command::Ls(args) => client::commands::ls(args),
        Command::Get(args) => client::commands::get(args),
        Command::Put(args) => client::commands::put(args),
        Command::Rm(args) => client::commands::rm(args),
        Command::Mkdir(args) => client::commands::mkdir(args),
        Command::Mv(args) => client::commands::mv(args),
        Command::Mirror(args) => client::mirror::run(args),
        Command::Fxp(args) => client::commands::fxp(args),
        Command::Shell(args) => return client::shell::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Configuration errors are already phrased "error: FILE:LINE:COLUMN: ...".
            if e.downcast_ref::<ferroftp_server::config::ConfigErrors>().is_some() {
                eprintln!("{e}");
            } else {
                eprintln!("error: {e:#}");
            }
            std::process::ExitCode::from(client::exit_code(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
