//! The on-disk format: two files per store generation, both starting with a 32-byte header.
//!
//! ```text
//! file header (32 bytes, little-endian):
//!   magic[8]  "DAMFSIDX" (index) or "DAMFSBDY" (body)
//!   version   u32   FORMAT_VERSION (2; version 1 is still read)
//!   flags     u32   0
//!   generation u64  the store generation; prune/clear start a new one
//!   reserved  u64   0
//!
//! body-<generation>.dam: the header, then documents' JSON texts, concatenated, exactly as given.
//!
//! index.dam, version 2: the header, two commit records at offsets 512 and 1024 (see
//! `commit`), then batches from offset 1536. Version 1 has no commit records: batches start
//! at offset 32.
//!
//! Batches are appended; a batch is all-or-nothing:
//!   magic u32 "BTCH", flags u32 (bit 0 DURABLE), payload_len u32, crc32(payload) u32, payload
//!   payload = entries:
//!     PUT    0x01 id_len:u8 id  offset:u64 len:u32 crc32(body bytes):u32   (insert or replace)
//!     DELETE 0x02 id_len:u8 id
//!     RENAME 0x03 id_len:u8 id  new_len:u8 new_id                          (keeps the position)
//! ```
//!
//! A batch flagged DURABLE was written after the body was fsynced, so every body range named
//! by it or by any earlier batch is on disk for sure. PUTs after the last durable batch are
//! checked against the body when the store is loaded (a power cut may have lost their bytes).

use std::path::Path;

use crate::error::{Error, Result};

pub const INDEX_MAGIC: [u8; 8] = *b"DAMFSIDX";
pub const BODY_MAGIC: [u8; 8] = *b"DAMFSBDY";
pub const FORMAT_VERSION: u32 = 2;
/// The first format: no commit records (read, and upgraded by a writable open).
pub const LEGACY_VERSION: u32 = 1;
pub const FILE_HEADER_LEN: u64 = 32;
/// Where a version-2 index's batches start (after the header and the commit records).
pub const INDEX_DATA_START: u64 = 1536;

pub const BATCH_MAGIC: u32 = u32::from_le_bytes(*b"BTCH");
pub const BATCH_HEADER_LEN: usize = 16;
pub const FLAG_DURABLE: u32 = 1;
/// Large writes are split into batches of about this many payload bytes.
const BATCH_TARGET: usize = 1 << 20;

const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
const OP_RENAME: u8 = 3;

/// Where a document's text lives in the body file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loc {
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

impl Loc {
    pub fn end(&self) -> u64 {
        // Saturating: a damaged entry must read as "past the end", not overflow.
        self.offset.saturating_add(u64::from(self.len))
    }
}

/// One index entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op<'a> {
    Put { id: &'a str, loc: Loc },
    Delete { id: &'a str },
    Rename { from: &'a str, to: &'a str },
}

pub fn file_header(magic: [u8; 8], generation: u64) -> [u8; FILE_HEADER_LEN as usize] {
    let mut h = [0u8; FILE_HEADER_LEN as usize];
    h[..8].copy_from_slice(&magic);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[16..24].copy_from_slice(&generation.to_le_bytes());
    h
}

/// A version-2 index's header: its generation, and the generation of the body it names
/// (the same after prune or clear; an older one after the index alone was compacted).
pub fn index_header(generation: u64, body_generation: u64) -> [u8; FILE_HEADER_LEN as usize] {
    let mut h = file_header(INDEX_MAGIC, generation);
    h[24..32].copy_from_slice(&body_generation.to_le_bytes());
    h
}

/// What a file header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    pub generation: u64,
    /// In an index, the generation of its body file (`body-<body_generation>.dam`).
    pub body_generation: u64,
}

impl Header {
    /// Where an index of this version keeps its first batch.
    pub fn index_data_start(&self) -> u64 {
        if self.version == LEGACY_VERSION {
            FILE_HEADER_LEN
        } else {
            INDEX_DATA_START
        }
    }
}

