//! The `damfs` command. Argument parsing and printing only; the work is in `damfs::cli`
//! (and, for `mount`/`unmount`, in the daemon).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use damfs::cli::{self, CliError, CliResult, Input};
use damfs::daemon::{self, MountOptions};

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
        /// The store: a directory, or postgresql://[user@]host[:port]/db?table=NAME.
        store: PathBuf,
        /// The input file; `-` or nothing reads standard input.
        input: Option<PathBuf>,
    },
    /// Write every document as JSON Lines, in order.
    Export {
        /// The store: a directory, or postgresql://[user@]host[:port]/db?table=NAME.
        store: PathBuf,
        /// Write to this file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Print the store's figures as JSON.
    Stat {
        /// The store: a directory, or postgresql://[user@]host[:port]/db?table=NAME.
        store: PathBuf,
    },
    /// Rewrite the store with only its live documents (reclaims the space of deleted and
    /// replaced ones).
    Prune {
        /// The store: a directory, or postgresql://[user@]host[:port]/db?table=NAME.
        store: PathBuf,
    },
    /// Remove every document.
    Clear {
        /// The store: a directory, or postgresql://[user@]host[:port]/db?table=NAME.
        store: PathBuf,
    },
    /// Mount a store so that each document is a JSON file (/<index> and /by-id/<id>).
    ///
    /// Creates STORE_DIR if it is missing. Without --foreground the daemon detaches and this
    /// command exits 0 once the mount is live. Detached daemons log to --log-file, or else to
    /// STORE_DIR.damfs.log next to the store directory (RUST_LOG sets the level). STORE_DIR may
    /// be a postgresql:// URL (see `damfs import --help`); its log is MOUNTPOINT.damfs.log.
    Mount {
        store_dir: PathBuf,
        mountpoint: PathBuf,
        /// Stay in the foreground (log to stderr unless --log-file is given).
        #[arg(long)]
        foreground: bool,
        /// Documents kept in the buffer pool (0: write every change through).
        #[arg(long, default_value_t = 1000)]
        pool_size: usize,
        /// Serve the store read-only: every write fails with EROFS.
        #[arg(long)]
        read_only: bool,
        /// Let other users enter the mount (needs user_allow_other in /etc/fuse.conf
        /// unless run as root).
        #[arg(long)]
        allow_other: bool,
        /// Append the daemon's log to this file.
        #[arg(long, value_name = "FILE")]
        log_file: Option<PathBuf>,
        /// Largest document or temporary file (EFBIG past it); K, M, G suffixes allowed.
        #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_size)]
        max_doc_size: u64,
    },
    /// Unmount a damfs mount and wait until its daemon has saved and exited.
    Unmount { mountpoint: PathBuf },
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
        }
        // The daemon sets up its own logging and reports its own errors.
        Command::Mount { .. } | Command::Unmount { .. } => {}
    }
    Ok(())
}

/// `mount` and `unmount`: the daemon's commands.
fn run_daemon(command: Command) -> Result<(), daemon::DaemonError> {
    match command {
        Command::Mount {
            store_dir,
            mountpoint,
            foreground,
            pool_size,
            read_only,
            allow_other,
            log_file,
            max_doc_size,
        } => daemon::mount(MountOptions {
            store: store_dir,
            mountpoint,
            foreground,
            pool_size,
            read_only,
            allow_other,
            log_file,
            max_doc_size,
        }),
        Command::Unmount { mountpoint } => daemon::unmount(&mountpoint),
        _ => Ok(()),
    }
}

/// A byte count: digits with an optional K, M or G (powers of 1024) suffix.
fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, shift) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 10),
        Some((i, 'm' | 'M')) => (&s[..i], 20),
        Some((i, 'g' | 'G')) => (&s[..i], 30),
        _ => (s, 0),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size (like 4096, 512K, 64M, 1G)"))?;
    n.checked_mul(1 << shift)
        .filter(|&n| n > 0 && n <= damfs::store::MAX_DOC_LEN as u64)
        .ok_or_else(|| format!("{s:?} is out of range (1 byte to 4 GiB - 1)"))
}

fn main() -> ExitCode {
    // Usage errors exit with 2 (clap's default); failures of a command with 1.
    let args = Args::parse();
    if matches!(
        args.command,
        Command::Mount { .. } | Command::Unmount { .. }
    ) {
        return match run_daemon(args.command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("damfs: {e}");
                ExitCode::FAILURE
            }
        };
    }
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

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("").is_err());
    }
}
