//! The `damfs` command. Argument parsing and printing only; the work is in `damfs::cli`
//! (and, for `mount`/`unmount`, in the daemon).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use std::ffi::OsString;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use damfs::array::cli as acli;
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
    /// Add documents from JSON Lines (one object per line), one JSON array of objects, or a
    /// Jina DocumentArrayMemmap directory (header.bin + body.bin).
    ///
    /// The whole input is validated first: on any bad record nothing is written. The store
    /// is created if it does not exist. A Jina store's documents are stored as the text of
    /// jina's `doc.to_json()`.
    Import {
        /// The store: a directory, or postgresql://[user@]host[:port]/db?table=NAME.
        store: PathBuf,
        /// The input file, or a Jina store's directory; `-` or nothing reads standard input.
        input: Option<PathBuf>,
        /// Jina stores only: leave out (and report) records that cannot be converted instead
        /// of failing.
        #[arg(long)]
        skip_bad: bool,
    },
    /// Write every document as JSON Lines, in order.
    Export {
        /// The store: a directory, or postgresql://[user@]host[:port]/db?table=NAME.
        store: PathBuf,
        /// Write to this file instead of standard output.
        #[arg(short, long, value_name = "FILE", conflicts_with = "jina")]
        output: Option<PathBuf>,
        /// Write a Jina DocumentArrayMemmap store (for jina 2.x) into this new or empty
        /// directory instead of JSON Lines.
        #[arg(long, value_name = "DIR")]
        jina: Option<PathBuf>,
        /// With --jina: the dtype of embeddings: `float32` (numbers as float32, the
        /// default), `exact` (no value changes: int64, float32 or float64), or a numpy dtype.
        #[arg(long, value_name = "RULE", default_value = "float32", requires = "jina",
              value_parser = parse_dtype_rule)]
        embedding_dtype: damfs::jina::from_json::DtypeRule,
        /// With --jina: the dtype of blobs (as --embedding-dtype).
        #[arg(long, value_name = "RULE", default_value = "float32", requires = "jina",
              value_parser = parse_dtype_rule)]
        blob_dtype: damfs::jina::from_json::DtypeRule,
        /// With --jina: the header's key length, as the original's
        /// `DocumentArrayMemmap(path, key_length=N)` (reading finds it by itself).
        #[arg(long, value_name = "N", default_value_t = 36, requires = "jina",
              value_parser = clap::value_parser!(u16).range(1..=1024))]
        key_length: u16,
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
    /// Print fields of every document as JSON Lines (`tags__a` reaches into `tags`).
    ///
    /// One field: its value per line; several: a JSON array per line. Missing is null.
    Attrs {
        store: PathBuf,
        #[arg(required = true)]
        fields: Vec<String>,
    },
    /// Print K documents drawn at random without replacement (JSON Lines).
    Sample {
        store: PathBuf,
        k: usize,
        /// Draw as Python's random.seed(S) would: the original's choice for the same seed.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Print every document once, in a random order (JSON Lines).
    Shuffle {
        store: PathBuf,
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Write one JSON Lines file per value of a tag into OUTDIR (first-seen order).
    Split {
        store: PathBuf,
        tag: String,
        outdir: PathBuf,
    },
    /// Print the documents that traversal paths reach (`r`, `c`, `m`, `cc`, `r,c`, ...).
    Traverse { store: PathBuf, paths: String },
    /// Find each left document's nearest right documents by embedding and write them into
    /// its `matches`.
    ///
    /// LEFT is a store (its documents are updated and saved) or a JSON Lines file of query
    /// documents (printed with their matches on standard output).
    Match {
        left: PathBuf,
        right: PathBuf,
        /// cosine, euclidean or sqeuclidean.
        #[arg(long, default_value = "cosine")]
        metric: String,
        /// Matches per document.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Skip right documents with the query's own id.
        #[arg(long)]
        exclude_self: bool,
        /// Matches hold only the id and the score.
        #[arg(long)]
        only_id: bool,
        /// Map each query's distances into [A, B] (`1,0`: the closest scores 1).
        #[arg(long, value_name = "A,B", value_parser = parse_pair)]
        normalization: Option<(f32, f32)>,
        /// The score's name (the metric's by default).
        #[arg(long)]
        metric_name: Option<String>,
        /// Right documents compared at once (memory: rows × dim × 4 bytes).
        #[arg(long, default_value_t = damfs::array::matching::DEFAULT_BATCH)]
        batch_size: usize,
    },
    /// Plot the embeddings' 2-D PCA projection as a PNG; prints the colour legend.
    Visualize {
        store: PathBuf,
        #[arg(short, long, value_name = "PNG")]
        output: PathBuf,
        /// Colour the points by this field's value (`tags__label`, ...).
        #[arg(long, value_name = "FIELD")]
        color_by: Option<String>,
        /// Width and height in pixels (1 to 8192).
        #[arg(long, default_value_t = 800,
              value_parser = clap::value_parser!(u32).range(1..=i64::from(damfs::array::visualize::MAX_PLOT_SIZE)))]
        size: u32,
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
        Command::Import {
            store,
            input: Some(dir),
            skip_bad,
        } if damfs::jina::is_original_store(&dir) => {
            let report = cli::jina::import(&store, &dir, skip_bad)?;
            match report.skipped {
                0 => eprintln!("imported {} documents", report.imported),
                n => eprintln!(
                    "imported {} documents; skipped {n} that could not be converted",
                    report.imported
                ),
            }
        }
        Command::Import {
            store,
            input,
            skip_bad,
        } => {
            if skip_bad {
                return Err(CliError::Io {
                    what: "--skip-bad".into(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "it applies only to imports of a Jina store (a directory holding \
                         header.bin and body.bin)",
                    ),
                });
            }
            let input = Input::from_arg(input.as_deref());
            let report = cli::import(&store, &input)?;
            eprintln!("imported {} documents", report.imported);
        }
        Command::Export {
            store,
            jina: Some(dir),
            embedding_dtype,
            blob_dtype,
            key_length,
            ..
        } => {
            let rules = damfs::jina::from_json::ArrayRules {
                embedding: embedding_dtype,
                blob: blob_dtype,
            };
            let n = cli::jina::export(&store, &dir, &rules, usize::from(key_length))?;
            eprintln!("exported {n} documents to {}", dir.display());
        }
        Command::Export { store, output, .. } => match output {
            Some(path) => {
                let name = path.display().to_string();
                let create = || {
                    let file = File::create(&path).map_err(|e| CliError::Io {
                        what: format!("cannot create {name}"),
                        source: e,
                    })?;
                    Ok(BufWriter::with_capacity(1 << 16, file))
                };
                cli::export(&store, create, &name)?;
            }
            None => {
                let stdout = io::stdout();
                let create = || Ok(BufWriter::with_capacity(1 << 16, stdout.lock()));
                cli::export(&store, create, "standard output")?;
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
                cli::show(&store),
                r.length,
                r.bytes_before,
                r.bytes_after
            );
        }
        Command::Clear { store } => {
            let n = cli::clear(&store)?;
            eprintln!("cleared {}: removed {n} documents", cli::show(&store));
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
            eprintln!("removed {n} documents from {}", cli::show(&store));
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
        // The array commands: see run_array.
        _ => {}
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

fn parse_dtype_rule(s: &str) -> Result<damfs::jina::from_json::DtypeRule, String> {
    damfs::jina::from_json::DtypeRule::parse(s)
}

/// The array commands (`attrs` … `visualize`), whose work is in `damfs::array::cli`.
fn run_array(command: Command) -> Result<(), acli::CommandError> {
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    match command {
        Command::Attrs { store, fields } => {
            acli::attrs(&store, &fields, &mut out)?;
        }
        Command::Sample { store, k, seed } => acli::sample(&store, k, seed, &mut out)?,
        Command::Shuffle { store, seed } => acli::shuffle(&store, seed, &mut out)?,
        Command::Split { store, tag, outdir } => {
            for g in acli::split(&store, &tag, &outdir)? {
                let line = serde_json::json!({
                    "value": g.value,
                    "file": g.file.display().to_string(),
                    "count": g.count,
                });
                writeln!(out, "{line}").map_err(acli_write_err)?;
            }
        }
        Command::Traverse { store, paths } => {
            acli::traverse(&store, &paths, &mut out)?;
        }
        Command::Match {
            left,
            right,
            metric,
            limit,
            exclude_self,
            only_id,
            normalization,
            metric_name,
            batch_size,
        } => {
            let opts = damfs::array::MatchOptions {
                metric: metric.parse().map_err(|e| acli::CommandError {
                    what: "--metric".into(),
                    source: e,
                })?,
                limit: Some(limit),
                normalization,
                metric_name,
                exclude_self,
                only_id,
                batch_size,
                progress: None,
            };
            let r = acli::match_command(&left, &right, opts, &mut out)?;
            if r.into_store {
                eprintln!(
                    "matched {} documents of {} against {} documents",
                    r.queries,
                    left.display(),
                    r.right
                );
            }
        }
        Command::Visualize {
            store,
            output,
            color_by,
            size,
        } => {
            for e in acli::visualize(&store, &output, color_by.as_deref(), size)? {
                let line =
                    serde_json::json!({"value": e.value, "colour": e.colour, "count": e.count});
                writeln!(out, "{line}").map_err(acli_write_err)?;
            }
        }
        _ => {}
    }
    out.flush().map_err(acli_write_err)
}

fn acli_write_err(e: io::Error) -> acli::CommandError {
    acli::CommandError {
        what: "writing standard output".into(),
        source: damfs::array::ArrayError::Io {
            context: "writing".into(),
            source: e,
        },
    }
}

/// `A,B`: two numbers (for `--normalization`).
fn parse_pair(s: &str) -> Result<(f32, f32), String> {
    let bad = || format!("{s:?} is not two numbers A,B (like 0,1 or 1,0)");
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    Ok((
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    ))
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
    if let Command::Mount { store_dir, .. } = &args.command {
        if let Err(e) = cli::hide_password::reexec_without_password(store_dir) {
            eprintln!("damfs: cannot run again without the URL's password: {e}");
            return caller.failure();
        }
    }
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
    if matches!(
        args.command,
        Command::Attrs { .. }
            | Command::Sample { .. }
            | Command::Shuffle { .. }
            | Command::Split { .. }
            | Command::Traverse { .. }
            | Command::Match { .. }
            | Command::Visualize { .. }
    ) {
        return match run_array(args.command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("damfs: {e}");
                ExitCode::FAILURE
            }
        };
    }
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
