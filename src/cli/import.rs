//! `damfs import`: reading JSON Lines or a JSON array, validating every record before
//! anything is written, and writing in chunks (the record reader is shared with `put`).

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::path::Path;
use std::rc::Rc;

use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::id_set::{IdList, IdSet};
use crate::{Document, Slice, Store};

use super::*;

/// How `import` went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportReport {
    pub imported: usize,
}

/// The two input formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// One JSON object per line; blank lines are skipped.
    Lines,
    /// One JSON array of objects.
    Array,
}

/// An input that can be read from the start more than once.
pub(crate) struct Source {
    pub(crate) name: String,
    file: File,
    pub(crate) len: u64,
    pub(crate) format: Format,
}

impl Source {
    pub(crate) fn open(input: &Input) -> CliResult<Source> {
        let name = input.name();
        let file = match input {
            Input::Stdin => {
                let fd = io::stdin()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|e| CliError::io("reading <stdin>", e))?;
                File::from(fd)
            }
            Input::File(p) => {
                File::open(p).map_err(|e| CliError::io(format!("cannot open {}", show(p)), e))?
            }
        };
        let meta = file
            .metadata()
            .map_err(|e| CliError::io(format!("reading {name}"), e))?;
        if meta.is_dir() {
            let why = match input {
                Input::File(dir) => crate::jina::reader::half_original_store(dir)
                    .map(|half| format!("it is not a Jina store: {half}")),
                Input::Stdin => None,
            };
            let why = why.unwrap_or_else(|| {
                "it is a directory, not a JSON Lines or JSON file, and not a Jina store \
                 (it has no header.bin and no body.bin)"
                    .to_owned()
            });
            return Err(CliError::io(
                format!("cannot read {name}"),
                io::Error::new(io::ErrorKind::InvalidInput, why),
            ));
        }
        // A regular file can be read twice as it is; a pipe or terminal is spooled first.
        let mut file = if meta.is_file() {
            file
        } else {
            spool(file, &name)?
        };
        let len = file
            .seek(SeekFrom::End(0))
            .map_err(|e| CliError::io(format!("reading {name}"), e))?;
        let format = detect_format(&file, &name)?;
        Ok(Source {
            name,
            file,
            len,
            format,
        })
    }

    /// A reader positioned at the start of the input.
    pub(crate) fn rewind(&self) -> CliResult<File> {
        let mut f = self
            .file
            .try_clone()
            .map_err(|e| CliError::io(format!("reading {}", self.name), e))?;
        f.seek(SeekFrom::Start(0))
            .map_err(|e| CliError::io(format!("reading {}", self.name), e))?;
        Ok(f)
    }
}

/// Copies a non-seekable input into an anonymous temporary file (gone when closed).
fn spool(mut from: File, name: &str) -> CliResult<File> {
    let mut tmp = tempfile::tempfile()
        .map_err(|e| CliError::io(format!("creating a temporary file to spool {name}"), e))?;
    io::copy(&mut from, &mut tmp).map_err(|e| CliError::io(format!("spooling {name}"), e))?;
    Ok(tmp)
}

fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

pub(crate) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An array if the first byte that is not whitespace (after a UTF-8 BOM) is `[`.
fn detect_format(file: &File, name: &str) -> CliResult<Format> {
    let mut f = file
        .try_clone()
        .map_err(|e| CliError::io(format!("reading {name}"), e))?;
    f.seek(SeekFrom::Start(0))
        .map_err(|e| CliError::io(format!("reading {name}"), e))?;
    let mut r = BufReader::new(f);
    let mut first = true;
    loop {
        let buf = r
            .fill_buf()
            .map_err(|e| CliError::io(format!("reading {name}"), e))?;
        if buf.is_empty() {
            return Ok(Format::Lines);
        }
        let mut skip = 0;
        if first && buf.starts_with(BOM) {
            skip = BOM.len();
        }
        first = false;
        match buf[skip..].iter().position(|&b| !is_json_space(b)) {
            Some(i) => {
                return Ok(if buf[skip + i] == b'[' {
                    Format::Array
                } else {
                    Format::Lines
                })
            }
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    }
}

/// One record of the input: a document's text and the line it starts on (1-based).
pub(crate) struct Record<'a> {
    pub(crate) line: u64,
    pub(crate) text: &'a str,
}

