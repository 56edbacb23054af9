//! The work behind `damfs attrs | sample | shuffle | split | traverse | match | visualize`.
//! Output is JSON Lines (one document, or one value, per line); `main.rs` only parses
//! arguments. A store that is only read is opened read-only, except the right-hand side of
//! `match` and the store of `visualize`, which are opened writable when possible so their
//! embeddings cache can be written for the next run.

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::attributes::document_attributes;
use super::error::ArrayError;
use super::matching::{self, MatchOptions};
use super::paths;
use super::sampling::{self, Groups};
use super::visualize::{self as plot, LegendEntry};
use crate::document::compact_json;
use crate::{Document, DocumentArrayMemmap, Options};

/// A failed array command: what was being done, and why.
#[derive(Debug)]
pub struct CommandError {
    pub what: String,
    pub source: ArrayError,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.source)
    }
}

impl std::error::Error for CommandError {}

impl CommandError {
    /// A write to a closed pipe (`damfs shuffle S | head`), which is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(&self.source, ArrayError::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

pub type CommandResult<T> = Result<T, CommandError>;

fn fail(what: impl Into<String>) -> impl FnOnce(ArrayError) -> CommandError {
    let what = what.into();
    move |source| CommandError { what, source }
}

fn store_err(what: &str) -> impl FnOnce(crate::Error) -> CommandError + '_ {
    move |e| CommandError {
        what: what.to_owned(),
        source: e.into(),
    }
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

/// Opens an existing store read-only (nothing is created).
fn open_read_only(store: &Path) -> CommandResult<DocumentArrayMemmap> {
    DocumentArrayMemmap::open_with(
        store,
        Options {
            buffer_pool_size: 0,
            read_only: true,
        },
    )
    .map_err(store_err(&format!("cannot open {}", show(store))))
}

/// Opens an existing store for writing (its cache, or matches): a missing store is an
/// error, never created. Falls back to read-only when the store cannot be written.
fn open_existing(store: &Path, pool: usize) -> CommandResult<DocumentArrayMemmap> {
    // A store has an index (README, "On-disk format"); without one, the read-only open
    // gives the store's own diagnosis, and nothing is created either way.
    if !store.join("index.dam").is_file() {
        drop(open_read_only(store)?);
    }
    match DocumentArrayMemmap::open_with(
        store,
        Options {
            buffer_pool_size: pool,
            read_only: false,
        },
    ) {
        Ok(dam) => Ok(dam),
        Err(crate::Error::Io { ref source, .. })
            if source.kind() == io::ErrorKind::PermissionDenied =>
        {
            open_read_only(store)
        }
        Err(e) => Err(store_err(&format!("cannot open {}", show(store)))(e)),
    }
}

fn write_err(e: io::Error) -> CommandError {
    CommandError {
        what: "writing the output".into(),
        source: ArrayError::io("writing", e),
    }
}

/// Writes one JSON text as a line (a multi-line text is compacted first).
fn write_line(out: &mut dyn Write, json: &str) -> CommandResult<()> {
    if json.contains('\n') {
        let mut buf = Vec::with_capacity(json.len());
        compact_json(json.as_bytes(), &mut buf);
        out.write_all(&buf).map_err(write_err)?;
    } else {
        out.write_all(json.as_bytes()).map_err(write_err)?;
    }
    out.write_all(b"\n").map_err(write_err)
}

/// A progress bar on stderr for `len` steps, shown only on a terminal and for long work.
fn progress(len: u64, message: &'static str) -> ProgressBar {
    if len < 10_000 || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message);
    bar
}

/// `damfs attrs STORE FIELD…`: per document, the field's value (one field) or a JSON array
/// of the fields' values.
pub fn attrs(store: &Path, fields: &[String], out: &mut dyn Write) -> CommandResult<usize> {
    let dam = open_read_only(store)?;
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    let what = format!("reading {}", show(store));
    let bar = progress(dam.len() as u64, "attrs");
    let mut n = 0;
    for doc in dam.iter() {
        bar.inc(1);
        let doc = doc.map_err(store_err(&what))?;
        let mut values = document_attributes(&doc, &fields).map_err(fail(what.clone()))?;
        let line = if values.len() == 1 {
            values.remove(0)
        } else {
            Value::Array(values)
        };
        write_line(out, &line.to_string())?;
        n += 1;
    }
    bar.finish_and_clear();
    Ok(n)
}

fn write_docs(docs: &[Document], out: &mut dyn Write) -> CommandResult<()> {
    docs.iter().try_for_each(|d| write_line(out, d.json()))
}

/// `damfs sample STORE K [--seed S]`.
pub fn sample(store: &Path, k: usize, seed: Option<u64>, out: &mut dyn Write) -> CommandResult<()> {
    let dam = open_read_only(store)?;
    let docs =
        sampling::sample(&dam, k, seed).map_err(fail(format!("sampling {}", show(store))))?;
    write_docs(&docs, out)
}

