//! Reading an original store the way `DocumentArrayMemmap(path)` opens and iterates it.
//!
//! The original loads `header.bin` into an `OrderedDict` keyed by the (possibly truncated)
//! header key, skipping tombstones: a key seen again keeps its **first position** and takes
//! the **last entry's content**. Body bytes no live entry points at (old versions of updated
//! documents, deleted ones) are never read. Nothing is ever written: both files are opened
//! read-only, and the body is read through a window of `pread`s so that memory stays flat.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use hashbrown::HashTable;

use super::header::{decode_entry, entry_size, Entry, KEY_LENGTH};
use super::Unprintable;

pub const HEADER_FILE: &str = "header.bin";
pub const BODY_FILE: &str = "body.bin";

/// Is `dir` a directory holding an original store (`header.bin` and `body.bin`)?
pub fn is_original_store(dir: &Path) -> bool {
    dir.is_dir() && dir.join(HEADER_FILE).is_file() && dir.join(BODY_FILE).is_file()
}

/// Why a directory is not an original store, for one that holds half of one (`None` when it
/// holds neither file, or both: then it is some other directory, or an original store).
pub fn half_original_store(dir: &Path) -> Option<String> {
    let state = |name: &str| match std::fs::metadata(dir.join(name)) {
        Ok(m) if m.is_file() => Some(true),
        Ok(_) => Some(false),
        Err(_) => None,
    };
    match (state(HEADER_FILE), state(BODY_FILE)) {
        (None, None) | (Some(true), Some(true)) => None,
        (Some(false), _) => Some(format!("its {HEADER_FILE} is not a regular file")),
        (_, Some(false)) => Some(format!("its {BODY_FILE} is not a regular file")),
        (Some(true), None) => Some(format!("it has {HEADER_FILE} but no {BODY_FILE}")),
        (None, Some(true)) => Some(format!("it has {BODY_FILE} but no {HEADER_FILE}")),
    }
}

/// Opening an original store failed.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    #[error("{0}")]
    Invalid(String),
}

/// A live document as the original's header map has it.
#[derive(Clone, Debug)]
pub struct Live {
    /// The header key (the id, truncated to `key_length` characters).
    pub key: Box<str>,
    /// The header entry (0-based) whose content counts: the last one with this key.
    pub entry: u64,
    pub p: i64,
    pub r: i64,
    pub r_plus_l: i64,
}

impl Live {
    fn as_entry(&self) -> Entry {
        Entry {
            key: String::new(),
            p: self.p,
            r: self.r,
            r_plus_l: self.r_plus_l,
        }
    }
}

/// A header entry that cannot take part at all (its key is not UTF-32).
#[derive(Clone, Debug)]
pub struct BadEntry {
    pub entry: u64,
    pub reason: String,
}

/// An open original store: its live documents in the original's order.
pub struct JinaStore {
    dir: PathBuf,
    /// Positions in `live`, by header key.
    index: HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    body: File,
    body_len: u64,
    live: Vec<Live>,
    bad_entries: Vec<BadEntry>,
    header_entries: u64,
}

/// Header bytes read at a time.
const HEADER_CHUNK: usize = 1 << 20;

impl JinaStore {
    /// Opens the store in `dir` (read-only). The original's `key_length` (36 unless the
    /// store was made with another, as jina's SimpleIndexer allows) is found from the header
    /// itself: see [`detect_key_length`].
    pub fn open(dir: &Path) -> Result<JinaStore, OpenError> {
        let key_length = detect_key_length(dir)?;
        Self::open_with_key_length(dir, key_length)
    }

