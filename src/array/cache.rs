//! The embeddings matrix cache: `embeddings.damx` inside the store directory, a binary copy
//! of every document's `"embedding"` as rows of little-endian `f32`, so that `match`,
//! `embeddings` and `visualize` read one file instead of parsing a million JSON lists.
//!
//! It is never trusted when stale. Its header records the store's view it was built from:
//! the generation, the index length, the number of documents and a checksum of every id
//! with its text's length, in order. A handle whose view differs (another write, a prune, a
//! replaced text) rebuilds it; the rebuild reuses the rows of documents whose text is
//! unchanged (same id, same CRC-32 and length) and parses only the others. A CRC-32 of
//! everything after the header catches a damaged or half-written file. The file is written
//! to a temporary name and renamed into place, so readers never see half a file; a
//! read-only store's matrix is built in memory and not written.
//!
//! Layout (little-endian): a 128-byte header (magic `DAMFSEMX`, version, generation, index
//! length, rows, dim, view checksum, bad-row count, first bad row and its dim, data CRC,
//! header CRC), then `rows × dim` `f32`, then one 24-byte fingerprint per row (id hash,
//! text CRC, text length, the row's own dim: 0 for none, `u32::MAX` for not a list).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use memmap2::Mmap;

use super::error::{ArrayError, ArrayResult};
use super::matrix::{parse_embedding, EmbeddingField, Matrix};
use crate::DocumentArrayMemmap;

/// The cache's file name inside the store directory.
pub const CACHE_FILE: &str = "embeddings.damx";
const MAGIC: &[u8; 8] = b"DAMFSEMX";
const VERSION: u32 = 1;
const HEADER_LEN: u64 = 128;
const FP_LEN: usize = 24;
const NO_EMBEDDING: u32 = 0;
const NOT_A_LIST: u32 = u32::MAX;

/// What a cache is valid for: one view of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct View {
    generation: u64,
    index_len: u64,
    rows: u64,
    sum: u64,
}

#[derive(Clone, Copy, Debug)]
struct Header {
    view: View,
    dim: u64,
    bad_rows: u64,
    first_bad_row: u64,
    first_bad_dim: u32,
    data_crc: u32,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[0..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        let words = [
            self.view.generation,
            self.view.index_len,
            self.view.rows,
            self.dim,
            self.view.sum,
            self.bad_rows,
            self.first_bad_row,
        ];
        for (i, w) in words.iter().enumerate() {
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&w.to_le_bytes());
        }
        b[72..76].copy_from_slice(&self.first_bad_dim.to_le_bytes());
        b[76..80].copy_from_slice(&self.data_crc.to_le_bytes());
        let crc = crc32fast::hash(&b[..80]);
        b[80..84].copy_from_slice(&crc.to_le_bytes());
        b
    }

    fn decode(b: &[u8]) -> Option<Header> {
        if b.len() < HEADER_LEN as usize || &b[0..8] != MAGIC {
            return None;
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(w)
        };
        if u32_at(8) != VERSION || u32_at(80) != crc32fast::hash(&b[..80]) {
            return None;
        }
        Some(Header {
            view: View {
                generation: u64_at(16),
                index_len: u64_at(24),
                rows: u64_at(32),
                sum: u64_at(48),
            },
            dim: u64_at(40),
            bad_rows: u64_at(56),
            first_bad_row: u64_at(64),
            first_bad_dim: u32_at(72),
            data_crc: u32_at(76),
        })
    }

    fn matrix_bytes(&self) -> u64 {
        self.view.rows * self.dim * 4
    }
}

#[derive(Clone, Copy)]
struct Fingerprint {
    id_hash: u64,
    text_crc: u32,
    text_len: u32,
    dim: u32,
}

impl Fingerprint {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id_hash.to_le_bytes());
        out.extend_from_slice(&self.text_crc.to_le_bytes());
        out.extend_from_slice(&self.text_len.to_le_bytes());
        out.extend_from_slice(&self.dim.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
    }

    fn decode(b: &[u8]) -> Fingerprint {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[0..8]);
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Fingerprint {
            id_hash: u64::from_le_bytes(w),
            text_crc: u32_at(8),
            text_len: u32_at(12),
            dim: u32_at(16),
        }
    }
}

/// FNV-1a, 64-bit: stable across builds (unlike std's hasher), and quick on short ids.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn id_hash(id: &str) -> u64 {
    let mut h = Fnv::new();
    h.write(id.as_bytes());
    h.0
}

fn view_of(dam: &DocumentArrayMemmap) -> View {
    let stats = dam.stats();
    let mut h = Fnv::new();
    for id in dam.ids() {
        h.write(id.as_bytes());
        h.write(&[0xff]);
        h.write(&dam.json_len(id).unwrap_or(u64::MAX).to_le_bytes());
    }
    View {
        generation: stats.generation,
        index_len: stats.index_bytes,
        rows: dam.len() as u64,
        sum: h.0,
    }
}

