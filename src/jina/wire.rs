//! The C++ protobuf parser (what jina 2.6.4 uses) treats a known field that arrives with
//! another wire type as an unknown field and skips it; `prost` refuses the whole record.
//! Older jina versions wrote such fields (jina 2.0–2.2 had `offset` as `uint32`, a varint,
//! where docarray's schema has a `float`), so before decoding, fields whose wire type does
//! not match the schema are dropped, at every nesting level, as the original would.
//!
//! The C++ parser also ends a top-level message at a zero tag or an end-group tag, keeping
//! the fields before it (Python's binding only warns "Unexpected end-group tag: Not all data
//! was converted"); inside a nested message either is an error. The original's own bugs
//! leave such records: after an update, a reopen and an append (jina-dam-notes B5) the
//! updated record is overwritten by a shorter one, and its entry reads that record and then
//! whatever bytes of the old one follow, up to the first such tag.

use std::borrow::Cow;

/// The message types of the schema.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Msg {
    Document,
    NdArray,
    Dense,
    Sparse,
    Score,
    ScoreEntry,
    Struct,
    StructEntry,
    Value,
    List,
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const GROUP_START: u8 = 3;
const GROUP_END: u8 = 4;
const FIXED32: u8 = 5;

/// What a field of a message type expects: its wire type, whether it is a packable repeated
/// scalar (then LEN is accepted too), and the message type it holds.
fn expected(msg: Msg, tag: u64) -> Option<(u8, bool, Option<Msg>)> {
    use Msg::*;
    let s = |w| Some((w, false, None));
    let m = |t| Some((LEN, false, Some(t)));
    match (msg, tag) {
        (Document, 1 | 3 | 9 | 10 | 13 | 16 | 21) => s(LEN),
        (Document, 4 | 8) => m(Document),
        (Document, 5 | 18) => s(FIXED32),
        (Document, 11) => m(Struct),
        (Document, 12 | 19) => m(NdArray),
        (Document, 14 | 22) => s(VARINT),
        (Document, 17) => Some((FIXED32, true, None)),
        (Document, 28 | 29) => m(ScoreEntry),
        (NdArray, 1) => m(Dense),
        (NdArray, 2) => m(Sparse),
        (NdArray, 3) => s(LEN),
        (NdArray, 4) => m(Struct),
        (Dense, 1 | 3) => s(LEN),
        (Dense, 2) | (Sparse, 3) => Some((VARINT, true, None)),
        (Sparse, 1 | 2) => m(Dense),
        (Score, 1) => s(FIXED32),
        (Score, 2 | 3 | 5) => s(LEN),
        (Score, 4) => m(Score),
        (ScoreEntry, 1) | (StructEntry, 1) => s(LEN),
        (ScoreEntry, 2) => m(Score),
        (Struct, 1) => m(StructEntry),
        (StructEntry, 2) | (List, 1) => m(Value),
        (Value, 1 | 4) => s(VARINT),
        (Value, 2) => s(FIXED64),
        (Value, 3) => s(LEN),
        (Value, 5) => m(Struct),
        (Value, 6) => m(List),
        _ => None,
    }
}

fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Skips the value of a field with this wire type; `None` when the bytes end early or are
/// not protobuf (then the decoder reports it).
fn skip(b: &[u8], at: &mut usize, wire: u8, depth: u32) -> Option<()> {
    match wire {
        VARINT => varint(b, at).map(|_| ()),
        FIXED64 => (*at + 8 <= b.len()).then(|| *at += 8),
        FIXED32 => (*at + 4 <= b.len()).then(|| *at += 4),
        LEN => {
            let n = usize::try_from(varint(b, at)?).ok()?;
            (n <= b.len() - *at).then(|| *at += n)
        }
        GROUP_START if depth < 100 => loop {
            let key = varint(b, at)?;
            match (key & 7) as u8 {
                GROUP_END => return Some(()),
                w => skip(b, at, w, depth + 1)?,
            }
        },
        _ => None,
    }
}