/// `damfs shuffle STORE [--seed S]`: every document, once, in a random order. Only the
/// order is held in memory; documents are read one at a time.
pub fn shuffle(store: &Path, seed: Option<u64>, out: &mut dyn Write) -> CommandResult<()> {
    let dam = open_read_only(store)?;
    let what = format!("shuffling {}", show(store));
    let order =
        sampling::sample_positions(dam.len(), dam.len(), seed).map_err(fail(what.clone()))?;
    for pos in order {
        let doc = sampling::read_at(&dam, pos).map_err(fail(what.clone()))?;
        write_line(out, doc.json())?;
    }
    Ok(())
}

/// A file name for a group's value: strings as they are, other values as their JSON, with
/// every byte outside `[A-Za-z0-9._-]` (and a leading `.`) written as `%XX`. A string and
/// another value can still share it (`"1.5"` and `1.5`): `split` then numbers the later one.
pub fn group_file_name(value: &Value) -> String {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut name = String::new();
    for (i, b) in text.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            name.push(b as char);
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    if name.is_empty() {
        name.push_str("%22%22");
    }
    // Keep the name within NAME_MAX with its extension.
    if name.len() > 240 {
        let hash = crc32fast::hash(text.as_bytes());
        name.truncate(230);
        name.push_str(&format!("~{hash:08x}"));
    }
    name.push_str(".jsonl");
    name
}

/// One group written by `split`.
pub struct SplitGroup {
    pub value: Value,
    pub file: PathBuf,
    pub count: usize,
}

/// `damfs split STORE TAG OUTDIR`: one JSON Lines file per value of the tag, in
/// first-seen order. An existing file is never overwritten; when the command fails, the
/// files it made are removed again.
pub fn split(store: &Path, tag: &str, outdir: &Path) -> CommandResult<Vec<SplitGroup>> {
    let dam = open_read_only(store)?;
    fs::create_dir_all(outdir).map_err(|e| CommandError {
        what: format!("cannot create {}", show(outdir)),
        source: ArrayError::io("creating the directory", e),
    })?;
    let mut made: Vec<PathBuf> = Vec::new();
    let result = split_into(&dam, store, tag, outdir, &mut made);
    if result.is_err() {
        for path in &made {
            let _ = fs::remove_file(path);
        }
    }
    result
}

/// Group files open at once: a split into more groups than the open-file limit (1,024 by
/// default) reopens the least recently written ones for appending.
const OPEN_GROUP_FILES: usize = 32;

fn split_into(
    dam: &DocumentArrayMemmap,
    store: &Path,
    tag: &str,
    outdir: &Path,
    made: &mut Vec<PathBuf>,
) -> CommandResult<Vec<SplitGroup>> {
    let what = format!("splitting {}", show(store));
    // Each group's file, its count, and the file just created (until it is first opened).
    let mut groups: Groups<(PathBuf, usize, Option<File>)> = Groups::default();
    let mut open: lru::LruCache<usize, BufWriter<File>> = lru::LruCache::new(
        std::num::NonZeroUsize::new(OPEN_GROUP_FILES).unwrap_or(std::num::NonZeroUsize::MIN),
    );
    let mut names: HashSet<String> = HashSet::new();
    let bar = progress(dam.len() as u64, "split");
    for doc in dam.iter() {
        bar.inc(1);
        let doc = doc.map_err(store_err(&what))?;
        let Some(value) = sampling::split_key(&doc, tag).map_err(fail(what.clone()))? else {
            continue;
        };
        let (group, (path, count, created)) = groups
            .entry(value, |v| {
                let path = outdir.join(unique_name(group_file_name(v), &mut names));
                let file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| ArrayError::io(format!("cannot create {}", show(&path)), e))?;
                made.push(path.clone());
                Ok((path, 0, Some(file)))
            })
            .map_err(fail(what.clone()))?;
        if !open.contains(&group) {
            let file = match created.take() {
                Some(file) => file,
                None => OpenOptions::new().append(true).open(&*path).map_err(|e| {
                    fail(what.clone())(ArrayError::io(format!("reopening {}", show(path)), e))
                })?,
            };
            if let Some((_, mut evicted)) = open.push(group, BufWriter::new(file)) {
                evicted.flush().map_err(write_err)?;
            }
        }
        let Some(file) = open.get_mut(&group) else {
            // Not reached: the writer was pushed just above.
            return Err(write_err(io::Error::other("a group file is not open")));
        };
        write_line(file, doc.json())?;
        *count += 1;
    }
    bar.finish_and_clear();
    for (_, w) in open.iter_mut() {
        w.flush().map_err(write_err)?;
    }
    Ok(groups
        .groups
        .into_iter()
        .map(|(value, (file, count, _))| SplitGroup { value, file, count })
        .collect())
}

/// `name`, or for a name this split already gave another value, `NAME~2.jsonl`, `~3`, …
/// (a `~` in a value is written `%7E`, so these are never another value's name).
fn unique_name(name: String, names: &mut HashSet<String>) -> String {
    let stem = name.strip_suffix(".jsonl").unwrap_or(&name).to_owned();
    let mut candidate = name;
    let mut n = 1;
    while names.contains(&candidate) {
        n += 1;
        candidate = format!("{stem}~{n}.jsonl");
    }
    names.insert(candidate.clone());
    candidate
}

