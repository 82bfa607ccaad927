//! The `ferroftp` binary: parses the command line and wires the library crates together.

mod serve;
mod tls;

use clap::{Parser, Subcommand};

/// ferroftp: a fast, safe FTP server.
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
    #[command(verbatim_doc_comment)]
    Serve(serve::ServeArgs),
    /// TLS certificate tools.
    Cert {
        #[command(subcommand)]
        command: tls::CertCommand,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Cert { command } => tls::run_cert(command),
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
