//! `damfs get | put | rm | ls`: single documents for scripts and containers that have no
//! FUSE. The same rules as the mount and `import`: texts are kept byte for byte, input is
//! validated completely before anything is written, and every failure names what and why.

use std::io::{Read, Write};
use std::path::Path;

use crate::cli::{
    check_record, open_read_only, parse_record, progress_bar, read_records, show, CliError,
    CliResult, Format, Input, Source, Stop, BOM, IMPORT_CHUNK, IMPORT_CHUNK_BYTES, MAX_PROBLEMS,
};
use crate::id_set::IdSet;
use crate::{Document, Error, Options, Store};

/// Which document `get` means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Key {
    /// A position; negative counts from the end.
    Index(isize),
    Id(String),
}

impl Key {
    /// An argument that is an integer (`3`, `-1`) is a position, anything else an id;
    /// `force_id` (`--id`) reads it as an id whatever it looks like.
    pub fn parse(arg: &str, force_id: bool) -> Key {
        let digits = arg.strip_prefix('-').unwrap_or(arg);
        if !force_id && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(i) = arg.parse::<isize>() {
                return Key::Index(i);
            }
        }
        Key::Id(arg.to_owned())
    }
}

/// `damfs get STORE KEY`: the document's text exactly as stored, then a newline unless the
/// text ends with one.
pub fn get(store: &Path, key: &Key, out: &mut dyn Write, out_name: &str) -> CliResult<()> {
    let dam = open_read_only(store)?;
    let id = match key {
        Key::Id(id) => id.as_str(),
        Key::Index(i) => {
            let len = dam.len();
            let pos = if *i < 0 { len as isize + i } else { *i };
            match usize::try_from(pos).ok().and_then(|p| dam.id_at(p)) {
                Some(id) => id,
                None => {
                    let e = Error::IndexOutOfRange { index: *i, len };
                    return Err(CliError::store(format!("get from {}", show(store)), e));
                }
            }
        }
    };
    let written = dam
        .with_json(id, |text| {
            out.write_all(text)?;
            if !text.ends_with(b"\n") {
                out.write_all(b"\n")?;
            }
            out.flush()
        })
        .map_err(|e| CliError::store(format!("get from {}", show(store)), e))?;
    written.map_err(|e| CliError::io(format!("writing {out_name}"), e))
}

/// `damfs ls STORE`: every id, in order, one per line. Gives how many.
pub fn ls(store: &Path, out: &mut dyn Write, out_name: &str) -> CliResult<usize> {
    let dam = open_read_only(store)?;
    let write_err = |e| CliError::io(format!("writing {out_name}"), e);
    let mut n = 0;
    for id in dam.ids() {
        out.write_all(id.as_bytes()).map_err(write_err)?;
        out.write_all(b"\n").map_err(write_err)?;
        n += 1;
    }
    out.flush().map_err(write_err)?;
    Ok(n)
}

/// `damfs rm STORE ID…`: removes the documents with these ids, all or none: if any id is
/// missing (or given twice), nothing is removed. Gives how many were removed.
pub fn rm(store: &Path, ids: &[String]) -> CliResult<usize> {
    let mut dam = open_writable_pooled(store, true)?;
    let mut seen = IdSet::default();
    let mut problems = Vec::new();
    for id in ids {
        if seen.insert(id, 0).is_some() {
            problems.push(format!("id {id:?} is given twice"));
        } else if !dam.contains(id) {
            problems.push(format!("no document with id {id:?} in {}", show(store)));
        }
    }
    if !problems.is_empty() {
        return Err(CliError::Rejected {
            problems,
            summary: "rm failed; nothing was removed".into(),
        });
    }
    let what = |done: usize| {
        format!(
            "rm from {} (failed after removing {done} of {} documents)",
            show(store),
            ids.len()
        )
    };
    match &mut dam {
        // One write: even a kill -9 part-way removes all of them or none.
        Store::Memmap(m) => m.delete_ids(ids).map_err(|e| CliError::store(what(0), e))?,
        Store::Postgres(_) => {
            for (done, id) in ids.iter().enumerate() {
                dam.delete_by_id(id)
                    .map_err(|e| CliError::store(what(done), e))?;
            }
        }
    }
    dam.save()
        .map_err(|e| CliError::store(format!("saving {}", show(store)), e))?;
    Ok(ids.len())
}