/// `damfs traverse STORE PATHS`: every document the paths reach, as JSON Lines.
pub fn traverse(store: &Path, paths: &str, out: &mut dyn Write) -> CommandResult<usize> {
    let dam = open_read_only(store)?;
    let mut n = 0;
    let mut write_err_seen = None;
    paths::for_each_reached(&dam, paths, |doc| {
        if let Err(e) = write_line(out, doc.json()) {
            write_err_seen = Some(e);
            return Err(ArrayError::InvalidArgument("stopped".into()));
        }
        n += 1;
        Ok(())
    })
    .map_err(|e| match write_err_seen.take() {
        Some(w) => w,
        None => fail(format!("traversing {}", show(store)))(e),
    })?;
    Ok(n)
}

/// What `damfs match` did.
pub struct MatchReport {
    pub queries: usize,
    pub right: usize,
    /// Where the matches went: the left store, or standard output.
    pub into_store: bool,
}

/// Whether LEFT of `match` names queries rather than a store: `-` (standard input), or
/// anything that exists and is not a directory (a file, or a pipe such as `<(…)`).
fn is_queries(left: &Path) -> bool {
    left.as_os_str() == "-" || left.metadata().is_ok_and(|m| !m.is_dir())
}

/// Reads query documents from a JSON Lines file or standard input (blank lines skipped).
fn read_queries(path: &Path) -> CommandResult<Vec<Document>> {
    let name = show(path);
    let file: Box<dyn io::Read> = if path.as_os_str() == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path).map_err(|e| CommandError {
            what: format!("cannot open {name}"),
            source: ArrayError::io("opening", e),
        })?)
    };
    let mut docs = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let mut line = line.map_err(|e| CommandError {
            what: format!("reading {name}"),
            source: ArrayError::io("reading", e),
        })?;
        // A UTF-8 byte-order mark is skipped, as `damfs import` skips it.
        if i == 0 && line.starts_with('\u{feff}') {
            line.drain(..'\u{feff}'.len_utf8());
        }
        if line.trim().is_empty() {
            continue;
        }
        let doc = Document::from_json(line).map_err(|e| CommandError {
            what: format!("{name}:{}", i + 1),
            source: e.into(),
        })?;
        if !seen.insert(doc.id().to_owned()) {
            return Err(CommandError {
                what: format!("{name}:{}", i + 1),
                source: ArrayError::InvalidArgument(format!("duplicate id {:?}", doc.id())),
            });
        }
        docs.push(doc);
    }
    Ok(docs)
}

/// `damfs match LEFT RIGHT`: LEFT is a store (its documents get their matches) or a JSON
/// Lines file of queries (printed with their matches on `out`).
pub fn match_command(
    left: &Path,
    right: &Path,
    mut opts: MatchOptions,
    out: &mut dyn Write,
) -> CommandResult<MatchReport> {
    let what = format!("matching {} against {}", show(left), show(right));
    let mut right_dam = open_existing(right, 0)?;
    let right_len = right_dam.len();
    if is_queries(left) {
        let queries = read_queries(left)?;
        let n = queries.len();
        opts.progress = Some(progress(right_len as u64, "matching"));
        let mut write_error = None;
        let result = matching::match_queries_each(queries, &mut right_dam, &opts, |doc| {
            if let Err(e) = write_line(out, doc.json()) {
                write_error = Some(e);
                return Err(ArrayError::InvalidArgument("output closed".into()));
            }
            Ok(())
        });
        finish(&opts);
        if let Some(e) = write_error {
            return Err(e);
        }
        result.map_err(fail(what))?;
        return Ok(MatchReport {
            queries: n,
            right: right_len,
            into_store: false,
        });
    }
    let same = match (left.canonicalize(), right_dam.path().canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    opts.progress = Some(progress(right_len as u64, "matching"));
    let queries = if same {
        let n = right_dam.len();
        matching::match_self(&mut right_dam, &opts).map_err(fail(what))?;
        n
    } else {
        let mut left_dam = open_existing(left, 1000)?;
        matching::match_stores(&mut left_dam, &mut right_dam, &opts).map_err(fail(what))?;
        left_dam.len()
    };
    finish(&opts);
    Ok(MatchReport {
        queries,
        right: right_len,
        into_store: true,
    })
}

fn finish(opts: &MatchOptions) {
    if let Some(p) = &opts.progress {
        p.finish_and_clear();
    }
}

/// `damfs visualize STORE -o plot.png [--color-by FIELD]`: returns the legend.
pub fn visualize(
    store: &Path,
    output: &Path,
    color_by: Option<&str>,
    size: u32,
) -> CommandResult<Vec<LegendEntry>> {
    let mut dam = open_existing(store, 0)?;
    let bar = progress(dam.len() as u64, "embeddings");
    let legend = plot::visualize_with_progress(&mut dam, output, color_by, size, Some(&bar))
        .map_err(fail(format!("visualizing {}", show(store))));
    bar.finish_and_clear();
    legend
}
