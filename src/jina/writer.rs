//! Writing an original store that jina 2.6.4 opens with `DocumentArrayMemmap(DIR)`: records
//! appended to `body.bin`, one 168-byte entry each in `header.bin`, as the original's own
//! `append` writes them (`p` page-aligned, the last entry ending at the end of the body).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use prost::Message;

use super::header::{encode_entry, KEY_LENGTH};
use super::proto::DocumentProto;
use super::reader::{BODY_FILE, HEADER_FILE};

/// An original store being written. Nothing is visible under the final names until
/// [`finish`](Self::finish): the files are written as `.header.bin.part`/`.body.bin.part`.
pub struct StoreWriter {
    dir: PathBuf,
    header: BufWriter<File>,
    body: BufWriter<File>,
    body_len: u64,
    /// The original's `key_length` the header is written with.
    key_length: usize,
    /// Header keys written so far, with the id that made each (ids longer than
    /// `key_length` characters are truncated by the original: two may collide).
    keys: HashMap<String, String>,
    record: Vec<u8>,
    entry: Vec<u8>,
}

fn part(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".{name}.part"))
}

impl StoreWriter {
    /// Starts a store in `dir`, which must exist and hold no store, with the original's
    /// default `key_length` (36).
    pub fn create(dir: &Path) -> io::Result<StoreWriter> {
        Self::create_with_key_length(dir, KEY_LENGTH)
    }

    /// Starts a store whose header keys are `key_length` characters (as
    /// `DocumentArrayMemmap(path, key_length=...)`; at least 1).
    pub fn create_with_key_length(dir: &Path, key_length: usize) -> io::Result<StoreWriter> {
        if key_length == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "key_length must be at least 1",
            ));
        }
        let create = |name: &str| {
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(part(dir, name))
        };
        Ok(StoreWriter {
            dir: dir.to_owned(),
            header: BufWriter::with_capacity(1 << 16, create(HEADER_FILE)?),
            body: BufWriter::with_capacity(1 << 16, create(BODY_FILE)?),
            body_len: 0,
            key_length,
            keys: HashMap::new(),
            record: Vec::new(),
            entry: Vec::with_capacity(super::header::entry_size(key_length)),
        })
    }

    /// Appends a document (with `write` false, only checks its key). Errors with the other
    /// id if its header key (the id truncated to `key_length` characters) is taken: the original would
    /// then silently keep only one of them.
    pub fn append(&mut self, doc: &DocumentProto, write: bool) -> io::Result<Result<(), String>> {
        let key: String = doc.id.chars().take(self.key_length).collect();
        if let Some(other) = self.keys.get(&key) {
            return Ok(Err(other.clone()));
        }
        self.keys.insert(key.clone(), doc.id.clone());
        if !write {
            return Ok(Ok(()));
        }
        self.record.clear();
        doc.encode(&mut self.record)
            .map_err(|e| io::Error::other(format!("encoding a record: {e}")))?;
        self.entry.clear();
        encode_entry(
            &key,
            self.body_len,
            self.record.len() as u64,
            self.key_length,
            &mut self.entry,
        );
        self.body.write_all(&self.record)?;
        self.header.write_all(&self.entry)?;
        self.body_len += self.record.len() as u64;
        Ok(Ok(()))
    }

    /// Flushes, fsyncs and moves both files to their names.
    pub fn finish(self) -> io::Result<()> {
        for (w, name) in [(self.body, BODY_FILE), (self.header, HEADER_FILE)] {
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            std::fs::rename(part(&self.dir, name), self.dir.join(name))?;
        }
        File::open(&self.dir)?.sync_all()
    }

    /// Removes what was written (after a failure).
    pub fn abandon(self) {
        drop(self.header);
        drop(self.body);
        for name in [HEADER_FILE, BODY_FILE] {
            let _ = std::fs::remove_file(part(&self.dir, name));
        }
    }
}
