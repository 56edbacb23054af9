//! `header.bin`: fixed-size entries with no file header. Each entry is numpy's structured
//! dtype `[('', '<U36'), ('', '<i8'), ('', '<i8'), ('', '<i8')]`: the id as UTF-32LE padded
//! with NULs (truncated to `key_length` characters), then `p`, `r` and `r + l`. The record is
//! `body.bin[p + r .. p + r + l]`; `p = r = r + l = -1` is a tombstone.

/// The original's default `key_length`.
pub const KEY_LENGTH: usize = 36;

/// Bytes per entry for a key length (168 for 36).
pub fn entry_size(key_length: usize) -> usize {
    24 + 4 * key_length
}

/// The original's page granularity for `p` (`mmap.ALLOCATIONGRANULARITY` on Linux).
pub const PAGE: u64 = 4096;

/// One decoded entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The id as numpy reads it back: trailing NULs removed.
    pub key: String,
    pub p: i64,
    pub r: i64,
    pub r_plus_l: i64,
}

impl Entry {
    /// `(p, r, r+l) == (-1, -1, -1)`: deleted.
    pub fn is_tombstone(&self) -> bool {
        self.p == -1 && self.r == -1 && self.r_plus_l == -1
    }

    /// The record's byte range in `body.bin`, if the numbers make one inside `body_len`.
    pub fn range(&self, body_len: u64) -> Result<(u64, u64), String> {
        let (p, r, rl) = (self.p, self.r, self.r_plus_l);
        if p < 0 || r < 0 || rl < r {
            return Err(format!(
                "its header entry (p={p}, r={r}, r+l={rl}) does not describe a record"
            ));
        }
        let start = (p as u64).checked_add(r as u64);
        let end = (p as u64).checked_add(rl as u64);
        match (start, end) {
            (Some(start), Some(end)) if end <= body_len => Ok((start, end - start)),
            _ => Err(format!(
                "its record (bytes {}..{} of body.bin) goes past the end of body.bin \
                 ({body_len} bytes)",
                p.saturating_add(r),
                p.saturating_add(rl)
            )),
        }
    }
}

/// Decodes one entry of `entry_size(key_length)` bytes.
pub fn decode_entry(bytes: &[u8], key_length: usize) -> Result<Entry, String> {
    let key_bytes = &bytes[..4 * key_length];
    let mut units: Vec<u32> = key_bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    while units.last() == Some(&0) {
        units.pop();
    }
    let key: Option<String> = units.iter().map(|&u| char::from_u32(u)).collect();
    let key = key.ok_or_else(|| "its key in header.bin is not valid UTF-32".to_owned())?;
    let int_at = |i: usize| {
        let at = 4 * key_length + 8 * i;
        let mut a = [0u8; 8];
        a.copy_from_slice(&bytes[at..at + 8]);
        i64::from_le_bytes(a)
    };
    Ok(Entry {
        key,
        p: int_at(0),
        r: int_at(1),
        r_plus_l: int_at(2),
    })
}

/// Appends the entry for a record of `len` bytes at `start` in body.bin, as the original
/// writes it: the key truncated to `key_length` characters, `p` page-aligned.
pub fn encode_entry(key: &str, start: u64, len: u64, key_length: usize, out: &mut Vec<u8>) {
    let mut n = 0;
    for c in key.chars().take(key_length) {
        out.extend_from_slice(&(c as u32).to_le_bytes());
        n += 1;
    }
    out.resize(out.len() + 4 * (key_length - n), 0);
    let p = start / PAGE * PAGE;
    let r = start % PAGE;
    for v in [p, r, r + len] {
        out.extend_from_slice(&(v as i64).to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_truncate_keys() {
        let mut buf = Vec::new();
        encode_entry("é😀", 5000, 30, KEY_LENGTH, &mut buf);
        assert_eq!(buf.len(), 168);
        let e = decode_entry(&buf, KEY_LENGTH).unwrap();
        assert_eq!(
            (e.key.as_str(), e.p, e.r, e.r_plus_l),
            ("é😀", 4096, 904, 934)
        );
        assert_eq!(e.range(10_000), Ok((5000, 30)));
        assert!(e.range(5010).is_err());
        buf.clear();
        let long = "a".repeat(40);
        encode_entry(&long, 0, 1, KEY_LENGTH, &mut buf);
        assert_eq!(decode_entry(&buf, KEY_LENGTH).unwrap().key, "a".repeat(36));
    }
}