    pub fn open_with_key_length(dir: &Path, key_length: usize) -> Result<JinaStore, OpenError> {
        let open = |name: &str| {
            let path = dir.join(name);
            File::open(&path).map_err(|e| OpenError::Io {
                what: format!("cannot open {}", path.display()),
                source: e,
            })
        };
        let header = open(HEADER_FILE)?;
        let body = open(BODY_FILE)?;
        let len_of = |f: &File, name: &str| {
            f.metadata().map(|m| m.len()).map_err(|e| OpenError::Io {
                what: format!("reading {}", dir.join(name).display()),
                source: e,
            })
        };
        let header_len = len_of(&header, HEADER_FILE)?;
        let body_len = len_of(&body, BODY_FILE)?;
        let size = entry_size(key_length);
        // A partial entry at the end (a crash while jina flushed its header) is reported as a
        // bad entry, so that --skip-bad and the mount keep the whole ones.
        let torn = header_len % size as u64;
        let whole_len = header_len - torn;
        // Sized for the usual store without duplicates: no doubling past what is needed.
        let entries = (header_len / size as u64) as usize;
        let mut live: Vec<Live> = Vec::with_capacity(entries);
        let mut index: HashTable<u32> = HashTable::with_capacity(entries);
        let hasher = hashbrown::DefaultHashBuilder::default();
        let hash = |k: &str| std::hash::BuildHasher::hash_one(&hasher, k);
        let mut bad_entries = Vec::new();
        let per_chunk = (HEADER_CHUNK / size).max(1);
        let mut chunk = vec![0u8; per_chunk * size];
        let mut at = 0u64;
        let mut entry_no = 0u64;
        while at < whole_len {
            let n = ((whole_len - at) as usize).min(chunk.len());
            header
                .read_exact_at(&mut chunk[..n], at)
                .map_err(|e| OpenError::Io {
                    what: format!("reading {}", dir.join(HEADER_FILE).display()),
                    source: e,
                })?;
            for raw in chunk[..n].chunks_exact(size) {
                match decode_entry(raw, key_length) {
                    Err(reason) => bad_entries.push(BadEntry {
                        entry: entry_no,
                        reason,
                    }),
                    Ok(e) if e.is_tombstone() => {}
                    Ok(e) => {
                        let h = hash(&e.key);
                        let found = index.find(h, |&i| *live[i as usize].key == *e.key);
                        match found {
                            Some(&i) => {
                                let slot = &mut live[i as usize];
                                slot.entry = entry_no;
                                (slot.p, slot.r, slot.r_plus_l) = (e.p, e.r, e.r_plus_l);
                            }
                            None => {
                                let i = u32::try_from(live.len()).map_err(|_| {
                                    OpenError::Invalid("more than 4 billion documents".into())
                                })?;
                                index.insert_unique(h, i, |&j| hash(&live[j as usize].key));
                                live.push(Live {
                                    key: e.key.into_boxed_str(),
                                    entry: entry_no,
                                    p: e.p,
                                    r: e.r,
                                    r_plus_l: e.r_plus_l,
                                });
                            }
                        }
                    }
                }
                entry_no += 1;
            }
            at += n as u64;
        }
        if torn > 0 {
            bad_entries.push(BadEntry {
                entry: entry_no,
                reason: format!(
                    "{} is {header_len} bytes, not a whole number of {size}-byte entries (the \
                     original's entry size for key_length {key_length}): its last {torn} bytes \
                     are part of an entry, cut short (by a crash while it was written?), and \
                     the original cannot open the store",
                    dir.join(HEADER_FILE).display()
                ),
            });
        }
        live.shrink_to_fit();
        Ok(JinaStore {
            dir: dir.to_owned(),
            index,
            hasher,
            body,
            body_len,
            live,
            bad_entries,
            header_entries: entry_no,
        })
    }

    /// The position of the live document with this header key.
    pub fn position_of_key(&self, key: &str) -> Option<usize> {
        let h = std::hash::BuildHasher::hash_one(&self.hasher, key);
        self.index
            .find(h, |&i| *self.live[i as usize].key == *key)
            .map(|&i| i as usize)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The live documents, in the original's order.
    pub fn live(&self) -> &[Live] {
        &self.live
    }

    /// Number of live documents (the original's `len(dam)`).
    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Entries the original could not read at all.
    pub fn bad_entries(&self) -> &[BadEntry] {
        &self.bad_entries
    }

    pub fn header_entries(&self) -> u64 {
        self.header_entries
    }

    pub fn body_len(&self) -> u64 {
        self.body_len
    }

    /// Sum of the live records' lengths (what a conversion reads).
    pub fn live_bytes(&self) -> u64 {
        self.live
            .iter()
            .filter_map(|l| l.as_entry().range(self.body_len).ok())
            .map(|(_, len)| len)
            .sum()
    }

    /// A reader of record bytes.
    pub fn body_reader(&self) -> BodyReader<'_> {
        BodyReader {
            store: self,
            window: Vec::new(),
            window_start: 0,
        }
    }
}

impl BodyReader<'_> {
    /// Why a record that is not inside body.bin cannot be converted, and whether the original
    /// fails on it too. It slices body.bin as Python does, so it reads the part of the record
    /// that is there (none for one wholly past the end): when those bytes parse, it shows a
    /// document made of them (an empty one with a fresh id, say) where damfs sees damage.
    fn outside(&mut self, live: &Live, reason: String) -> io::Result<Unprintable> {
        let body_len = self.store.body_len;
        let start = live.p.saturating_add(live.r);
        // Numbers that make no range, or an empty body.bin (which jina cannot mmap).
        if live.p < 0 || live.r < 0 || live.r_plus_l < live.r || body_len == 0 {
            return Ok(Unprintable::original(reason));
        }
        let start = start as u64;
        let mut there = vec![0u8; body_len.saturating_sub(start) as usize];
        if !there.is_empty() {
            self.store
                .body
                .read_exact_at(&mut there, start)
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("reading {}: {e}", self.store.dir.join(BODY_FILE).display()),
                    )
                })?;
        }
        Ok(match super::convert::decode_record(&there) {
            Err(_) => Unprintable::original(reason),
            Ok(_) => Unprintable::damfs(format!(
                "{reason}: the store is damaged (the original would show the {} bytes that \
                 are there as a document)",
                there.len()
            )),
        })
    }
}

