//! The bulk getters and setters of the original: `embeddings`, `blobs`, `texts`, `buffers`
//! and `tags`. A setter takes one value per document (a wrong count is an error and
//! nothing is written) or `None`, which removes the field from every document. Setters
//! save the store when done, so the values are on disk when they return.

use serde_json::{Map, Value};

use super::cache;
use super::error::{ArrayError, ArrayResult};
use super::matrix::{embedding_json, Matrix, NdArray};
use crate::DocumentArrayMemmap;

fn check_length(dam: &DocumentArrayMemmap, what: &'static str, found: usize) -> ArrayResult<()> {
    if found != dam.len() {
        return Err(ArrayError::LengthMismatch {
            what,
            expected: dam.len(),
            found,
        });
    }
    Ok(())
}

/// Sets (or, with `None`, removes) `field` of every document, then saves. `value(pos)` gives
/// the value of the document at `pos`.
fn set_all(
    dam: &mut DocumentArrayMemmap,
    field: &str,
    value: Option<&dyn Fn(usize) -> Value>,
) -> ArrayResult<()> {
    let ids: Vec<String> = dam.ids().map(str::to_owned).collect();
    for (pos, id) in ids.iter().enumerate() {
        match value {
            Some(value) => {
                let v = value(pos);
                dam.update_by_id(id, |d| d.set(field, v))??;
            }
            None => {
                dam.update_by_id(id, |d| d.remove(field))?;
            }
        }
    }
    dam.save()?;
    Ok(())
}

/// Every document's embedding as the rows of one matrix, read from the embeddings cache
/// (built or brought up to date first if needed). `None` when the store is empty or no
/// document has an embedding; an error names a document without one, or with one of a
/// different length, when only some have.
pub fn embeddings(dam: &mut DocumentArrayMemmap) -> ArrayResult<Option<Matrix>> {
    let cache = cache::load(dam, None)?;
    if cache.rows() == 0 || cache.is_empty() {
        return Ok(None);
    }
    cache.check_complete(dam)?;
    Ok(Some(cache.into_matrix()?))
}

/// The embeddings of the documents at positions `range` (the 2.1–2.4 original's
/// `_get_embeddings(slice)`), read from the cache without building the whole matrix.
pub fn embeddings_range(
    dam: &mut DocumentArrayMemmap,
    range: std::ops::Range<usize>,
) -> ArrayResult<Option<Matrix>> {
    let cache = cache::open(dam)?;
    if cache.rows() == 0 || cache.is_empty() {
        return Ok(None);
    }
    cache.check_complete(dam)?;
    let end = range.end.min(cache.rows());
    let start = range.start.min(end);
    let mut data = Vec::new();
    cache.read_rows(start, end - start, &mut data)?;
    Ok(Some(Matrix::new(end - start, cache.dim(), data)?))
}

/// Sets every document's embedding to its row of `matrix` (one row per document, in store
/// order), or removes every embedding with `None`.
pub fn set_embeddings(dam: &mut DocumentArrayMemmap, matrix: Option<&Matrix>) -> ArrayResult<()> {
    match matrix {
        None => set_all(dam, "embedding", None),
        Some(m) => {
            check_length(dam, "embeddings", m.rows())?;
            set_all(dam, "embedding", Some(&|pos| embedding_json(m.row(pos))))?;
            cache::store_known(dam, m)
        }
    }
}

/// Every document's blob stacked along a new first axis. `None` when the store is empty
/// or no document has a blob; an error when some have none or shapes differ.
pub fn blobs(dam: &DocumentArrayMemmap) -> ArrayResult<Option<NdArray>> {
    let mut shape: Option<Vec<usize>> = None;
    let mut data = Vec::new();
    let mut missing: Option<String> = None;
    for doc in dam.iter() {
        let doc = doc?;
        let blob = match doc.get("blob") {
            None | Some(Value::Null) => {
                missing.get_or_insert_with(|| doc.id().to_owned());
                continue;
            }
            Some(v) => NdArray::from_json(&v)
                .map_err(|why| ArrayError::bad_field(doc.id(), format!("\"blob\" {why}")))?,
        };
        match &shape {
            Some(s) if *s != blob.shape => {
                return Err(ArrayError::bad_field(
                    doc.id(),
                    format!(
                        "its blob has shape {:?}, the first blob's is {s:?}",
                        blob.shape
                    ),
                ))
            }
            Some(_) => {}
            None => shape = Some(blob.shape.clone()),
        }
        data.extend(blob.data);
    }
    match (shape, missing) {
        (None, _) => Ok(None),
        (Some(_), Some(id)) => Err(ArrayError::bad_field(&id, "has no blob")),
        (Some(s), None) => {
            let mut full = vec![dam.len()];
            full.extend(s);
            Ok(Some(NdArray::new(full, data)?))
        }
    }
}

