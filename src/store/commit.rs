//! Commit records: where a version-2 index says how much of itself and of the body a save
//! made durable.
//!
//! ```text
//! two records, at offsets 512 and 1024 of index.dam (each in its own disk sector, so a torn
//! write of one never harms the other), 40 bytes each, little-endian:
//!   magic      [4]  "CMIT"
//!   crc32      u32  of bytes 8..40
//!   seq        u64  one more at each save; the valid record with the highest seq counts
//!   generation u64  the index's generation
//!   index_len  u64  the index bytes that are durable (a batch boundary)
//!   body_len   u64  the body bytes that are durable
//! ```
//!
//! A save writes its batch and fsyncs, then writes the next record into the other slot
//! (`seq % 2`) and fsyncs again, like LMDB's two meta pages. A crash while writing a record
//! leaves the other one intact, naming the previous save. So everything before `index_len`
//! (and `body_len`) was made durable by a save that returned, or is about to return: damage
//! or truncation there is corruption, never a crash's torn tail.

use std::path::Path;

use super::io::StoreFile;

use super::format::{le4, le8};
use crate::error::{Error, Result};

pub const COMMIT_SLOTS: [u64; 2] = [512, 1024];
pub const COMMIT_LEN: usize = 40;
const COMMIT_MAGIC: [u8; 4] = *b"CMIT";

/// What a save made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commit {
    pub seq: u64,
    pub index_len: u64,
    pub body_len: u64,
}

pub fn encode(c: &Commit, generation: u64) -> [u8; COMMIT_LEN] {
    let mut r = [0u8; COMMIT_LEN];
    r[0..4].copy_from_slice(&COMMIT_MAGIC);
    r[8..16].copy_from_slice(&c.seq.to_le_bytes());
    r[16..24].copy_from_slice(&generation.to_le_bytes());
    r[24..32].copy_from_slice(&c.index_len.to_le_bytes());
    r[32..40].copy_from_slice(&c.body_len.to_le_bytes());
    let crc = crc32fast::hash(&r[8..]);
    r[4..8].copy_from_slice(&crc.to_le_bytes());
    r
}

fn decode(r: &[u8], generation: u64) -> Option<Commit> {
    let r = r.get(..COMMIT_LEN)?;
    if r[0..4] != COMMIT_MAGIC || u32::from_le_bytes(le4(&r[4..8])) != crc32fast::hash(&r[8..]) {
        return None;
    }
    if u64::from_le_bytes(le8(&r[16..24])) != generation {
        return None;
    }
    Some(Commit {
        seq: u64::from_le_bytes(le8(&r[8..16])),
        index_len: u64::from_le_bytes(le8(&r[24..32])),
        body_len: u64::from_le_bytes(le8(&r[32..40])),
    })
}

/// The latest valid commit record in the first bytes of an index (at least up to the end of
/// the second record). Neither valid is damage: a save only ever writes one of them.
pub fn latest(path: &Path, head: &[u8], generation: u64) -> Result<Commit> {
    let read = |at: u64| {
        head.get(at as usize..at as usize + COMMIT_LEN)
            .and_then(|r| decode(r, generation))
    };
    match (read(COMMIT_SLOTS[0]), read(COMMIT_SLOTS[1])) {
        (Some(a), Some(b)) => Ok(if b.seq > a.seq { b } else { a }),
        (Some(a), None) | (None, Some(a)) => Ok(a),
        (None, None) => Err(Error::Corrupt {
            file: path.to_owned(),
            offset: COMMIT_SLOTS[0],
            reason: "both commit records are damaged (or the file is cut short)".into(),
        }),
    }
}

/// Reads the latest commit record from an open index file.
pub fn read(file: &StoreFile, path: &Path, generation: u64) -> Result<Commit> {
    let mut head = vec![0u8; (COMMIT_SLOTS[1] as usize) + COMMIT_LEN];
    let n = read_prefix(file, &mut head)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    head.truncate(n);
    latest(path, &head, generation)
}

fn read_prefix(file: &StoreFile, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(records: &[(usize, Commit)]) -> Vec<u8> {
        let mut h = vec![0u8; 1536];
        for &(slot, c) in records {
            let at = COMMIT_SLOTS[slot] as usize;
            h[at..at + COMMIT_LEN].copy_from_slice(&encode(&c, 3));
        }
        h
    }

    fn c(seq: u64) -> Commit {
        Commit {
            seq,
            index_len: 1536 + seq * 10,
            body_len: 32 + seq,
        }
    }

    #[test]
    fn the_highest_valid_record_counts() {
        let p = Path::new("index.dam");
        assert_eq!(latest(p, &head(&[(0, c(4)), (1, c(5))]), 3).unwrap(), c(5));
        assert_eq!(latest(p, &head(&[(0, c(6)), (1, c(5))]), 3).unwrap(), c(6));
        // A torn record falls back to the other one.
        let mut h = head(&[(0, c(6)), (1, c(5))]);
        h[512 + 30] ^= 1;
        assert_eq!(latest(p, &h, 3).unwrap(), c(5));
        // Another generation's record is not this index's.
        assert!(latest(p, &head(&[(0, c(1))]), 4).is_err());
        assert!(latest(p, &[0u8; 600], 3).is_err());
    }
}
