//! `damfs import STORE JINA_DIR` and `damfs export STORE --jina DIR`: the original's stores
//! in and out, with the same all-or-nothing rules as a JSON Lines import.
//!
//! Import reads the original store twice, like a JSON Lines import reads its input: the
//! first pass ([`Plan`]) checks every record without printing it and finds the ids that
//! would clash, the second converts and appends with one streaming `extend`. A record that
//! cannot be converted fails the import before anything is written, unless `skip_bad` is
//! set: then it is reported (id and reason) and left out.

use std::io;
use std::path::Path;

use log::warn;

use super::{open_read_only, open_writable, progress_bar, roll_back, show, CliError, CliResult};
use crate::jina::convert::Stream;
use crate::jina::from_json::{document_from_json, ArrayRules};
use crate::jina::plan::Plan;
use crate::jina::reader::{BODY_FILE, HEADER_FILE};
use crate::jina::writer::StoreWriter;
use crate::jina::{JinaStore, OpenError};

/// How an import of an original store went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JinaImportReport {
    pub imported: usize,
    /// Records left out (with `skip_bad`); each was reported.
    pub skipped: usize,
}

fn open_jina(dir: &Path) -> CliResult<JinaStore> {
    JinaStore::open(dir).map_err(|e| match e {
        OpenError::Io { what, source } => CliError::Io { what, source },
        OpenError::Invalid(msg) => CliError::Io {
            what: format!("cannot read the Jina store {}", show(dir)),
            source: io::Error::new(io::ErrorKind::InvalidData, msg),
        },
    })
}

fn read_error(dir: &Path, e: io::Error) -> CliError {
    CliError::Io {
        what: format!("reading the Jina store {}", show(dir)),
        source: e,
    }
}

/// `damfs import STORE JINA_DIR [--skip-bad]`.
pub fn import(store: &Path, dir: &Path, skip_bad: bool) -> CliResult<JinaImportReport> {
    let jina = open_jina(dir)?;
    let name = show(dir);

    // Pass 1: check every record and find the ids that would clash.
    let total = jina.live_bytes();
    let bar = progress_bar(total, "checking");
    let limit = (!skip_bad).then_some(super::MAX_PROBLEMS);
    let plan =
        Plan::make(&jina, limit, &|n| bar.set_position(n)).map_err(|e| read_error(dir, e))?;
    bar.finish_and_clear();
    let invalid = |mut problems: Vec<(u64, String)>, truncated: bool| {
        problems.sort();
        let truncated = truncated || problems.len() > super::MAX_PROBLEMS;
        problems.truncate(super::MAX_PROBLEMS);
        CliError::Invalid {
            problems: problems.into_iter().map(|(_, p)| p).collect(),
            truncated,
        }
    };
    if skip_bad {
        for p in &plan.problems {
            warn!("{name}: skipped {p}");
        }
    } else if !plan.problems.is_empty() {
        let problems = plan
            .problems
            .iter()
            .map(|p| (p.entry, format!("{name}: {p}")));
        return Err(invalid(problems.collect(), plan.truncated));
    }

    // Only now may the store be created.
    let mut dam = open_writable(store, false)?;
    let clashes: Vec<(u64, String)> = plan
        .ids(&jina)
        .filter(|(id, _)| dam.contains(id))
        .map(|(id, entry)| {
            let p = format!(
                "{name}: document {id:?} (header entry {entry}): a document with this id \
                 already exists in the store"
            );
            (entry, p)
        })
        .collect();
    if !clashes.is_empty() {
        return Err(invalid(clashes, false));
    }
    let skip = plan.skipped_entries();
    let skipped = skip.len();
    drop(plan);

    // Pass 2: convert again and append in one streaming extend.
    let before = dam.len();
    let bar = progress_bar(total, "importing");
    let progress = |n| bar.set_position(n);
    let mut stream = Stream::new(&jina, skip, false).with_progress(&progress);
    let extended = dam.extend(&mut stream);
    bar.finish_and_clear();
    let result = match (extended, stream.failure) {
        (Err(e), _) => Err(e.to_string()),
        (Ok(()), Some(why)) => Err(format!("reading {name}: {why}")),
        (Ok(()), None) => dam.save().map_err(|e| format!("saving: {e}")),
    };
    match result {
        Ok(()) => Ok(JinaImportReport {
            imported: dam.len() - before,
            skipped,
        }),
        Err(reason) => {
            let mut written = crate::id_set::IdList::default();
            for id in dam.ids().skip(before) {
                written.push(id);
            }
            Err(CliError::ImportFailed {
                what: format!("import of {name} into {}", show(store)),
                reason,
                rolled_back: roll_back(&mut dam, &written),
            })
        }
    }
}