/// Why reading records stopped.
pub(crate) enum Stop<E> {
    /// The callback asked to stop.
    Callback(E),
    /// The input's framing is broken (array syntax, not UTF-8) at this line.
    Syntax {
        line: u64,
        reason: String,
    },
    Io(io::Error),
}

/// How a validating pass over the records ended: whether it stopped early (at the problem
/// limit, or at a framing error, which is added to `problems`: nothing after it was
/// checked). A read error is the command's error.
pub(crate) fn checked(
    stop: Result<(), Stop<()>>,
    problems: &mut Vec<(u64, String)>,
    name: &str,
) -> CliResult<bool> {
    match stop {
        Ok(()) => Ok(false),
        Err(Stop::Callback(())) => Ok(true),
        Err(Stop::Syntax { line, reason }) => {
            problems.push((line, reason));
            Ok(true)
        }
        Err(Stop::Io(e)) => Err(CliError::io(format!("reading {name}"), e)),
    }
}

/// Counts bytes and newlines as they are read (serde_json reads one byte at a time from it,
/// so the counts say exactly where an array element ended).
struct Counting<R> {
    inner: R,
    bytes: Rc<Cell<u64>>,
    newlines: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.set(self.bytes.get() + n as u64);
        let nl = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        self.newlines.set(self.newlines.get() + nl);
        Ok(n)
    }
}

/// Reads every record of `src` in order, calling `f` for each; `progress` gets the number of
/// bytes read so far.
pub(crate) fn read_records<E>(
    src: &Source,
    progress: &dyn Fn(u64),
    mut f: impl FnMut(Record<'_>) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let file = src.rewind().map_err(|e| match e {
        CliError::Io { source, .. } => Stop::Io(source),
        other => Stop::Io(io::Error::other(other.to_string())),
    })?;
    // Never past the length it had when opened: a file that grows meanwhile (a log being
    // written) gives each pass the same records.
    let file = file.take(src.len);
    match src.format {
        Format::Lines => read_lines(file, progress, &mut f),
        Format::Array => read_array(file, progress, &mut f),
    }
}