/// Where the original's parser stops reading a record: at its first top-level zero tag or
/// end-group tag, else at its end (also when the bytes are malformed: the decoder reports it).
pub fn message_end(record: &[u8]) -> usize {
    let mut at = 0;
    while at < record.len() {
        let start = at;
        let Some(key) = varint(record, &mut at) else {
            return record.len();
        };
        let wire = (key & 7) as u8;
        if key == 0 || wire == GROUP_END {
            return start;
        }
        if skip(record, &mut at, wire, 0).is_none() {
            return record.len();
        }
    }
    record.len()
}

/// The record without the fields the original would skip for their wire type. Borrowed when
/// nothing is dropped (the usual case); on malformed bytes, given back as they are for the
/// decoder to report.
pub fn strip_mismatched(record: &[u8]) -> Cow<'_, [u8]> {
    match clean(record, Msg::Document, 0) {
        Some(Some(cleaned)) => Cow::Owned(cleaned),
        _ => Cow::Borrowed(record),
    }
}

/// `Some(None)`: nothing to drop; `Some(Some(bytes))`: the cleaned message; `None`: not
/// well-formed.
fn clean(b: &[u8], msg: Msg, depth: u32) -> Option<Option<Vec<u8>>> {
    if depth > 100 {
        return None;
    }
    let mut out: Option<Vec<u8>> = None;
    let mut at = 0;
    while at < b.len() {
        let start = at;
        let key = varint(b, &mut at)?;
        let (tag, wire) = (key >> 3, (key & 7) as u8);
        let want = expected(msg, tag);
        let mismatched = match want {
            Some((w, packable, _)) => wire != w && !(packable && wire == LEN),
            None => false,
        };
        if mismatched {
            skip(b, &mut at, wire, depth)?;
            out.get_or_insert_with(|| b[..start].to_vec());
            continue;
        }
        if let (Some((LEN, _, Some(inner))), LEN) = (want, wire) {
            let n = usize::try_from(varint(b, &mut at)?).ok()?;
            if n > b.len() - at {
                return None;
            }
            let payload = &b[at..at + n];
            at += n;
            match clean(payload, inner, depth + 1)? {
                Some(cleaned) => {
                    let o = out.get_or_insert_with(|| b[..start].to_vec());
                    put_varint(key, o);
                    put_varint(cleaned.len() as u64, o);
                    o.extend_from_slice(&cleaned);
                }
                None => {
                    if let Some(o) = out.as_mut() {
                        o.extend_from_slice(&b[start..at]);
                    }
                }
            }
            continue;
        }
        skip(b, &mut at, wire, depth)?;
        if let Some(o) = out.as_mut() {
            o.extend_from_slice(&b[start..at]);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_varint_offset_is_dropped_and_the_rest_kept() {
        // id "x", offset (18) as a varint 7, text (13) "t"
        let rec = b"\x0a\x01x\x90\x01\x07\x6a\x01t";
        assert_eq!(&*strip_mismatched(rec), b"\x0a\x01x\x6a\x01t");
        // Nested in a chunk (4): the chunk's length is rewritten.
        let rec = b"\x22\x06\x0a\x01c\x90\x01\x07";
        assert_eq!(&*strip_mismatched(rec), b"\x22\x03\x0a\x01c");
        // Nothing to drop: borrowed as is.
        let ok = b"\x0a\x01x\x6a\x01t";
        assert!(matches!(strip_mismatched(ok), Cow::Borrowed(_)));
    }

    #[test]
    fn a_top_level_zero_or_end_group_tag_ends_the_record() {
        assert_eq!(message_end(b"\x0a\x01x\x0c\xff\xff"), 3);
        assert_eq!(message_end(b"\x0a\x01x\x6c"), 3);
        assert_eq!(message_end(b"\x0a\x01x\x00\x6a"), 3);
        assert_eq!(message_end(b"\x0c\x0a\x01x"), 0);
        // Inside a chunk it is no end: the whole record is handed on (and refused).
        assert_eq!(message_end(b"\x22\x01\x0c\x6a\x01t"), 6);
        // A group of an unknown field is skipped whole, its end-group tag included.
        assert_eq!(message_end(b"\x53\x08\x01\x54\x6a\x01t"), 7);
    }
}
