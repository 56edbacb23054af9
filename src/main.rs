//! The `damfs` command. Argument parsing and printing only; the work is in `damfs::cli`
//! (and, for `mount`/`unmount`, in the daemon).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use std::ffi::OsString;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use damfs::cli::{self, CliError, CliResult, Input};
use damfs::daemon::{self, MountOptions};
use damfs::doc_commands::{self, Key};
use damfs::docs_gen;
use damfs::mount_helper;

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
    /// Mount a store so that each document is a JSON file (/<index> and /by-id/<id>).
    ///
    /// Creates STORE_DIR if it is missing. Without --foreground the daemon detaches and this
    /// command exits 0 once the mount is live. Detached daemons log to --log-file, or else to
    /// STORE_DIR.damfs.log next to the store directory (RUST_LOG sets the level).
    ///
    /// Every flag also has a mount(8)-style form for -o (and for fstab, through the
    /// mount.fuse.damfs helper): pool_size=N, ro, rw, allow_other, log_file=FILE,
    /// max_doc_size=BYTES, ttl=DURATION, foreground. The kernel flags nosuid, suid, nodev,
    /// dev, noexec, exec, sync, async and dirsync apply to the mount; options for mount,
    /// fstab and systemd (defaults, _netdev, noauto, nofail, user, x-systemd.*, atime
    /// settings, …) are accepted and ignored; any other option is an error.
    #[command(args_override_self = true)]
    Mount {
        /// The store directory (created if missing).
        store_dir: PathBuf,
        /// An existing directory to mount on.
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
        /// How long the kernel may cache names, attributes and missing names (damfs drops
        /// them itself whenever they change; 0 makes every path walk ask the daemon).
        /// Seconds, or with ms, s, m, h (default 60s).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        ttl: Option<Duration>,
        /// Mount options as a comma-separated list, as mount(8) and fstab give them
        /// (pool_size=100,ro,allow_other,…).
        #[arg(short = 'o', long = "options", value_name = "OPTIONS")]
        options: Vec<String>,
    },
    /// Unmount a damfs mount and wait until its daemon has saved and exited.
    Unmount {
        /// Where the store is mounted.
        mountpoint: PathBuf,
    },
    /// Print one document's JSON exactly as stored (a newline is added if it has none).
    #[command(allow_negative_numbers = true)]
    Get {
        /// The store directory.
        store: PathBuf,
        /// A position (0, 1, …; -1 is the last) or an id.
        key: String,
        /// Read KEY as an id even if it looks like a number.
        #[arg(long)]
        id: bool,
    },
    /// Replace or add documents: each replaces the document with its id, or is added at the
    /// end (a document without an id gets a fresh one). Prints the ids put, one per line.
    ///
    /// The input is JSON Lines, a JSON array, or one document (which may span lines),
    /// validated completely first: on any bad record nothing is written. The store is
    /// created if it does not exist.
    Put {
        /// The store directory.
        store: PathBuf,
        /// The input file; `-` or nothing reads standard input.
        input: Option<PathBuf>,
    },
    /// Remove the documents with these ids (all or none: if one is missing, nothing is
    /// removed).
    Rm {
        /// The store directory.
        store: PathBuf,
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
    },
    /// Print every document's id, in order, one per line.
    Ls {
        /// The store directory.
        store: PathBuf,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages (damfs.1, damfs-mount.1, …) into a directory.
    Man {
        /// Created if missing.
        outdir: PathBuf,
    },
    /// Install the mount helper that `mount -t fuse.damfs` and fstab entries use: a
    /// symlink DIR/mount.fuse.damfs to this binary.
    InstallHelper {
        /// Where mount(8) looks for helpers.
        #[arg(long, default_value = "/sbin", value_name = "DIR")]
        dir: PathBuf,
    },
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
        Command::Get { store, key, id } => {
            let stdout = io::stdout();
            let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
            doc_commands::get(&store, &Key::parse(&key, id), &mut out, "standard output")?;
        }
        Command::Put { store, input } => {
            let report = doc_commands::put(&store, &Input::from_arg(input.as_deref()))?;
            let mut out = BufWriter::new(io::stdout().lock());
            let write_err = |e| CliError::Io {
                what: "writing standard output".into(),
                source: e,
            };
            for id in &report.ids {
                writeln!(out, "{id}").map_err(write_err)?;
            }
            out.flush().map_err(write_err)?;
            eprintln!(
                "put {} documents: {} replaced, {} added",
                report.ids.len(),
                report.replaced,
                report.added
            );
        }
        Command::Rm { store, ids } => {
            let n = doc_commands::rm(&store, &ids)?;
            eprintln!("removed {n} documents from {}", store.display());
        }
        Command::Ls { store } => {
            let stdout = io::stdout();
            let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
            doc_commands::ls(&store, &mut out, "standard output")?;
        }
        Command::Completions { shell } => {
            let mut out = Vec::new();
            docs_gen::completions(Args::command(), shell, &mut out);
            io::stdout()
                .lock()
                .write_all(&out)
                .map_err(|e| CliError::Io {
                    what: "writing standard output".into(),
                    source: e,
                })?;
        }
        Command::Man { outdir } => {
            let pages =
                docs_gen::man_pages(Args::command(), &outdir).map_err(|e| CliError::Io {
                    what: format!("writing man pages into {}", outdir.display()),
                    source: e,
                })?;
            eprintln!("wrote {} man pages into {}", pages.len(), outdir.display());
        }
        Command::InstallHelper { dir } => {
            let link = mount_helper::install(&dir).map_err(|e| CliError::Io {
                what: format!("installing the mount helper into {}", dir.display()),
                source: e,
            })?;
            eprintln!(
                "{} -> {}",
                link.display(),
                mount_helper::current_exe_display()
            );
        }
    }
    Ok(())
}