fn read_lines<E>(
    file: impl Read,
    progress: &dyn Fn(u64),
    f: &mut dyn FnMut(Record<'_>) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut line = 0u64;
    let mut read = 0u64;
    loop {
        buf.clear();
        let n = r.read_until(b'\n', &mut buf).map_err(Stop::Io)?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        read += n as u64;
        if line % 1024 == 0 {
            progress(read);
        }
        let mut bytes = &buf[..];
        if line == 1 && bytes.starts_with(BOM) {
            bytes = &bytes[BOM.len()..];
        }
        // The line terminator is not part of the document (nor a CR before it).
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.iter().all(|&b| is_json_space(b)) {
            continue;
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => {
                return Err(Stop::Syntax {
                    line,
                    reason: format!("not UTF-8 (at byte {} of the line)", e.valid_up_to() + 1),
                })
            }
        };
        f(Record { line, text }).map_err(Stop::Callback)?;
    }
}

/// Marks the serde error used to leave `visit_seq` when the callback stops.
const HALT: &str = "\u{0}damfs: halt";

fn read_array<E>(
    file: impl Read,
    progress: &dyn Fn(u64),
    f: &mut dyn FnMut(Record<'_>) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let mut buffered = BufReader::with_capacity(1 << 16, file);
    let bom = buffered.fill_buf().map_err(Stop::Io)?.starts_with(BOM);
    if bom {
        buffered.consume(BOM.len());
    }
    let bytes = Rc::new(Cell::new(0));
    let newlines = Rc::new(Cell::new(0));
    let reader = Counting {
        inner: buffered,
        bytes: bytes.clone(),
        newlines: newlines.clone(),
    };
    let mut stopped: Option<E> = None;
    let mut count = 0u64;
    let mut on_element = |raw: Box<RawValue>| -> bool {
        let text = raw.get();
        // The element ends at the last byte read; it starts as many lines earlier as it
        // has newlines inside.
        let inside = text.bytes().filter(|&b| b == b'\n').count() as u64;
        let line = 1 + newlines.get() - inside;
        count += 1;
        if count % 1024 == 0 {
            progress(bytes.get());
        }
        match f(Record { line, text }) {
            Ok(()) => true,
            Err(e) => {
                stopped = Some(e);
                false
            }
        }
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = Elements {
        on_element: &mut on_element,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    if let Some(e) = stopped {
        return Err(Stop::Callback(e));
    }
    result.map_err(|e| {
        if e.is_io() {
            return Stop::Io(io::Error::other(e.to_string()));
        }
        let (reason, _, column) = split_position(&e.to_string());
        let reason = match column {
            Some(c) => format!("{reason} (column {c})"),
            None => reason,
        };
        Stop::Syntax {
            line: e.line() as u64,
            reason,
        }
    })
}

/// Streams the elements of a JSON array to a callback, one at a time.
struct Elements<'a> {
    on_element: &'a mut dyn FnMut(Box<RawValue>) -> bool,
}

impl<'de> DeserializeSeed<'de> for Elements<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            if !(self.on_element)(raw) {
                return Err(de::Error::custom(HALT));
            }
        }
        Ok(())
    }
}

/// Splits serde_json's ` at line L column C` off a message.
fn split_position(msg: &str) -> (String, Option<u64>, Option<u64>) {
    if let Some(at) = msg.rfind(" at line ") {
        let tail = &msg[at + " at line ".len()..];
        if let Some((l, c)) = tail.split_once(" column ") {
            if let (Ok(l), Ok(c)) = (l.parse(), c.parse()) {
                return (msg[..at].to_owned(), Some(l), Some(c));
            }
        }
    }
    (msg.to_owned(), None, None)
}

/// Parses one record; on error, the line the problem is on and why.
pub(crate) fn parse_record(rec: &Record) -> Result<Document, (u64, String)> {
    Document::from_json_str(rec.text).map_err(|e| position_of(rec, &e))
}

/// Checks one record without building its document: its id, if it has one.
pub(crate) fn check_record<'a>(
    rec: &Record<'a>,
) -> Result<Option<std::borrow::Cow<'a, str>>, (u64, String)> {
    crate::document::check_json(rec.text).map_err(|e| position_of(rec, &e))
}

/// The input line a record's problem is on, and why.
fn position_of(rec: &Record, e: &crate::Error) -> (u64, String) {
    // serde_json positions are relative to the record; make the line absolute.
    match split_position(&e.to_string()) {
        (reason, Some(l), Some(c)) => (rec.line + l - 1, format!("{reason} (column {c})")),
        (reason, _, _) => (rec.line, reason),
    }
}

/// A progress bar on stderr for large inputs when stderr is a terminal; hidden otherwise.
pub(crate) fn progress_bar(len: u64, message: &'static str) -> indicatif::ProgressBar {
    if len < PROGRESS_MIN_BYTES || !io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template(
        "{msg:>10} [{bar:40}] {bytes}/{total_bytes} ({eta})",
    )
    .map(|s| s.progress_chars("=> "));
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar
}