fn cache_path(dam: &DocumentArrayMemmap) -> PathBuf {
    dam.path().join(CACHE_FILE)
}

enum Source {
    /// A verified cache file (read with `pread`, so only what is read takes memory).
    File(File),
    Memory(Vec<f32>),
}

/// The embeddings of every document of one view of a store.
pub struct Embeddings {
    header: Header,
    source: Source,
    path: PathBuf,
}

/// Reads `embeddings.damx` if it is valid for the store's current view, else rebuilds it
/// (and writes it, unless the store is read-only). Unsaved changes in the pool are saved
/// first so that the view on disk is the one the cache describes.
pub fn open(dam: &mut DocumentArrayMemmap) -> ArrayResult<Embeddings> {
    open_with_progress(dam, None)
}

/// [`open`], advancing `progress` by one per document when the cache has to be rebuilt.
pub fn open_with_progress(
    dam: &mut DocumentArrayMemmap,
    progress: Option<&ProgressBar>,
) -> ArrayResult<Embeddings> {
    open_as(dam, progress, false)
}

/// [`open_with_progress`] for callers that want the whole matrix: it is read into memory
/// in the same pass that checks the CRC (then [`Embeddings::into_matrix`] copies nothing).
pub fn load(
    dam: &mut DocumentArrayMemmap,
    progress: Option<&ProgressBar>,
) -> ArrayResult<Embeddings> {
    open_as(dam, progress, true)
}

fn open_as(
    dam: &mut DocumentArrayMemmap,
    progress: Option<&ProgressBar>,
    keep: bool,
) -> ArrayResult<Embeddings> {
    if dam.stats().pool_dirty > 0 {
        dam.save()?;
    }
    let view = view_of(dam);
    let path = cache_path(dam);
    let old = match read_verified(&path, keep) {
        Ok(Some(v)) if v.header.view == view => {
            let source = match v.kept {
                Some(data) => Source::Memory(data),
                None => Source::File(v.file),
            };
            return Ok(Embeddings {
                header: v.header,
                source,
                path,
            });
        }
        Ok(Some(v)) => Some((v.header, v.file)),
        Ok(None) => None,
        Err(e) => {
            log::warn!("{}: ignoring the embeddings cache: {e}", path.display());
            None
        }
    };
    if let Some(p) = progress {
        p.set_length(dam.len() as u64);
        p.set_position(0);
        p.set_message("embeddings");
    }
    build(dam, view, old, None, progress)
}

/// Writes the cache for a matrix just set on every document (no parsing needed).
pub(crate) fn store_known(dam: &mut DocumentArrayMemmap, known: &Matrix) -> ArrayResult<()> {
    if dam.stats().pool_dirty > 0 {
        dam.save()?;
    }
    let view = view_of(dam);
    build(dam, view, None, Some(known), None).map(drop)
}

/// Opens the cache file and checks its header and data CRC. `Ok(None)`: there is none,
/// or it is not a valid cache (a stale one is still returned: its rows can be reused).
///
/// With `keep`, the matrix is kept as it is read (one pass for callers that want it all).
fn read_verified(path: &Path, keep: bool) -> io::Result<Option<Verified>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut head = [0u8; HEADER_LEN as usize];
    if file.read_exact_at(&mut head, 0).is_err() {
        return Ok(None);
    }
    let Some(header) = Header::decode(&head) else {
        return Ok(None);
    };
    let data_len = header.matrix_bytes() + header.view.rows * FP_LEN as u64;
    if file.metadata()?.len() != HEADER_LEN + data_len {
        return Ok(None);
    }
    let mut crc = crc32fast::Hasher::new();
    let mut offset = HEADER_LEN;
    let mut kept = None;
    if keep {
        let mut data = vec![0f32; (header.view.rows * header.dim) as usize];
        // SAFETY: as in f32_bytes; every bit pattern is a valid f32.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(data.as_mut_ptr().cast::<u8>(), data.len() * 4)
        };
        file.read_exact_at(bytes, offset)?;
        crc.update(bytes);
        offset += bytes.len() as u64;
        kept = Some(data);
    }
    let mut buf = vec![0u8; 1 << 20];
    while offset < HEADER_LEN + data_len {
        let n = ((HEADER_LEN + data_len - offset) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], offset)?;
        crc.update(&buf[..n]);
        offset += n as u64;
    }
    if crc.finalize() != header.data_crc {
        return Ok(None);
    }
    Ok(Some(Verified { header, file, kept }))
}

