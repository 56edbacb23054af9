//! The work behind `damfs import | export | stat | prune | clear` (one file per family:
//! `import`, `admin`, `jina`; `get`/`put`/`rm`/`ls` are in `doc_commands`).
//!
//! `main.rs` only parses arguments and prints; everything here returns a [`CliError`] instead
//! of exiting, so it can be tested and reused.
//!
//! `import` validates every record before it writes any, so a bad record anywhere means
//! nothing is written. An input of up to [`IMPORT_IN_MEMORY_MAX`] is read once and the
//! documents built while validating are written; a larger one is read twice (a first pass
//! validates and keeps only the ids, to find duplicates; a second pass parses again and writes
//! in chunks), so memory stays bounded whatever the input's size. Standard input (or a pipe)
//! is spooled to an anonymous temporary file first so it can be read twice. The record
//! reader is shared with `put` (`doc_commands`).

use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::{Options, Store};

mod admin;
#[cfg(feature = "postgres")]
pub mod hide_password;
mod import;

pub use crate::document::compact_json;
pub use admin::{clear, export, prune, stat, PruneReport};
pub(crate) use import::*;
pub use import::{import, ImportReport};

pub mod jina;

/// Documents written per `extend` call during an import.
pub const IMPORT_CHUNK: usize = 10_000;
/// A chunk also ends once its texts reach this many bytes, so that large documents keep
/// the memory of a streamed import (a few chunks at a time) bounded too.
pub const IMPORT_CHUNK_BYTES: usize = 8 << 20;
/// At most this many bad records are reported before validation stops.
pub const MAX_PROBLEMS: usize = 20;
/// Inputs up to this size are read once: the documents built while validating are kept
/// in memory and written from there (no second read and parse). Larger ones are read twice.
pub const IMPORT_IN_MEMORY_MAX: u64 = 8 << 20;
/// Inputs at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 16 << 20;

/// What went wrong in a command. `Display` gives `<what failed>: <why>`.
#[derive(Debug)]
pub enum CliError {
    /// A store operation failed.
    Store { what: String, source: crate::Error },
    /// Reading input or writing output failed.
    Io { what: String, source: io::Error },
    /// The input has bad records (each `FILE:LINE: reason`); nothing was written.
    Invalid {
        problems: Vec<String>,
        /// Validation stopped early: there may be more.
        truncated: bool,
    },
    /// Documents do not fit the export's format (each `document "id": reason`); nothing was
    /// written.
    ExportInvalid {
        problems: Vec<String>,
        truncated: bool,
    },
    /// A command refused its arguments or input (one problem per line, then a summary);
    /// nothing was changed.
    Rejected {
        problems: Vec<String>,
        summary: String,
    },
    /// Writing an import failed part-way; what it wrote was removed again (if `rolled_back`).
    ImportFailed {
        what: String,
        reason: String,
        rolled_back: Result<usize, String>,
    },
}

impl CliError {
    pub(crate) fn store(what: impl Into<String>, source: crate::Error) -> Self {
        CliError::Store {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        CliError::Io {
            what: what.into(),
            source,
        }
    }

    /// Each line of the message, for printing as `damfs: <line>`.
    pub fn lines(&self) -> Vec<String> {
        match self {
            CliError::Invalid {
                problems,
                truncated,
            } => {
                let mut out = problems.clone();
                let n = problems.len();
                let s = if n == 1 { "" } else { "s" };
                out.push(if *truncated {
                    format!(
                        "import failed: stopped after {n} invalid record{s}; nothing was written"
                    )
                } else {
                    format!("import failed: {n} invalid record{s}; nothing was written")
                });
                out
            }
            CliError::ExportInvalid {
                problems,
                truncated,
            } => {
                let mut out = problems.clone();
                let n = problems.len();
                let (s, verb) = if n == 1 { ("", "does") } else { ("s", "do") };
                let more = if *truncated { "stopped after " } else { "" };
                out.push(format!(
                    "export failed: {more}{n} document{s} that {verb} not fit; nothing was \
                     written"
                ));
                out
            }
            CliError::Rejected { problems, summary } => {
                let mut out = problems.clone();
                out.push(summary.clone());
                out
            }
            other => vec![other.to_string()],
        }
    }

    /// Was this a write to a closed pipe (`damfs export | head`)?
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Store { what, source } => write!(f, "{what}: {source}"),
            CliError::Io { what, source } => write!(f, "{what}: {source}"),
            CliError::Invalid { .. }
            | CliError::ExportInvalid { .. }
            | CliError::Rejected { .. } => f.write_str(&self.lines().join("\n")),
            CliError::ImportFailed {
                what,
                reason,
                rolled_back,
            } => {
                write!(f, "{what}: {reason}; ")?;
                match rolled_back {
                    Ok(0) => write!(f, "nothing of it was written"),
                    Ok(n) => write!(f, "the {n} documents it had written were removed again"),
                    Err(e) => write!(f, "removing the documents it had written failed too: {e}"),
                }
            }
        }
    }
}

impl std::error::Error for CliError {}

pub type CliResult<T> = Result<T, CliError>;

/// Sets up `log` output on stderr: level from `RUST_LOG`, `warn` by default, so the store's
/// warnings (a torn tail dropped after a crash, ...) are seen.
pub fn init_logging() {
    let env = env_logger::Env::default().default_filter_or("warn");
    env_logger::Builder::from_env(env)
        .format(|buf, record| {
            let level = record.level().as_str().to_ascii_lowercase();
            writeln!(buf, "damfs: {level}: {}", record.args())
        })
        .init();
}

/// A STORE argument as messages show it: a URL without its password.
pub fn show(path: &Path) -> String {
    match path.to_str() {
        Some(text) => crate::postgres::redact_text(text),
        None => path.display().to_string(),
    }
}

/// Opens an existing store read-only (never creates anything).
pub(crate) fn open_read_only(store: &Path) -> CliResult<Store> {
    let opts = Options {
        buffer_pool_size: 0,
        read_only: true,
    };
    Store::open_with(store, opts)
        .map_err(|e| CliError::store(format!("cannot open store {}", show(store)), e))
}

/// Opens a store for writing. With `must_exist`, a missing store is an error rather than
/// being created (a typo must not make `prune`/`clear` create an empty store).
pub(crate) fn open_writable(store: &Path, must_exist: bool) -> CliResult<Store> {
    if must_exist {
        drop(open_read_only(store)?);
    }
    // Pool size 0: the CLI never re-reads what it wrote, so pooling would only cost memory.
    let opts = Options {
        buffer_pool_size: 0,
        read_only: false,
    };
    Store::open_with(store, opts)
        .map_err(|e| CliError::store(format!("cannot open store {}", show(store)), e))
}

/// Where `import` reads from.
#[derive(Clone, Debug)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// `-` or nothing means standard input.
    pub fn from_arg(arg: Option<&Path>) -> Input {
        match arg {
            None => Input::Stdin,
            Some(p) if p.as_os_str() == "-" => Input::Stdin,
            Some(p) => Input::File(p.to_owned()),
        }
    }

    /// How the input is named in messages.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_owned(),
            Input::File(p) => show(p),
        }
    }
}
