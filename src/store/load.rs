//! Loading a generation: open its files, check their headers and commit record, and replay
//! the index into a lookup table.

use std::fs::OpenOptions;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::commit::{self};
use super::files::*;
use super::format::{self, Header, Op, BODY_MAGIC, FILE_HEADER_LEN, INDEX_MAGIC, LEGACY_VERSION};
use super::table::Table;
use super::*;
use crate::error::{Error, Result};

/// Loads the current generation: opens its files and replays the index into a table.
/// Called with the lock held (shared or exclusive).
pub(super) fn load(dir: &Path, writable: bool) -> Result<(Files, Table)> {
    let index_path = dir.join(INDEX_FILE);
    let index = open_file(&index_path, writable).map_err(|e| open_error(&index_path, e))?;
    let meta = index.metadata().map_err(io_at(&index_path, "reading"))?;
    regular_file(&index_path, &meta)?;
    // SAFETY: the index is only appended to, or cut back past a torn tail under the
    // exclusive lock, which this caller's lock excludes while the map is alive.
    let index_map = if meta.len() > 0 {
        // Populated: the whole index is read now, in large sequential reads, instead of
        // one page fault at a time while it is parsed.
        Some(
            unsafe { memmap2::MmapOptions::new().populate().map(index.file()) }
                .map_err(io_at(&index_path, "mapping"))?,
        )
    } else {
        None
    };
    let index_bytes: &[u8] = index_map.as_deref().unwrap_or(&[]);
    let index_header: Header = format::read_file_header(&index_path, index_bytes, INDEX_MAGIC)?;
    let generation = index_header.generation;
    let data_start = index_header.index_data_start();
    if (index_bytes.len() as u64) < data_start {
        return Err(Error::Corrupt {
            file: index_path,
            offset: index_bytes.len() as u64,
            reason: format!("file is shorter than its {data_start}-byte header"),
        });
    }
    // What the latest save made durable; a version-1 index does not say.
    let committed = if index_header.version == LEGACY_VERSION {
        // Its batches start right after the header, where a version-2 index has zeros and
        // then commit records: read as version 1, such an index would be one torn tail (the
        // store empty, and a writer's upgrade would make it so).
        if commit::latest(&index_path, index_bytes, generation).is_ok() {
            return Err(Error::Corrupt {
                file: index_path,
                offset: 8,
                reason: format!(
                    "the header says format version {LEGACY_VERSION}, but the file has the \
                     commit records of version {}: the version field is damaged",
                    format::FORMAT_VERSION
                ),
            });
        }
        None
    } else {
        Some(commit::latest(&index_path, index_bytes, generation)?)
    };

    // Where the header names the body: its own field, or (0 there) the generation's.
    let named_at = if index_bytes[24..32] == [0; 8] {
        16
    } else {
        24
    };
    if index_header.body_generation > generation {
        return Err(Error::Corrupt {
            file: index_path,
            offset: named_at,
            reason: format!(
                "the header names body generation {}, newer than its own generation {generation}",
                index_header.body_generation
            ),
        });
    }
    let body_path = dir.join(body_name(index_header.body_generation));
    let body = open_file(&body_path, writable).map_err(|e| match e.kind() {
        // Either the header is damaged or the body was removed: both are damage to
        // the store, named where the index names the file.
        std::io::ErrorKind::NotFound => Error::Corrupt {
            file: index_path.clone(),
            offset: named_at,
            reason: format!(
                "the header names the body file {}, which does not exist",
                body_name(index_header.body_generation)
            ),
        },
        _ => open_error(&body_path, e),
    })?;
    let body_meta = body.metadata().map_err(io_at(&body_path, "reading"))?;
    regular_file(&body_path, &body_meta)?;
    let body_len = body_meta.len();
    let mut header = [0u8; FILE_HEADER_LEN as usize];
    body.read_exact_at(&mut header, 0).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::Corrupt {
                file: body_path.clone(),
                offset: 0,
                reason: "file is shorter than its 32-byte header".into(),
            }
        } else {
            Error::io(format!("reading {}", body_path.display()), e)
        }
    })?;
    let body_generation = format::read_file_header(&body_path, &header, BODY_MAGIC)?.generation;
    if body_generation != index_header.body_generation {
        return Err(Error::Corrupt {
            file: body_path,
            offset: 16,
            reason: format!(
                "generation {body_generation} does not match the generation the index names, {}",
                index_header.body_generation
            ),
        });
    }
    if let Some(c) = committed.filter(|c| c.body_len > body_len) {
        return Err(Error::Corrupt {
            file: body_path,
            offset: body_len,
            reason: format!(
                "file is truncated: a save made it durable up to offset {}",
                c.body_len
            ),
        });
    }
    let mut files = Files {
        generation,
        body_generation,
        version: index_header.version,
        data_start,
        index,
        index_id: (meta.dev(), meta.ino()),
        index_len: 0,
        body,
        body_path: body_path.clone(),
        body_len,
        map: None,
        cut_at: None,
    };
    files.remap();

    let mut table = Table::for_replay();
    let batches = &index_bytes[data_start as usize..];
    let (docs, id_bytes) = format::estimate(batches);
    table.reserve(docs, id_bytes);
    let committed_index = committed.map_or(data_start, |c| c.index_len);
    let scan = format::scan_index(
        &index_path,
        batches,
        data_start,
        committed_index,
        // An unsaved PUT's text may have been lost in a power cut: it must be in the body,
        // with its checksum.
        |op| match op {
            Op::Put { id, loc } => {
                let there = loc.end() <= body_len
                    && loc.offset >= FILE_HEADER_LEN
                    && files.with_bytes(id, loc, |_| ()).is_ok();
                if !there {
                    log::warn!(
                        "{}: dropping unsaved changes from {id:?} on: its text was lost in a crash",
                        dir.display()
                    );
                }
                there
            }
            _ => true,
        },
        |op, durable| {
            match op {
                Op::Put { id, loc } => {
                    if loc.end() > body_len || loc.offset < FILE_HEADER_LEN {
                        // Only a saved entry gets here (unsaved ones were verified).
                        debug_assert!(durable);
                        return Err(Error::Corrupt {
                            file: body_path.clone(),
                            offset: body_len,
                            reason: format!(
                                "file is truncated: document {id:?} needs bytes up to {}",
                                loc.end()
                            ),
                        });
                    }
                    table.apply_put(id, loc);
                }
                Op::Delete { id } => table.apply_delete(id),
                Op::Rename { from, to } => table.apply_rename(from, to),
            }
            Ok(())
        },
    )?;
    if let Some((at, n)) = scan.torn {
        // Cut off by the next write, under the exclusive lock (readers may map it now).
        log::warn!(
            "{}: ignoring a torn tail of {n} bytes at offset {at} (left by a crash)",
            index_path.display()
        );
    }
    files.index_len = scan.valid_len;
    if scan.lost {
        files.cut_at = Some((scan.valid_len, index_bytes.len() as u64));
    }
    // Deleted documents' slots go, and the estimate's spare room is given back.
    table.finish_replay();
    Ok((files, table))
}

/// A store file must be a regular file (mapping a directory fails with a bare ENODEV).
fn regular_file(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    Err(not_a_file(path, meta.is_dir()))
}

fn not_a_file(path: &Path, dir: bool) -> Error {
    Error::Corrupt {
        file: path.to_owned(),
        offset: 0,
        reason: if dir {
            "it is a directory, not a file".into()
        } else {
            "it is not a regular file".into()
        },
    }
}

/// Opens a store file. Without blocking: a named pipe in its place would wait for a writer
/// forever (on a regular file the flag changes nothing); `regular_file` then refuses it.
fn open_file(path: &Path, writable: bool) -> std::io::Result<io::StoreFile> {
    io::open(
        OpenOptions::new()
            .read(true)
            .write(writable)
            .custom_flags(libc::O_NONBLOCK),
        path,
    )
}

/// A failed open, with a directory in the file's place named as such.
fn open_error(path: &Path, e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(libc::EISDIR) {
        not_a_file(path, true)
    } else {
        Error::io(format!("opening {}", path.display()), e)
    }
}