/// A cache file whose CRC checked out (and its matrix, when asked for).
struct Verified {
    header: Header,
    file: File,
    kept: Option<Vec<f32>>,
}

/// The rows of an older cache, found by id hash (reused when the text is unchanged).
struct OldRows {
    map: Mmap,
    header: Header,
    by_id: HashMap<u64, usize>,
}

impl OldRows {
    fn new(header: Header, file: &File) -> Option<OldRows> {
        // SAFETY: cache files are only ever replaced by rename, never written in place.
        let map = unsafe { Mmap::map(file) }.ok()?;
        let fps = (HEADER_LEN + header.matrix_bytes()) as usize;
        let by_id = (0..header.view.rows as usize)
            .map(|r| {
                let fp = Fingerprint::decode(&map[fps + r * FP_LEN..fps + (r + 1) * FP_LEN]);
                (fp.id_hash, r)
            })
            .collect();
        Some(OldRows { map, header, by_id })
    }

    fn fingerprint(&self, row: usize) -> Fingerprint {
        let fps = (HEADER_LEN + self.header.matrix_bytes()) as usize;
        Fingerprint::decode(&self.map[fps + row * FP_LEN..fps + (row + 1) * FP_LEN])
    }

    /// The old row of an unchanged text: `Some(field)` when it can be reused.
    fn reuse(&self, id_hash: u64, crc: u32, len: u32) -> Option<EmbeddingField> {
        let &row = self.by_id.get(&id_hash)?;
        let fp = self.fingerprint(row);
        if fp.text_crc != crc || fp.text_len != len {
            return None;
        }
        match fp.dim {
            NO_EMBEDDING => Some(EmbeddingField::Missing),
            d if u64::from(d) == self.header.dim => {
                let dim = self.header.dim as usize;
                let start = HEADER_LEN as usize + row * dim * 4;
                let bytes = &self.map[start..start + dim * 4];
                Some(EmbeddingField::Values(
                    bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                ))
            }
            _ => None, // a row the old cache could not hold: parse it again
        }
    }
}

fn build(
    dam: &DocumentArrayMemmap,
    view: View,
    old: Option<(Header, File)>,
    known: Option<&Matrix>,
    progress: Option<&ProgressBar>,
) -> ArrayResult<Embeddings> {
    let old = old.and_then(|(h, f)| OldRows::new(h, &f));
    let mut dim: Option<usize> = known.map(Matrix::dim);
    let mut data: Vec<f32> = Vec::new();
    let mut fps = Vec::with_capacity(dam.len() * FP_LEN);
    let (mut bad_rows, mut first_bad_row, mut first_bad_dim) = (0u64, u64::MAX, NO_EMBEDDING);
    let mut leading_missing = 0usize;
    for (pos, id) in dam.ids().enumerate() {
        let hash = id_hash(id);
        let (field, crc, len) = dam.with_json(id, |bytes| {
            let crc = crc32fast::hash(bytes);
            let len = bytes.len() as u32;
            let field = match (known, &old) {
                (Some(m), _) => EmbeddingField::Values(m.row(pos).to_vec()),
                (None, Some(old)) => old
                    .reuse(hash, crc, len)
                    .unwrap_or_else(|| parse_embedding(bytes)),
                (None, None) => parse_embedding(bytes),
            };
            (field, crc, len)
        })?;
        let row_dim = match &field {
            EmbeddingField::Missing => NO_EMBEDDING,
            EmbeddingField::Values(v) => v.len().min(NOT_A_LIST as usize - 1) as u32,
            EmbeddingField::Bad(_) => NOT_A_LIST,
        };
        if dim.is_none() {
            if let EmbeddingField::Values(v) = &field {
                dim = Some(v.len());
                data.reserve(dam.len() * v.len());
                data.resize(leading_missing * v.len(), 0.0);
            }
        }
        match (dim, &field) {
            (Some(d), EmbeddingField::Values(v)) if v.len() == d => data.extend_from_slice(v),
            (d, _) => {
                bad_rows += 1;
                if first_bad_row == u64::MAX {
                    first_bad_row = pos as u64;
                    first_bad_dim = row_dim;
                }
                match d {
                    Some(d) => data.resize(data.len() + d, 0.0),
                    None => leading_missing += 1,
                }
            }
        }
        Fingerprint {
            id_hash: hash,
            text_crc: crc,
            text_len: len,
            dim: row_dim,
        }
        .encode(&mut fps);
        if let Some(p) = progress {
            p.inc(1);
        }
    }
    let dim = dim.unwrap_or(0);
    let mut crc = crc32fast::Hasher::new();
    let bytes: &[u8] = f32_bytes(&data);
    crc.update(bytes);
    crc.update(&fps);
    let header = Header {
        view,
        dim: dim as u64,
        bad_rows,
        first_bad_row,
        first_bad_dim,
        data_crc: crc.finalize(),
    };
    let path = cache_path(dam);
    if !dam.is_read_only() {
        if let Err(e) = write_file(&path, &header, bytes, &fps) {
            log::warn!("{}: cannot write the embeddings cache: {e}", path.display());
        }
    }
    Ok(Embeddings {
        header,
        source: Source::Memory(data),
        path,
    })
}