/// `damfs export STORE --jina DIR`: writes an original store that jina 2.6.4 opens. DIR must
/// be missing or empty. Every document is checked against Jina's schema; on any problem
/// nothing is left behind. Returns how many documents were written.
pub fn export(store: &Path, dir: &Path, rules: &ArrayRules, key_length: usize) -> CliResult<usize> {
    let dam = open_read_only(store)?;
    let shown = show(dir);
    let created = match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(CliError::Io {
                    what: format!("cannot export into {shown}"),
                    source: io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "the directory is not empty (export writes a new Jina store into an \
                         empty or missing directory)",
                    ),
                });
            }
            false
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| CliError::Io {
                what: format!("cannot create {shown}"),
                source: e,
            })?;
            true
        }
        Err(e) => {
            return Err(CliError::Io {
                what: format!("cannot export into {shown}"),
                source: e,
            })
        }
    };
    // On failure nothing is left behind: the directory if it was made here, else the files.
    let give_up = |writer: Option<StoreWriter>| {
        if let Some(w) = writer {
            w.abandon();
        }
        if created {
            let _ = std::fs::remove_dir_all(dir);
        } else {
            for name in [HEADER_FILE, BODY_FILE] {
                let _ = std::fs::remove_file(dir.join(name));
            }
        }
    };
    let io_err = |what: String| move |e: io::Error| CliError::Io { what, source: e };
    let mut writer = match StoreWriter::create_with_key_length(dir, key_length) {
        Ok(w) => w,
        Err(e) => {
            give_up(None);
            return Err(io_err(format!("writing {shown}"))(e));
        }
    };
    let mut problems = Vec::new();
    let mut n = 0;
    for id in dam.ids() {
        let parsed = dam.with_json(id, |text| {
            serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(text)
        });
        let map = match parsed {
            Ok(Ok(map)) => map,
            Ok(Err(e)) => {
                problems.push(format!("document {id:?}: not a JSON object ({e})"));
                continue;
            }
            Err(e) => {
                give_up(Some(writer));
                return Err(CliError::Store {
                    what: format!("reading document {id:?}"),
                    source: e,
                });
            }
        };
        // After a problem the rest is only checked: nothing of it will be kept.
        match document_from_json(&map, rules) {
            Err(e) => problems.push(format!("document {id:?}: {e}")),
            Ok(proto) => match writer.append(&proto, problems.is_empty()) {
                Ok(Ok(())) => n += 1,
                Ok(Err(other)) => problems.push(format!(
                    "document {id:?}: the original keys documents by the first 36 \
                     characters of their id, which {other:?} shares"
                )),
                Err(e) => {
                    give_up(Some(writer));
                    return Err(io_err(format!("writing {shown}"))(e));
                }
            },
        }
        if problems.len() >= super::MAX_PROBLEMS {
            break;
        }
    }
    if !problems.is_empty() {
        give_up(Some(writer));
        let truncated = problems.len() >= super::MAX_PROBLEMS;
        return Err(CliError::ExportInvalid {
            problems,
            truncated,
        });
    }
    if let Err(e) = writer.finish() {
        give_up(None);
        return Err(io_err(format!("writing {shown}"))(e));
    }
    Ok(n)
}
