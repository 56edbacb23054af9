//! The `damfs` command. Argument parsing and printing only; the work is in `damfs::cli`
//! (and, for `mount`/`unmount`, in the daemon).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use damfs::cli::{self, CliError, CliResult, Input};

/// A store of JSON documents on disk (a port of Jina's DocumentArrayMemmap), and a FUSE
/// mount that shows each document as a JSON file.
#[derive(Parser, Debug)]
#[command(name = "damfs", version, about, propagate_version = true)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Add documents from JSON Lines (one object per line) or one JSON array of objects.
    ///
    /// The whole input is validated first: on any bad record nothing is written. The store
    /// is created if it does not exist.
    Import {
        /// The store directory.
        store: PathBuf,
        /// The input file; `-` or nothing reads standard input.
        input: Option<PathBuf>,
    },
    /// Write every document as JSON Lines, in order.
    Export {
        /// The store directory.
        store: PathBuf,
        /// Write to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print the store's figures as JSON.
    Stat {
        /// The store directory.
        store: PathBuf,
    },
    /// Rewrite the store with only its live documents (reclaims the space of deleted and
    /// replaced ones).
    Prune {
        /// The store directory.
        store: PathBuf,
    },
    /// Remove every document.
    Clear {
        /// The store directory.
        store: PathBuf,
    },
    // ---- MOUNT / UNMOUNT: to be added by the daemon (src/daemon.rs) ----------------------
    // `Mount { store, mountpoint, --foreground, --pool-size, --read-only, --allow-other,
    // --max-doc-size }` and `Unmount { mountpoint }` (SPEC §2) go here, with their arms in
    // `run` below.
}

fn run(command: Command) -> CliResult<()> {
    match command {
        Command::Import { store, input } => {
            let input = Input::from_arg(input.as_deref());
            let report = cli::import(&store, &input)?;
            eprintln!("imported {} documents", report.imported);
        }
        Command::Export { store, output } => match output {
            Some(path) => {
                let name = path.display().to_string();
                let file = File::create(&path).map_err(|e| CliError::Io {
                    what: format!("cannot create {name}"),
                    source: e,
                })?;
                let mut out = BufWriter::with_capacity(1 << 16, file);
                cli::export(&store, &mut out, &name)?;
            }
            None => {
                let stdout = io::stdout();
                let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
                cli::export(&store, &mut out, "standard output")?;
            }
        },
        Command::Stat { store } => {
            let stats = cli::stat(&store)?;
            let text = serde_json::to_string_pretty(&stats).unwrap_or_default();
            let mut out = io::stdout().lock();
            writeln!(out, "{text}").map_err(|e| CliError::Io {
                what: "writing standard output".into(),
                source: e,
            })?;
        }
        Command::Prune { store } => {
            let r = cli::prune(&store)?;
            eprintln!(
                "pruned {}: {} documents, {} bytes before, {} bytes after",
                store.display(),
                r.length,
                r.bytes_before,
                r.bytes_after
            );
        }
        Command::Clear { store } => {
            let n = cli::clear(&store)?;
            eprintln!("cleared {}: removed {n} documents", store.display());
        } // ---- MOUNT / UNMOUNT arms go here (daemon) ----
    }
    Ok(())
}

fn main() -> ExitCode {
    // Usage errors exit with 2 (clap's default); failures of a command with 1.
    let args = Args::parse();
    cli::init_logging();
    match run(args.command) {
        Ok(()) => ExitCode::SUCCESS,
        // `damfs export | head` closing the pipe early is not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            for line in e.lines() {
                eprintln!("damfs: {line}");
            }
            ExitCode::FAILURE
        }
    }
}