/// The matrix's bytes: `f32` is stored little-endian, which is this machine's order.
fn f32_bytes(data: &[f32]) -> &[u8] {
    #[cfg(target_endian = "big")]
    compile_error!("the embeddings cache assumes a little-endian machine");
    // SAFETY: any f32 is 4 plain bytes; the slice covers exactly the vector's elements.
    unsafe { std::slice::from_raw_parts(data.as_ptr().cast::<u8>(), std::mem::size_of_val(data)) }
}

fn write_file(path: &Path, header: &Header, matrix: &[u8], fps: &[u8]) -> io::Result<()> {
    // Unique per writer (process and call), so concurrent builders never share a file.
    let tmp = path.with_file_name(format!(
        "{CACHE_FILE}.tmp-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(&header.encode())?;
        file.write_all(matrix)?;
        file.write_all(fps)?;
        // No fsync: a cache torn by a crash fails its CRC and is rebuilt.
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl Embeddings {
    /// Number of rows (documents).
    pub fn rows(&self) -> usize {
        self.header.view.rows as usize
    }

    /// Length of a row: the first embedding's length (0 when no document has one).
    pub fn dim(&self) -> usize {
        self.header.dim as usize
    }

    /// Whether no document has an embedding.
    pub fn is_empty(&self) -> bool {
        self.header.dim == 0
    }

    /// Fails, naming it, when the first document without a usable embedding has one that
    /// is not a list of numbers (a store where no embedding is readable is not "empty").
    pub fn check_readable(&self, dam: &DocumentArrayMemmap) -> ArrayResult<()> {
        match self.header.bad_rows > 0 && self.header.first_bad_dim == NOT_A_LIST {
            true => self.check_complete(dam),
            false => Ok(()),
        }
    }

    /// Fails, naming the first such document, when a document has no embedding or one of
    /// another length or shape than the first.
    pub fn check_complete(&self, dam: &DocumentArrayMemmap) -> ArrayResult<()> {
        if self.header.bad_rows == 0 {
            return Ok(());
        }
        let pos = self.header.first_bad_row as usize;
        let id = dam.id_at(pos).unwrap_or("?").to_owned();
        let others = match self.header.bad_rows - 1 {
            0 => String::new(),
            n => format!(" ({n} more documents have the same problem)"),
        };
        let reason = match self.header.first_bad_dim {
            NO_EMBEDDING => "has no embedding".to_owned(),
            NOT_A_LIST => match dam.with_json(&id, parse_embedding)? {
                EmbeddingField::Bad(why) => why,
                _ => "\"embedding\" is not a list of numbers".to_owned(),
            },
            d => format!(
                "its embedding has {d} values, the first document's has {}",
                self.header.dim
            ),
        };
        Err(ArrayError::bad_field(&id, format!("{reason}{others}")))
    }

    /// Reads rows `start..start + count` into `out` (replacing its contents).
    pub fn read_rows(&self, start: usize, count: usize, out: &mut Vec<f32>) -> ArrayResult<()> {
        let dim = self.dim();
        let end = (start + count).min(self.rows());
        out.clear();
        match &self.source {
            Source::Memory(data) => out.extend_from_slice(&data[start * dim..end * dim]),
            Source::File(file) => {
                out.resize((end - start) * dim, 0.0);
                // SAFETY: as in f32_bytes; every bit pattern is a valid f32.
                let bytes = unsafe {
                    std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), out.len() * 4)
                };
                file.read_exact_at(bytes, HEADER_LEN + (start * dim * 4) as u64)
                    .map_err(|e| ArrayError::io(format!("reading {}", self.path.display()), e))?;
            }
        }
        Ok(())
    }

    /// The whole matrix, without a copy when it is already in memory.
    pub fn into_matrix(self) -> ArrayResult<Matrix> {
        let (rows, dim) = (self.rows(), self.dim());
        match self.source {
            Source::Memory(data) => Matrix::new(rows, dim, data),
            Source::File(_) => self.to_matrix(),
        }
    }

    /// The whole matrix.
    pub fn to_matrix(&self) -> ArrayResult<Matrix> {
        let mut data = Vec::new();
        self.read_rows(0, self.rows(), &mut data)?;
        Matrix::new(self.rows(), self.dim(), data)
    }
}