/// Sets every document's blob to its slice of `array` along the first axis, or removes
/// every blob with `None`.
pub fn set_blobs(dam: &mut DocumentArrayMemmap, array: Option<&NdArray>) -> ArrayResult<()> {
    match array {
        None => set_all(dam, "blob", None),
        Some(a) => {
            let rows = a.shape.first().copied().ok_or_else(|| {
                ArrayError::InvalidArgument("blobs must have at least one dimension".into())
            })?;
            check_length(dam, "blobs", rows)?;
            set_all(dam, "blob", Some(&|pos| a.slice_first(pos).to_json()))
        }
    }
}

/// Every document's text (`""` for a document without one, as the original's default).
pub fn texts(dam: &DocumentArrayMemmap) -> ArrayResult<Vec<String>> {
    dam.iter()
        .map(|doc| {
            let doc = doc?;
            match doc.get("text") {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s),
                Some(_) => Err(ArrayError::bad_field(doc.id(), "\"text\" is not a string")),
            }
        })
        .collect()
}

/// Sets every document's text, or removes every text with `None`.
pub fn set_texts<S: AsRef<str>>(
    dam: &mut DocumentArrayMemmap,
    texts: Option<&[S]>,
) -> ArrayResult<()> {
    match texts {
        None => set_all(dam, "text", None),
        Some(t) => {
            check_length(dam, "texts", t.len())?;
            set_all(dam, "text", Some(&|pos| Value::from(t[pos].as_ref())))
        }
    }
}

/// Every document's tags (an empty object for a document without them, as the original's
/// default; the same values as `get_attributes(["tags"])` otherwise).
pub fn tags(dam: &DocumentArrayMemmap) -> ArrayResult<Vec<Map<String, Value>>> {
    dam.iter()
        .map(|doc| {
            let doc = doc?;
            match doc.get("tags") {
                None | Some(Value::Null) => Ok(Map::new()),
                Some(Value::Object(m)) => Ok(m),
                Some(_) => Err(ArrayError::bad_field(doc.id(), "\"tags\" is not an object")),
            }
        })
        .collect()
}

/// Sets every document's tags (replacing the object, as the original's `da.tags = [...]`),
/// or removes every document's tags with `None`.
pub fn set_tags(
    dam: &mut DocumentArrayMemmap,
    tags: Option<&[Map<String, Value>]>,
) -> ArrayResult<()> {
    match tags {
        None => set_all(dam, "tags", None),
        Some(t) => {
            check_length(dam, "tags", t.len())?;
            set_all(dam, "tags", Some(&|pos| Value::Object(t[pos].clone())))
        }
    }
}

/// Every document's buffer, decoded from the base64 of its `"buffer"` field (empty for a
/// document without one, as the original's default).
pub fn buffers(dam: &DocumentArrayMemmap) -> ArrayResult<Vec<Vec<u8>>> {
    dam.iter()
        .map(|doc| {
            let doc = doc?;
            match doc.get("buffer") {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(s)) => base64_decode(&s).ok_or_else(|| {
                    ArrayError::bad_field(doc.id(), "\"buffer\" is not valid base64")
                }),
                Some(_) => Err(ArrayError::bad_field(
                    doc.id(),
                    "\"buffer\" is not a string",
                )),
            }
        })
        .collect()
}

/// Sets every document's buffer (stored as base64, as the original's JSON), or removes
/// every buffer with `None`.
pub fn set_buffers<B: AsRef<[u8]>>(
    dam: &mut DocumentArrayMemmap,
    buffers: Option<&[B]>,
) -> ArrayResult<()> {
    match buffers {
        None => set_all(dam, "buffer", None),
        Some(b) => {
            check_length(dam, "buffers", b.len())?;
            set_all(
                dam,
                "buffer",
                Some(&|pos| Value::from(base64_encode(b[pos].as_ref()))),
            )
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (what protobuf's JSON writes for bytes).
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard or URL-safe base64, padded or not (protobuf's JSON parser accepts both).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::{base64_decode, base64_encode};

    #[test]
    fn base64_round_trips() {
        for (raw, text) in [
            (&b""[..], ""),
            (b"a", "YQ=="),
            (b"ab", "YWI="),
            (b"abc", "YWJj"),
        ] {
            assert_eq!(base64_encode(raw), text);
            assert_eq!(base64_decode(text).as_deref(), Some(raw));
        }
        assert_eq!(base64_decode("YQ"), Some(b"a".to_vec()));
        assert_eq!(base64_decode("Y!"), None);
    }
}