/// `damfs import STORE [FILE|-]`: validates every record, then appends them all.
pub fn import(store: &Path, input: &Input) -> CliResult<ImportReport> {
    let src = Source::open(input)?;
    let name = src.name.clone();

    // Pass 1: validate everything; keep the ids (and their lines) for duplicates, and for a
    // small input the documents themselves.
    // Sized for ids in about one record per 64 bytes (a guess, to spare most regrowth).
    let mut ids = IdSet::with_capacity((src.len / 64).min(1 << 18) as usize, 32);
    let mut problems: Vec<(u64, String)> = Vec::new();
    let in_memory = src.len <= IMPORT_IN_MEMORY_MAX;
    let mut kept: Vec<Document> = Vec::new();
    let bar = progress_bar(src.len, "checking");
    let mut records = 0usize;
    let stop = read_records(&src, &|n| bar.set_position(n), |rec| {
        records += 1;
        // A record without an id gets a fresh one (random 128-bit ids do not collide), so
        // only given ids can repeat.
        let mut note = |id: &str| {
            if let Some(first) = ids.insert(id, rec.line) {
                let why = format!("duplicate id {id:?} (first at line {first})");
                problems.push((rec.line, why));
            }
        };
        if in_memory {
            match parse_record(&rec) {
                Ok(doc) => {
                    // from_json keeps a text with an id as it is, and adds one otherwise.
                    if doc.json().len() == rec.text.len() {
                        note(doc.id());
                    }
                    kept.push(doc);
                }
                Err(p) => problems.push(p),
            }
        } else {
            match check_record(&rec) {
                Ok(Some(id)) => note(&id),
                Ok(None) => {}
                Err(p) => problems.push(p),
            }
        }
        if problems.len() >= MAX_PROBLEMS {
            Err(())
        } else {
            Ok(())
        }
    });
    bar.finish_and_clear();
    let truncated = checked(stop, &mut problems, &name)?;
    let invalid = |mut problems: Vec<(u64, String)>, truncated: bool| {
        problems.sort_by_key(|p| p.0);
        let truncated = truncated || problems.len() > MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        CliError::Invalid {
            problems: problems
                .into_iter()
                .map(|(line, why)| format!("{name}:{line}: {why}"))
                .collect(),
            truncated,
        }
    };
    if !problems.is_empty() {
        // Report clashes with an existing store too, so one run shows every kind of problem.
        if let Ok(dam) = open_read_only(store) {
            problems.extend(clashes(&dam, &ids));
        }
        return Err(invalid(problems, truncated));
    }

    // Only now may the store be created: a bad input leaves no trace.
    let mut dam = open_writable(store, false)?;
    let problems = clashes(&dam, &ids);
    if !problems.is_empty() {
        return Err(invalid(problems, false));
    }
    drop(ids);

    // Pass 2: write. Ids written are kept to undo a failure part-way.
    let mut written = IdList::with_capacity(records, 32);
    let bar = progress_bar(src.len, "importing");
    let what = format!("import into {}", show(store));
    let (wrote, stop) = if in_memory {
        let mut docs = kept.into_iter();
        let mut chunks = std::iter::from_fn(|| {
            let chunk: Vec<Document> = docs.by_ref().take(IMPORT_CHUNK).collect();
            (!chunk.is_empty()).then_some(Ok(chunk))
        });
        (
            write_chunks(&mut dam, records, &mut chunks, &mut written),
            Ok(()),
        )
    } else {
        parse_ahead(&src, records, &bar, |chunks| {
            write_chunks(&mut dam, records, chunks, &mut written)
        })
    };
    let result = match (stop, wrote) {
        (Err(Stop::Callback(why)), _) if !why.is_empty() => Err(why),
        (Err(Stop::Syntax { line, reason }), _) => Err(format!(
            "{name} changed while it was imported ({name}:{line}: {reason})"
        )),
        (Err(Stop::Io(e)), _) => Err(format!("reading {name}: {e}")),
        (_, Err(why)) => Err(why),
        (_, Ok(())) => dam.save().map_err(|e| format!("saving: {e}")),
    };
    bar.finish_and_clear();
    match result {
        Ok(()) => Ok(ImportReport { imported: records }),
        Err(reason) => Err(CliError::ImportFailed {
            what,
            reason,
            rolled_back: roll_back(&mut dam, &written),
        }),
    }
}

