//! Directory offsets that survive changes between two batches of one listing.
//!
//! An offset names the next entry to return, not its index. In `/by-id/` a document is
//! named by its position and a 32-bit hash of its id: resuming looks for that id near its
//! old position, so deletes before it (which shift positions) neither skip nor repeat an
//! entry. In `/` the names *are* positions, and a delete removes only the last one: there
//! the position alone is the right offset. A temporary is named by its inode number.
//! Offsets stay below 2^63: the kernel keeps them in a signed `loff_t`.

use super::nodes::fnv1a;
use super::types::Ino;
use super::view::View;

const DOC: u64 = 1 << 62;
const TEMP: u64 = 1 << 61;
const END: u64 = 1 << 60;
const POS_BITS: u32 = 29;
/// How far from its old position a document is looked for (deletes between two batches).
const SEARCH: usize = 4096;

/// Where a listing stands: the entry to return next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// A fixed entry (`.`, `..`, `by-id`, control files), by index.
    Fixed(usize),
    /// A document, by position.
    Doc(usize),
    /// A temporary, by index in the inode-ordered list.
    Temp(usize),
    End,
}

impl Cursor {
    /// The entry after this one.
    pub fn next(self, nfixed: usize, ndocs: usize, ntemps: usize) -> Cursor {
        let docs_from = |p: usize| {
            if p < ndocs {
                Cursor::Doc(p)
            } else if ntemps > 0 {
                Cursor::Temp(0)
            } else {
                Cursor::End
            }
        };
        match self {
            Cursor::Fixed(i) if i + 1 < nfixed => Cursor::Fixed(i + 1),
            Cursor::Fixed(_) => docs_from(0),
            Cursor::Doc(p) => docs_from(p + 1),
            Cursor::Temp(i) if i + 1 < ntemps => Cursor::Temp(i + 1),
            Cursor::Temp(_) | Cursor::End => Cursor::End,
        }
    }
}

fn id_hash(id: &str) -> u64 {
    fnv1a(id) & 0xffff_ffff
}

pub struct Cookie;

impl Cookie {
    /// The offset that resumes at `at`; `id_at` gives the id at a document position.
    /// `by_id`: documents are named by id (else by position).
    pub fn of<'a>(
        at: Cursor,
        by_id: bool,
        id_at: impl Fn(usize) -> Option<&'a str>,
        temps: &[(Ino, String)],
    ) -> u64 {
        match at {
            Cursor::Fixed(i) => i as u64,
            Cursor::Doc(p) if !by_id => DOC | ((p as u64) << 32),
            Cursor::Doc(p) => match id_at(p) {
                Some(id) if (p as u64) < (1 << POS_BITS) => DOC | ((p as u64) << 32) | id_hash(id),
                // Beyond what the offset can name: plain index from here on.
                _ => DOC | (((p as u64) & ((1 << POS_BITS) - 1)) << 32),
            },
            Cursor::Temp(i) => TEMP | temps.get(i).map_or(0, |(ino, _)| *ino),
            Cursor::End => END,
        }
    }

    /// Where a listing resumes from `offset` (0 is the start).
    pub fn resume(
        offset: u64,
        nfixed: usize,
        by_id: bool,
        view: &View,
        temps: &[(Ino, String)],
    ) -> Cursor {
        let ndocs = view.len();
        let after_docs = || {
            if temps.is_empty() {
                Cursor::End
            } else {
                Cursor::Temp(0)
            }
        };
        if offset < nfixed as u64 {
            return Cursor::Fixed(offset as usize);
        }
        if offset & DOC != 0 {
            let pos = ((offset >> 32) & ((1 << POS_BITS) - 1)) as usize;
            let hash = offset & 0xffff_ffff;
            let found = by_id.then(|| {
                (0..=SEARCH).find_map(|d| {
                    [pos.checked_sub(d), pos.checked_add(d).filter(|_| d > 0)]
                        .into_iter()
                        .flatten()
                        .find(|&q| q < ndocs && view.id_at(q).is_some_and(|id| id_hash(id) == hash))
                })
            });
            // Not found: the next document itself was removed; what followed it is now
            // at (about) its old position.
            let p = found.flatten().unwrap_or(pos);
            return if p < ndocs {
                Cursor::Doc(p)
            } else {
                after_docs()
            };
        }
        if offset & TEMP != 0 {
            let ino = offset & !TEMP;
            return match temps.iter().position(|(t, _)| *t >= ino) {
                Some(i) => Cursor::Temp(i),
                None => Cursor::End,
            };
        }
        Cursor::End
    }
}