/// `mount` and `unmount`: the daemon's commands.
fn run_daemon(command: Command, kernel_flags: &[String]) -> Result<(), daemon::DaemonError> {
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
            ttl,
            options: _,
        } => daemon::mount(MountOptions {
            store: store_dir,
            mountpoint,
            foreground,
            pool_size,
            read_only,
            allow_other,
            log_file,
            max_doc_size,
            ttl,
            kernel_flags: kernel_flags
                .iter()
                .filter_map(|f| mount_helper::kernel_flag(f))
                .collect(),
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

/// A duration: seconds (fractions allowed) with an optional ms, s, m or h suffix.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "{s:?} is not a duration (like 1, 0.5, 500ms, 60s, 5m)"
            ))
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (like 1, 0.5, 500ms, 60s, 5m)"))?;
    Duration::try_from_secs_f64(n * scale)
        .ok()
        .filter(|d| *d <= Duration::from_secs(86_400 * 365))
        .ok_or_else(|| format!("{s:?} is out of range (0 to 365 days)"))
}

/// How the process was called, for exit codes: mount(8) helpers report usage errors with
/// 1 and mount failures with 32; damfs itself uses 2 and 1.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Caller {
    User,
    Mount,
}

impl Caller {
    fn usage_error(self) -> ExitCode {
        ExitCode::from(if self == Caller::Mount { 1 } else { 2 })
    }

    fn failure(self) -> ExitCode {
        ExitCode::from(if self == Caller::Mount { 32 } else { 1 })
    }
}

/// The `damfs mount` flags, as `-o` translation needs them.
fn mount_flags() -> Vec<mount_helper::Flag> {
    let cmd = Args::command();
    let Some(mount) = cmd.find_subcommand("mount") else {
        return Vec::new();
    };
    mount
        .get_arguments()
        .filter_map(|a| {
            Some(mount_helper::Flag {
                long: a.get_long()?.to_owned(),
                takes_value: a.get_action().takes_values(),
            })
        })
        .collect()
}

/// The command line to parse, and the kernel flags `-o` gave (they have no flag of their own).
struct CommandLine {
    argv: Vec<OsString>,
    kernel_flags: Vec<String>,
}

/// The command line to parse: a mount helper call becomes `damfs mount …`, and `-o`
/// lists of `damfs mount` become its flags. Gives `None` when there is nothing to do (the
/// helper's `-f`, fake mount, after checking everything).
fn command_line(caller: Caller) -> Result<Option<CommandLine>, String> {
    let mut argv: Vec<OsString> = std::env::args_os().collect();
    let mut sloppy = false;
    let mut fake = false;
    if caller == Caller::Mount {
        let call = mount_helper::parse_helper_args(&argv)?;
        sloppy = call.sloppy;
        fake = call.fake;
        argv = call.argv;
    }
    let mut kernel_flags = Vec::new();
    if argv.get(1).is_some_and(|a| a == "mount") {
        let (lists, rest) = mount_helper::take_option_lists(&argv[2..])?;
        let translated = mount_helper::translate(&lists, &mount_flags(), sloppy)?;
        let mut out = vec![argv[0].clone(), argv[1].clone()];
        out.extend(translated.args.into_iter().map(OsString::from));
        out.extend(rest);
        argv = out;
        kernel_flags = translated.kernel_flags;
    }
    if fake {
        Args::try_parse_from(&argv).map_err(|e| e.to_string())?;
        return Ok(None);
    }
    Ok(Some(CommandLine { argv, kernel_flags }))
}

fn main() -> ExitCode {
    // Usage errors exit with 2 (clap's default); failures of a command with 1.
    let caller = match std::env::args_os().next() {
        Some(argv0) if mount_helper::is_helper(&argv0) => Caller::Mount,
        _ => Caller::User,
    };
    let line = match command_line(caller) {
        Ok(Some(line)) => line,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("damfs: {e}");
            return caller.usage_error();
        }
    };
    let args = match Args::try_parse_from(&line.argv) {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                caller.usage_error()
            } else {
                ExitCode::SUCCESS // --help, --version
            };
        }
    };
    if matches!(
        args.command,
        Command::Mount { .. } | Command::Unmount { .. }
    ) {
        return match run_daemon(args.command, &line.kernel_flags) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("damfs: {e}");
                caller.failure()
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

    #[test]
    fn durations_parse() {
        use super::parse_duration;
        use std::time::Duration;
        assert_eq!(parse_duration("60"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("1x").is_err());
        assert!(parse_duration("1e9h").is_err());
        assert!(parse_duration("").is_err());
    }
}