/// Parses the input again on a thread of its own, a chunk ahead of `write`, which gets the
/// chunks in order (and an `Err` last if parsing stopped early): parsing one chunk overlaps
/// storing the one before (PostgreSQL's COPY runs in the server meanwhile). Gives what
/// `write` gave and how parsing ended (`Callback("")`: `write` stopped taking chunks).
fn parse_ahead<R>(
    src: &Source,
    records: usize,
    bar: &indicatif::ProgressBar,
    write: impl FnOnce(&mut dyn Iterator<Item = Result<Vec<Document>, ()>>) -> R,
) -> (R, Result<(), Stop<String>>) {
    let name = &src.name;
    let (chunks, parsed) = std::sync::mpsc::sync_channel::<Result<Vec<Document>, ()>>(1);
    std::thread::scope(|scope| {
        let parser = scope.spawn(|| {
            // Owned here, so the writer's loop ends when the parser does.
            let chunks = chunks;
            let mut chunk: Vec<Document> = Vec::with_capacity(IMPORT_CHUNK);
            let mut chunk_bytes = 0usize;
            let mut read = 0usize;
            let mut stop: Result<(), Stop<String>> =
                read_records(src, &|n| bar.set_position(n), |rec| {
                    read += 1;
                    let doc = parse_record(&rec).map_err(|(line, why)| {
                        format!("{name} changed while it was imported ({name}:{line}: {why})")
                    })?;
                    chunk_bytes += doc.json().len();
                    chunk.push(doc);
                    if chunk.len() >= IMPORT_CHUNK || chunk_bytes >= IMPORT_CHUNK_BYTES {
                        chunk_bytes = 0;
                        let full = std::mem::replace(&mut chunk, Vec::with_capacity(IMPORT_CHUNK));
                        // The writer stopped (a failed write): its error is the one to report.
                        chunks.send(Ok(full)).map_err(|_| String::new())?;
                    }
                    Ok(())
                });
            if stop.is_ok() && read != records {
                // Rewritten (cut short, say) between the two passes: what is there now was
                // never checked as a whole, and is not what was asked for.
                stop = Err(Stop::Callback(format!(
                    "{name} changed while it was imported ({records} records when it was \
                     checked, {read} now)"
                )));
            }
            let last = match &stop {
                Ok(()) if chunk.is_empty() => None,
                Ok(()) => Some(Ok(chunk)),
                Err(Stop::Callback(why)) if why.is_empty() => None,
                // The writer must not take a part of the input for all of it.
                Err(_) => Some(Err(())),
            };
            if let Some(last) = last {
                let _ = chunks.send(last);
            }
            stop
        });
        let wrote = write(&mut parsed.iter());
        drop(parsed); // a parser blocked on a full channel stops
        let stop = parser
            .join()
            .unwrap_or_else(|_| Err(Stop::Callback("the input reader failed".to_owned())));
        (wrote, stop)
    })
}

/// Writes the `count` documents of the chunks in order, all or nothing even across a crash
/// (kill -9) part-way: on the memmap store in one streamed `extend`, on PostgreSQL in one
/// streamed COPY in one transaction. Neither holds more than a chunk in memory. `written`
/// gets the ids once they are all in (for undoing them if the save after fails).
fn write_chunks(
    dam: &mut Store,
    count: usize,
    chunks: &mut dyn Iterator<Item = Result<Vec<Document>, ()>>,
    written: &mut IdList,
) -> Result<(), String> {
    let mut docs = chunks.flat_map(|chunk| match chunk {
        Ok(docs) => {
            for d in &docs {
                written.push(d.id());
            }
            docs.into_iter().map(Ok).collect::<Vec<_>>()
        }
        Err(()) => vec![Err(crate::Error::InvalidDocument(
            "the input ended early".into(),
        ))],
    });
    let wrote = match dam {
        Store::Memmap(m) => m.try_extend(&mut docs),
        Store::Postgres(p) => p.extend_stream(count, &mut docs),
    };
    drop(docs);
    if wrote.is_err() {
        // Nothing of a failed write stays: there is nothing to undo.
        written.truncate(0);
    }
    wrote.map_err(|e| e.to_string())
}