/// Bytes read from body.bin at a time.
const WINDOW: usize = 1 << 20;

/// Reads records through a window, so that records laid out in order cost one `pread` per
/// megabyte.
pub struct BodyReader<'a> {
    store: &'a JinaStore,
    window: Vec<u8>,
    window_start: u64,
}

impl BodyReader<'_> {
    /// The bytes of a live document's record, or why there are none.
    pub fn record(&mut self, live: &Live) -> io::Result<Result<&[u8], Unprintable>> {
        let (start, len) = match live.as_entry().range(self.store.body_len) {
            Ok(r) => r,
            Err(reason) => return self.outside(live, reason).map(Err),
        };
        let end = start + len;
        let window_end = self.window_start + self.window.len() as u64;
        if start < self.window_start || end > window_end {
            let want = (len as usize).max(WINDOW);
            let want = want.min((self.store.body_len - start) as usize);
            self.window.resize(want, 0);
            self.store
                .body
                .read_exact_at(&mut self.window, start)
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("reading {}: {e}", self.store.dir.join(BODY_FILE).display()),
                    )
                })?;
            self.window_start = start;
        }
        let from = (start - self.window_start) as usize;
        Ok(Ok(&self.window[from..from + len as usize]))
    }
}

/// The largest `key_length` looked for (the original allows any; ids past a few hundred
/// characters are unheard of).
const MAX_KEY_LENGTH: usize = 1024;
/// Entries checked per candidate key length.
const PROBE_ENTRIES: usize = 64;

/// The `key_length` a store's header was written with. The header has no field for it, but a
/// wrong length makes its entries nonsense: sizes that do not divide the file, keys that are
/// not UTF-32 or have NULs inside, record numbers outside `body.bin`. The default 36 is
/// tried first, then every other length that divides the file, smallest first; the first
/// under which the first entries all make sense wins; then the same again for a header
/// torn by a crash (whole entries, then part of one). With none, 36 (whose bad entries then
/// name the problem).
pub fn detect_key_length(dir: &Path) -> Result<usize, OpenError> {
    let read = |name: &str| {
        let path = dir.join(name);
        File::open(&path)
            .and_then(|f| f.metadata().map(|m| (f, m.len())))
            .map_err(|e| OpenError::Io {
                what: format!("cannot open {}", path.display()),
                source: e,
            })
    };
    let (header, header_len) = read(HEADER_FILE)?;
    let (_, body_len) = read(BODY_FILE)?;
    // Whole entries first; then a header torn by a crash (whole entries and part of one).
    for torn in [false, true] {
        let fits = |k: usize| plausible(&header, header_len, body_len, k, torn);
        if header_len == 0 || fits(KEY_LENGTH) {
            return Ok(KEY_LENGTH);
        }
        if let Some(k) = (1..=MAX_KEY_LENGTH).find(|&k| k != KEY_LENGTH && fits(k)) {
            return Ok(k);
        }
    }
    Ok(KEY_LENGTH)
}

/// Whether the header is entries of key length `k` whose first ones make sense: whole
/// entries only, or with `torn` at least one whole entry and part of another.
fn plausible(header: &File, header_len: u64, body_len: u64, k: usize, torn: bool) -> bool {
    let size = entry_size(k);
    let rest = header_len % size as u64;
    if (rest != 0) != torn || header_len < size as u64 {
        return false;
    }
    let n = ((header_len / size as u64) as usize).min(PROBE_ENTRIES);
    let mut bytes = vec![0u8; n * size];
    if header.read_exact_at(&mut bytes, 0).is_err() {
        return false;
    }
    bytes.chunks_exact(size).all(|raw| {
        let units = raw[..4 * k].chunks_exact(4);
        let used = units
            .clone()
            .rposition(|u| u != [0; 4])
            .map_or(0, |i| i + 1);
        let key_ok = units.take(used).all(|u| u != [0; 4]);
        key_ok
            && match decode_entry(raw, k) {
                Ok(e) if e.is_tombstone() => true,
                Ok(e) => !e.key.is_empty() && e.range(body_len).is_ok(),
                Err(_) => false,
            }
    })
}