/// What `put` did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PutReport {
    /// The id of every document put, in input order (fresh ones included).
    pub ids: Vec<String>,
    pub replaced: usize,
    pub added: usize,
}

/// Documents kept in the pool while `put` replaces: replacements are written together
/// (write-behind) instead of one append each.
const PUT_POOL: usize = 1024;

fn open_writable_pooled(store: &Path, must_exist: bool) -> CliResult<Store> {
    if must_exist {
        drop(open_read_only(store)?);
    }
    let opts = Options {
        buffer_pool_size: PUT_POOL,
        read_only: false,
    };
    Store::open_with(store, opts)
        .map_err(|e| CliError::store(format!("cannot open store {}", show(store)), e))
}

/// How `put` reads its input.
enum Shape {
    /// JSON Lines or a JSON array: one record per document, as `import` reads them (this
    /// many).
    Records(u64),
    /// One document spanning several lines (a pretty-printed file), kept exactly as given.
    One(Document),
}

/// `damfs put STORE [FILE|-]`: each document replaces the one with its id, or is added at
/// the end (a document without an id gets a fresh one). The input is JSON Lines, a JSON
/// array, or one document (which may span lines). Everything is validated first: on any
/// bad record nothing is written. The store is created if it does not exist.
pub fn put(store: &Path, input: &Input) -> CliResult<PutReport> {
    let src = Source::open(input)?;
    let shape = check(&src)?;
    let mut dam = open_writable_pooled(store, false)?;
    let mut report = PutReport::default();
    let what = |r: &PutReport| {
        format!(
            "put into {} (documents put before the failure stay: {} replaced, {} added)",
            show(store),
            r.replaced,
            r.added
        )
    };
    let result = match shape {
        Shape::One(doc) => {
            put_one(&mut dam, doc, &mut report).map_err(|e| CliError::store(what(&report), e))
        }
        Shape::Records(n) => put_records(&src, n, &mut dam, &mut report, &what),
    };
    result?;
    dam.save()
        .map_err(|e| CliError::store(format!("saving {}", show(store)), e))?;
    Ok(report)
}

fn put_one(dam: &mut Store, doc: Document, r: &mut PutReport) -> crate::Result<()> {
    let id = doc.id().to_owned();
    if dam.contains(&id) {
        dam.set_by_id(&id, doc)?;
        r.replaced += 1;
    } else {
        dam.append(doc)?;
        r.added += 1;
    }
    r.ids.push(id);
    Ok(())
}