/// Checks a file header and returns what it says.
pub fn read_file_header(path: &Path, bytes: &[u8], magic: [u8; 8]) -> Result<Header> {
    let corrupt = |reason: &str| Error::Corrupt {
        file: path.to_owned(),
        offset: 0,
        reason: reason.to_owned(),
    };
    if bytes.len() < FILE_HEADER_LEN as usize {
        return Err(corrupt("file is shorter than its 32-byte header"));
    }
    if bytes[..8] != magic {
        return Err(corrupt("not a damfs file (bad magic)"));
    }
    let version = u32::from_le_bytes(le4(&bytes[8..12]));
    if version != FORMAT_VERSION && version != LEGACY_VERSION {
        return Err(Error::UnsupportedVersion {
            file: path.to_owned(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let generation = u64::from_le_bytes(le8(&bytes[16..24]));
    // Version 1 and body files keep this field 0: the body is the same generation's.
    let body_generation = match u64::from_le_bytes(le8(&bytes[24..32])) {
        0 => generation,
        g => g,
    };
    Ok(Header {
        version,
        generation,
        body_generation,
    })
}

pub(super) fn le4(b: &[u8]) -> [u8; 4] {
    let mut a = [0; 4];
    a.copy_from_slice(&b[..4]);
    a
}

pub(super) fn le8(b: &[u8]) -> [u8; 8] {
    let mut a = [0; 8];
    a.copy_from_slice(&b[..8]);
    a
}

/// Builds the bytes of one or more batches.
#[derive(Default)]
pub struct BatchWriter {
    out: Vec<u8>,
    start: Option<usize>,
}

impl BatchWriter {
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&mut self) -> &mut Vec<u8> {
        match self.start {
            Some(s) if self.out.len() - s - BATCH_HEADER_LEN < BATCH_TARGET => {}
            Some(_) => {
                self.seal(0);
                self.open();
            }
            None => self.open(),
        }
        &mut self.out
    }

    fn open(&mut self) {
        self.start = Some(self.out.len());
        self.out.extend_from_slice(&[0u8; BATCH_HEADER_LEN]);
    }

    fn seal(&mut self, flags: u32) {
        if let Some(s) = self.start.take() {
            let payload = &self.out[s + BATCH_HEADER_LEN..];
            let len = payload.len() as u32;
            let crc = crc32fast::hash(payload);
            let h = &mut self.out[s..s + BATCH_HEADER_LEN];
            h[0..4].copy_from_slice(&BATCH_MAGIC.to_le_bytes());
            h[4..8].copy_from_slice(&flags.to_le_bytes());
            h[8..12].copy_from_slice(&len.to_le_bytes());
            h[12..16].copy_from_slice(&crc.to_le_bytes());
        }
    }

    pub fn push(&mut self, op: Op<'_>) {
        let out = self.entry();
        match op {
            Op::Put { id, loc } => {
                out.push(OP_PUT);
                push_id(out, id);
                out.extend_from_slice(&loc.offset.to_le_bytes());
                out.extend_from_slice(&loc.len.to_le_bytes());
                out.extend_from_slice(&loc.crc.to_le_bytes());
            }
            Op::Delete { id } => {
                out.push(OP_DELETE);
                push_id(out, id);
            }
            Op::Rename { from, to } => {
                out.push(OP_RENAME);
                push_id(out, from);
                push_id(out, to);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Starts an empty batch (a version-1 save with nothing to write marks itself with one).
    pub fn empty_batch(&mut self) {
        self.open();
    }

    /// Bytes built so far.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// The finished bytes; `durable` flags the last batch (none is made for nothing: a save
    /// with nothing new to write records its commit only).
    pub fn finish(mut self, durable: bool) -> Vec<u8> {
        self.seal(if durable { FLAG_DURABLE } else { 0 });
        self.out
    }
}

/// The length of the first batch in `bytes` (whole batches, as `BatchWriter` makes them).
pub fn first_batch_len(bytes: &[u8]) -> usize {
    BATCH_HEADER_LEN + u32::from_le_bytes(le4(&bytes[8..12])) as usize
}

/// Zeroes the magic of the first batch in `bytes` and gives it back: written like this,
/// the batches read as a torn tail until the magic is written over the zeros, so a run of
/// batches written with several calls becomes visible at once (or, after a crash, not at
/// all).
pub fn withhold_magic(bytes: &mut [u8]) -> [u8; 4] {
    let mut magic = [0u8; 4];
    magic.copy_from_slice(&bytes[..4]);
    bytes[..4].fill(0);
    magic
}

fn push_id(out: &mut Vec<u8>, id: &str) {
    // Ids are validated to be 1..=255 bytes before they reach the format.
    out.push(id.len() as u8);
    out.extend_from_slice(id.as_bytes());
}

/// What reading an index found.
pub struct IndexScan {
    /// Length of the valid prefix (where the next batch goes).
    pub valid_len: u64,
    /// A torn tail that was ignored: its offset and length.
    pub torn: Option<(u64, u64)>,
    /// The torn tail starts with whole batches that `verify` refused (their texts were lost
    /// in a crash): they would read as valid, so the next writer must cut them off.
    pub lost: bool,
}

/// One parsed batch: its offset, flags and payload.
struct Batch<'a> {
    offset: u64,
    flags: u32,
    payload: &'a [u8],
}

/// Why a batch at some offset could not be read.
enum BadBatch {
    /// It does not fit in the file or does not start with the batch magic.
    Incomplete,
    /// Its checksum does not match its payload; the payload would end at this offset.
    Checksum { end: usize, flags: u32 },
}

fn batch_at(bytes: &[u8], pos: usize) -> std::result::Result<Batch<'_>, BadBatch> {
    if bytes.len() - pos < BATCH_HEADER_LEN {
        return Err(BadBatch::Incomplete);
    }
    let h = &bytes[pos..pos + BATCH_HEADER_LEN];
    if u32::from_le_bytes(le4(&h[0..4])) != BATCH_MAGIC {
        return Err(BadBatch::Incomplete);
    }
    let flags = u32::from_le_bytes(le4(&h[4..8]));
    let len = u32::from_le_bytes(le4(&h[8..12])) as usize;
    let crc = u32::from_le_bytes(le4(&h[12..16]));
    let start = pos + BATCH_HEADER_LEN;
    if bytes.len() - start < len {
        return Err(BadBatch::Incomplete);
    }
    let payload = &bytes[start..start + len];
    if crc32fast::hash(payload) != crc {
        return Err(BadBatch::Checksum {
            end: start + len,
            flags,
        });
    }
    Ok(Batch {
        offset: pos as u64,
        flags,
        payload,
    })
}

/// Is there a valid DURABLE batch anywhere at or after `from`? Only a durable batch proves
/// that the bytes before it were on disk (it is written after an fsync): damage followed by
/// one is corruption. Damage followed only by unsynced batches is what a power cut leaves
/// (later pages written, an earlier one lost) — a torn tail.
fn durable_batch_after(bytes: &[u8], from: usize) -> bool {
    let magic = BATCH_MAGIC.to_le_bytes();
    let mut pos = from;
    while pos + BATCH_HEADER_LEN <= bytes.len() {
        if bytes[pos..pos + 4] == magic {
            if let Ok(b) = batch_at(bytes, pos) {
                if b.flags & FLAG_DURABLE != 0 {
                    return true;
                }
            }
        }
        pos += 1;
    }
    false
}

/// Reads the batches in `bytes` (the index file from offset `base` on) and calls
/// `apply(op, durable)` for each entry in order; `durable` tells whether the entry is inside
/// what a save made durable (before `committed`, the file offset the commit record names,
/// or at or before the last DURABLE batch). A torn tail after `committed` is reported, not
/// applied; damage anywhere else, and any damage before `committed`, is an error naming the
/// file and offset. Each entry after what saves made durable is first passed to `verify`
/// (is its text there?): from the first batch with a refused entry on, the rest is dropped
/// as a torn tail too, so that unsaved changes are only ever lost from the end.
pub fn scan_index(
    path: &Path,
    bytes: &[u8],
    base: u64,
    committed: u64,
    mut verify: impl FnMut(Op<'_>) -> bool,
    mut apply: impl FnMut(Op<'_>, bool) -> Result<()>,
) -> Result<IndexScan> {
    let committed_rel = committed.saturating_sub(base);
    if committed_rel > bytes.len() as u64 {
        return Err(Error::Corrupt {
            file: path.to_owned(),
            offset: base + bytes.len() as u64,
            reason: format!("file is truncated: saved data extends to offset {committed}"),
        });
    }
    let committed_rel = committed_rel as usize;
    let start = 0usize;
    // First pass: find the valid prefix and the last durable batch.
    let mut pos = start;
    let mut durable_end = start;
    let mut torn = None;
    while pos < bytes.len() {
        match batch_at(bytes, pos) {
            Ok(b) => {
                let end = pos + BATCH_HEADER_LEN + b.payload.len();
                if pos < committed_rel && end > committed_rel {
                    return Err(Error::Corrupt {
                        file: path.to_owned(),
                        offset: base + pos as u64,
                        reason: format!(
                            "a batch crosses the saved length (offset {committed}) named by \
                             the commit record"
                        ),
                    });
                }
                pos = end;
                if b.flags & FLAG_DURABLE != 0 {
                    durable_end = pos;
                }
            }
            Err(_) if pos < committed_rel => {
                return Err(Error::Corrupt {
                    file: path.to_owned(),
                    offset: base + pos as u64,
                    reason: format!(
                        "damaged batch (bad magic, length or checksum) inside saved data \
                         (saved up to offset {committed})"
                    ),
                });
            }
            Err(bad) => {
                let (resume, saved) = match bad {
                    BadBatch::Checksum { end, flags } => {
                        (end.min(bytes.len()), flags & FLAG_DURABLE != 0)
                    }
                    BadBatch::Incomplete => (pos + 1, false),
                };
                if saved || durable_batch_after(bytes, resume) {
                    return Err(Error::Corrupt {
                        file: path.to_owned(),
                        offset: base + pos as u64,
                        reason: "damaged batch (bad magic or checksum) followed by saved data"
                            .into(),
                    });
                }
                torn = Some((base + pos as u64, (bytes.len() - pos) as u64));
                break;
            }
        }
    }
    let mut valid_len = pos;
    let durable_end = durable_end.max(committed_rel);
    // Check the unsaved batches' entries; cut before the first one with a lost text.
    let mut lost = false;
    let mut pos = durable_end;
    while pos < valid_len {
        let Ok(b) = batch_at(bytes, pos) else { break };
        let mut ok = true;
        decode_entries(path, base, &b, |op| {
            ok &= verify(op);
            Ok(())
        })?;
        if !ok {
            let end = torn.map_or(valid_len, |(at, n)| (at - base + n) as usize);
            torn = Some((base + pos as u64, (end - pos) as u64));
            valid_len = pos;
            lost = true;
            break;
        }
        pos += BATCH_HEADER_LEN + b.payload.len();
    }
    // Second pass: apply the entries.
    let mut pos = start;
    while pos < valid_len {
        let b = batch_at(bytes, pos).map_err(|_| Error::Corrupt {
            file: path.to_owned(),
            offset: base + pos as u64,
            reason: "batch changed while reading".into(),
        })?;
        let durable = pos < durable_end;
        decode_entries(path, base, &b, |op| apply(op, durable))?;
        pos += BATCH_HEADER_LEN + b.payload.len();
    }
    Ok(IndexScan {
        valid_len: base + valid_len as u64,
        torn,
        lost,
    })
}

/// An upper bound of the documents and arena bytes an index holds (PUTs, and ids of PUTs and
/// RENAMEs), from a quick walk that checks nothing: used to size the table before loading.
pub fn estimate(bytes: &[u8]) -> (usize, usize) {
    let (mut docs, mut id_bytes) = (0usize, 0usize);
    let mut pos = 0usize;
    while bytes.len() - pos >= BATCH_HEADER_LEN {
        let h = &bytes[pos..pos + BATCH_HEADER_LEN];
        let len = u32::from_le_bytes(le4(&h[8..12])) as usize;
        let end = pos + BATCH_HEADER_LEN + len;
        if u32::from_le_bytes(le4(&h[0..4])) != BATCH_MAGIC || end > bytes.len() {
            break;
        }
        let p = &bytes[pos + BATCH_HEADER_LEN..end];
        let mut i = 0usize;
        let id_len = |i: usize| p.get(i).map_or(0, |&n| n as usize);
        while i < p.len() {
            match p[i] {
                OP_PUT => {
                    let n = id_len(i + 1);
                    docs += 1;
                    id_bytes += 1 + n;
                    i += 2 + n + 16;
                }
                OP_DELETE => i += 2 + id_len(i + 1),
                OP_RENAME => {
                    let a = id_len(i + 1);
                    let b = id_len(i + 2 + a);
                    id_bytes += 1 + b;
                    i += 3 + a + b;
                }
                _ => break,
            }
        }
        pos = end;
    }
    (docs, id_bytes)
}

fn decode_entries(
    path: &Path,
    base: u64,
    batch: &Batch<'_>,
    mut apply: impl FnMut(Op<'_>) -> Result<()>,
) -> Result<()> {
    let p = batch.payload;
    let base = base + batch.offset + BATCH_HEADER_LEN as u64;
    let mut i = 0usize;
    let corrupt = |at: usize, reason: &str| Error::Corrupt {
        file: path.to_owned(),
        offset: base + at as u64,
        reason: reason.to_owned(),
    };
    let read_id = |i: &mut usize| -> Result<&str> {
        let n = *p.get(*i).ok_or_else(|| corrupt(*i, "entry cut short"))? as usize;
        let s = p
            .get(*i + 1..*i + 1 + n)
            .ok_or_else(|| corrupt(*i, "entry cut short"))?;
        let id = std::str::from_utf8(s).map_err(|_| corrupt(*i, "id is not UTF-8"))?;
        if id.is_empty() {
            return Err(corrupt(*i, "empty id"));
        }
        *i += 1 + n;
        Ok(id)
    };
    while i < p.len() {
        let at = i;
        let kind = p[i];
        i += 1;
        match kind {
            OP_PUT => {
                let id = read_id(&mut i)?;
                let f = p
                    .get(i..i + 16)
                    .ok_or_else(|| corrupt(at, "entry cut short"))?;
                let loc = Loc {
                    offset: u64::from_le_bytes(le8(&f[0..8])),
                    len: u32::from_le_bytes(le4(&f[8..12])),
                    crc: u32::from_le_bytes(le4(&f[12..16])),
                };
                i += 16;
                apply(Op::Put { id, loc })?;
            }
            OP_DELETE => {
                let id = read_id(&mut i)?;
                apply(Op::Delete { id })?;
            }
            OP_RENAME => {
                let from = read_id(&mut i)?;
                let to = read_id(&mut i)?;
                apply(Op::Rename { from, to })?;
            }
            _ => return Err(corrupt(at, "unknown entry kind")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut out = file_header(INDEX_MAGIC, 7).to_vec();
        let mut w = BatchWriter::new();
        w.push(Op::Put {
            id: "a",
            loc: Loc {
                offset: 32,
                len: 10,
                crc: 5,
            },
        });
        w.push(Op::Rename { from: "a", to: "b" });
        out.extend(w.finish(true));
        let mut w = BatchWriter::new();
        w.push(Op::Delete { id: "b" });
        out.extend(w.finish(false));
        out
    }

    fn ops(bytes: &[u8]) -> Result<(Vec<String>, IndexScan)> {
        let mut seen = Vec::new();
        let scan = scan_index(
            Path::new("index.dam"),
            &bytes[32..],
            32,
            32,
            |_| true,
            |op, d| {
                seen.push(format!("{op:?} {d}"));
                Ok(())
            },
        )?;
        Ok((seen, scan))
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        assert_eq!(
            read_file_header(Path::new("x"), &bytes, INDEX_MAGIC)
                .unwrap()
                .generation,
            7
        );
        let (seen, scan) = ops(&bytes).unwrap();
        assert_eq!(seen.len(), 3);
        assert!(seen[0].ends_with("true") && seen[2].ends_with("false"));
        assert_eq!(scan.valid_len, bytes.len() as u64);
        assert!(scan.torn.is_none());
    }

    #[test]
    fn every_torn_tail_is_dropped() {
        let bytes = sample();
        let full = ops(&bytes).unwrap().0.len();
        for cut in 33..bytes.len() {
            let (seen, scan) = ops(&bytes[..cut]).unwrap();
            assert!(seen.len() < full);
            assert!(scan.valid_len <= cut as u64);
        }
    }

    #[test]
    fn damage_before_valid_data_is_an_error() {
        let mut bytes = sample();
        bytes[32 + BATCH_HEADER_LEN + 2] ^= 0xff;
        let err = ops(&bytes).err().unwrap().to_string();
        assert!(
            err.contains("index.dam") && err.contains("offset 32"),
            "{err}"
        );
    }

    #[test]
    fn damage_before_the_committed_length_is_an_error() {
        let bytes = sample();
        let committed = bytes.len() as u64;
        let scan = |b: &[u8]| {
            let mut seen = Vec::new();
            scan_index(
                Path::new("index.dam"),
                &b[32..],
                32,
                committed,
                |_| true,
                |op, _| {
                    seen.push(format!("{op:?}"));
                    Ok(())
                },
            )
            .map(|_| seen)
        };
        let full = scan(&bytes).unwrap();
        for cut in 33..bytes.len() {
            let err = scan(&bytes[..cut]).expect_err("a cut inside saved data opened");
            assert!(err.to_string().contains("offset"), "{err}");
        }
        // A flip is an error, or (in a batch's flags, which only hint) changes nothing.
        for at in 32..bytes.len() {
            let mut b = bytes.clone();
            b[at] ^= 0x10;
            if let Ok(seen) = scan(&b) {
                assert_eq!(seen, full, "a flip at {at} changed the entries");
            }
        }
    }

    #[test]
    fn bad_header_is_named() {
        let mut b = sample();
        b[8] = 9;
        assert!(matches!(
            read_file_header(Path::new("x"), &b, INDEX_MAGIC),
            Err(Error::UnsupportedVersion { found: 9, .. })
        ));
        assert!(read_file_header(Path::new("x"), &b[..10], INDEX_MAGIC).is_err());
    }
}
