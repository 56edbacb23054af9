//! The `damfs` command. Argument parsing and printing only; the work is in `damfs::cli`
//! (and, for `mount`/`unmount`, in the daemon).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use damfs::array::cli as acli;
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
    /// Add documents from JSON Lines (one object per line), one JSON array of objects, or a
    /// Jina DocumentArrayMemmap directory (header.bin + body.bin).
    ///
    /// The whole input is validated first: on any bad record nothing is written. The store
    /// is created if it does not exist. A Jina store's documents are stored as the text of
    /// jina's `doc.to_json()`.
    Import {
        /// The store directory.
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
        /// The store directory.
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
        /// Width and height in pixels.
        #[arg(long, default_value_t = 800)]
        size: u32,
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
            ..
        } => {
            let rules = damfs::jina::from_json::ArrayRules {
                embedding: embedding_dtype,
                blob: blob_dtype,
            };
            let n = cli::jina::export(&store, &dir, &rules)?;
            eprintln!("exported {n} documents to {}", dir.display());
        }
        Command::Export { store, output, .. } => match output {
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
        // The array commands: see run_array.
        _ => {}
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
}