fn put_records(
    src: &Source,
    records: u64,
    dam: &mut Store,
    report: &mut PutReport,
    what: &dyn Fn(&PutReport) -> String,
) -> CliResult<()> {
    let name = &src.name;
    let bar = progress_bar(src.len, "putting");
    let mut chunk: Vec<Document> = Vec::new();
    let mut chunk_bytes = 0usize;
    let mut failed: Option<CliError> = None;
    // New documents are added in chunks; an id already stored is replaced at once.
    let flush = |dam: &mut Store, chunk: &mut Vec<Document>, r: &mut PutReport| {
        let ids: Vec<String> = chunk.iter().map(|d| d.id().to_owned()).collect();
        dam.extend(chunk.drain(..))?;
        r.added += ids.len();
        r.ids.extend(ids);
        Ok::<(), Error>(())
    };
    let mut read = 0u64;
    let stop = read_records(src, &|n| bar.set_position(n), |rec| {
        read += 1;
        let doc = parse_record(&rec).map_err(|(line, why)| {
            CliError::io(
                format!("{name} changed while it was read"),
                std::io::Error::other(format!("{name}:{line}: {why}")),
            )
        })?;
        let step = if dam.contains(doc.id()) {
            // Keep the input order of ids: what was added so far goes first.
            flush(dam, &mut chunk, report).and_then(|()| put_one(dam, doc, report))
        } else {
            chunk_bytes += doc.json().len();
            chunk.push(doc);
            if chunk.len() >= IMPORT_CHUNK || chunk_bytes >= IMPORT_CHUNK_BYTES {
                chunk_bytes = 0;
                flush(dam, &mut chunk, report)
            } else {
                Ok(())
            }
        };
        step.map_err(|e| CliError::store(what(report), e))
    });
    bar.finish_and_clear();
    match stop {
        Ok(()) => {
            if let Err(e) = flush(dam, &mut chunk, report) {
                failed = Some(CliError::store(what(report), e));
            } else if read != records {
                // Rewritten (cut short, say) after it was checked: not what was asked for.
                failed = Some(CliError::io(
                    what(report),
                    std::io::Error::other(format!(
                        "{name} changed while it was read ({records} records when it was \
                         checked, {read} now)"
                    )),
                ));
            }
        }
        Err(Stop::Callback(e)) => failed = Some(e),
        Err(Stop::Syntax { line, reason }) => {
            failed = Some(CliError::io(
                format!("{name} changed while it was read"),
                std::io::Error::other(format!("{name}:{line}: {reason}")),
            ))
        }
        Err(Stop::Io(e)) => failed = Some(CliError::io(format!("reading {name}"), e)),
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Validates the whole input (pass 1) and tells how to read it.
fn check(src: &Source) -> CliResult<Shape> {
    let name = &src.name;
    let mut ids = IdSet::default();
    let mut problems: Vec<(u64, String)> = Vec::new();
    let mut records = 0u64;
    let bar = progress_bar(src.len, "checking");
    let stop = read_records(src, &|n| bar.set_position(n), |rec| {
        records += 1;
        match check_record(&rec) {
            Ok(Some(id)) => {
                if let Some(first) = ids.insert(&id, rec.line) {
                    problems.push((
                        rec.line,
                        format!("duplicate id {id:?} (first at line {first})"),
                    ));
                }
            }
            Ok(None) => {}
            Err(p) => problems.push(p),
        }
        if problems.len() >= MAX_PROBLEMS {
            Err(())
        } else {
            Ok(())
        }
    });
    bar.finish_and_clear();
    let truncated = crate::cli::checked(stop, &mut problems, name)?;
    if problems.is_empty() {
        return Ok(Shape::Records(records));
    }
    // A document spread over lines fails as JSON Lines at its first line ("{" alone is
    // "EOF while parsing an object"): read the input as that one document instead.
    let first_line_incomplete = problems[0].0 == 1
        && problems[0]
            .1
            .starts_with("invalid document: EOF while parsing");
    if src.format == Format::Lines && first_line_incomplete && records > 1 {
        let mut text = String::new();
        src.rewind()?
            .read_to_string(&mut text)
            .map_err(|e| CliError::io(format!("reading {name}"), e))?;
        let text = match text.strip_prefix(std::str::from_utf8(BOM).unwrap_or_default()) {
            Some(rest) => rest.to_owned(),
            None => text,
        };
        return match Document::from_json(text) {
            Ok(doc) => Ok(Shape::One(doc)),
            Err(e) => Err(CliError::Rejected {
                problems: vec![format!("{name}: {e}")],
                summary: "put failed: the input is neither JSON Lines nor one document; \
                          nothing was written"
                    .into(),
            }),
        };
    }
    problems.sort_by_key(|p| p.0);
    let truncated = truncated || problems.len() > MAX_PROBLEMS;
    problems.truncate(MAX_PROBLEMS);
    let n = problems.len();
    let s = if n == 1 { "" } else { "s" };
    Err(CliError::Rejected {
        problems: problems
            .into_iter()
            .map(|(line, why)| format!("{name}:{line}: {why}"))
            .collect(),
        summary: if truncated {
            format!("put failed: stopped after {n} invalid record{s}; nothing was written")
        } else {
            format!("put failed: {n} invalid record{s}; nothing was written")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_positions_unless_forced() {
        assert_eq!(Key::parse("3", false), Key::Index(3));
        assert_eq!(Key::parse("-1", false), Key::Index(-1));
        assert_eq!(Key::parse("3", true), Key::Id("3".into()));
        assert_eq!(Key::parse("-", false), Key::Id("-".into()));
        assert_eq!(Key::parse("3a", false), Key::Id("3a".into()));
        assert_eq!(Key::parse("", false), Key::Id("".into()));
    }
}