/// Input ids that the store already has, with their lines.
fn clashes(dam: &Store, ids: &IdSet) -> Vec<(u64, String)> {
    if dam.is_empty() {
        return Vec::new(); // a new store: no id to look up
    }
    ids.iter()
        .filter(|(id, _)| dam.contains(id))
        .map(|(id, line)| {
            let why = format!("a document with id {id:?} already exists in the store");
            (line, why)
        })
        .collect()
}

/// Deletes the documents with these ids (what a failed import wrote) and saves.
pub(crate) fn roll_back(dam: &mut Store, written: &IdList) -> Result<usize, String> {
    if written.is_empty() {
        return Ok(0);
    }
    let ids = written.to_set();
    let positions: Vec<usize> = dam
        .ids()
        .enumerate()
        .filter(|(_, id)| ids.contains(id))
        .map(|(p, _)| p)
        .collect();
    let n = positions.len();
    let contiguous = positions.windows(2).all(|w| w[1] == w[0] + 1);
    let result = match (positions.first(), positions.last()) {
        // The usual case: the import is the store's tail, deleted in one batch.
        (Some(&first), Some(&last)) if contiguous => {
            dam.delete_slice(Slice::from(first as isize..last as isize + 1))
        }
        _ => ids.iter().try_for_each(|(id, _)| {
            if dam.contains(id) {
                dam.delete_by_id(id)
            } else {
                Ok(())
            }
        }),
    };
    // What is left says how much: the documents written are the input's first ones, in order.
    result.and_then(|()| dam.save()).map(|()| n).map_err(|e| {
        format!(
            "{e}; the store holds the first {} documents of the import",
            written.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(s: &str) -> String {
        let mut out = Vec::new();
        compact_json(s.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn compaction_keeps_strings_and_numbers() {
        assert_eq!(
            compact("{\n  \"id\" : \"a b\\\" \\\\\",\r\n  \"n\": 123456789012345678901234567890 }"),
            "{\"id\":\"a b\\\" \\\\\",\"n\":123456789012345678901234567890}"
        );
        assert_eq!(compact("{\"t\":\"\\\\\"}"), "{\"t\":\"\\\\\"}");
    }

    #[test]
    fn roll_back_removes_only_the_given_documents() {
        let dir = tempfile::tempdir().unwrap();
        let mut dam = Store::open(dir.path()).unwrap();
        let doc = |id: &str| Document::from_json(format!("{{\"id\":\"{id}\"}}")).unwrap();
        dam.extend(["a", "b", "c", "d", "e"].map(doc)).unwrap();
        let set = |ids: &[&str]| {
            let mut s = IdList::default();
            for id in ids {
                s.push(id);
            }
            s
        };
        // The usual case, a contiguous tail.
        let n = roll_back(&mut dam, &set(&["d", "e"])).unwrap();
        assert_eq!(n, 2);
        assert_eq!(dam.ids().collect::<Vec<_>>(), ["a", "b", "c"]);
        // Scattered, and an id that is already gone.
        let n = roll_back(&mut dam, &set(&["a", "c", "zz"])).unwrap();
        assert_eq!(n, 2);
        assert_eq!(dam.ids().collect::<Vec<_>>(), ["b"]);
        assert_eq!(roll_back(&mut dam, &set(&[])).unwrap(), 0);
    }

    #[test]
    fn positions_are_split_off() {
        assert_eq!(
            split_position("expected value at line 3 column 7"),
            ("expected value".to_owned(), Some(3), Some(7))
        );
        assert_eq!(
            split_position("no position"),
            ("no position".into(), None, None)
        );
    }
}
