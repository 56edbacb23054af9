//! The order a handle holds in memory: for each document, by position, its row's rank (the
//! table's order key), its text's length and its id; and a hash index from id to rank.
//!
//! Ids live in one arena (a length byte, then the bytes: ids are at most 255 bytes), so a
//! document costs 16 bytes of row, its id plus one byte of arena and ~10 bytes of index —
//! about 60 bytes for a 32-character id. The arena is compacted when more than half of it
//! is ids that were deleted or renamed away.

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

#[derive(Clone, Copy)]
struct Row {
    rank: i64,
    /// Where the id starts in the arena (its length byte).
    id_at: u32,
    len: u32,
}

#[derive(Default)]
pub struct Order {
    rows: Vec<Row>,
    arena: Vec<u8>,
    garbage: usize,
    by_id: HashTable<i64>,
    hasher: DefaultHashBuilder,
}

fn id_in(arena: &[u8], at: u32) -> &str {
    let at = at as usize;
    let n = arena[at] as usize;
    // Only whole ids are pushed into the arena, so the bytes are valid UTF-8.
    std::str::from_utf8(&arena[at + 1..at + 1 + n]).unwrap_or("")
}

/// Checks a row read from the table before it enters the order: only damfs writes the
/// tables, but a row written by hand with another client must give a clear error, not a
/// phantom document or a broken order. Gives the length, or why the row is not a document's.
pub fn checked_row(rank: i64, id: &str, len: i32) -> Result<u32, String> {
    let why = match crate::document::validate_id(id) {
        Err(e) => e.to_string(),
        Ok(()) => match u32::try_from(len) {
            Ok(len) => return Ok(len),
            Err(_) => format!("its len is {len}"),
        },
    };
    Err(format!(
        "the row of rank {rank} is not a damfs document ({why}); was the table written by \
         another client?"
    ))
}

fn position_in(rows: &[Row], rank: i64) -> Option<usize> {
    rows.binary_search_by_key(&rank, |r| r.rank).ok()
}

impl Order {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn heap_bytes(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<Row>()
            + self.arena.capacity()
            + self.by_id.capacity() * (std::mem::size_of::<i64>() + 1)
    }

    pub fn reserve(&mut self, n: usize) {
        self.rows.reserve(n);
        let hasher = &self.hasher;
        let (rows, arena) = (&self.rows, &self.arena);
        self.by_id.reserve(n, |&r| rehash(hasher, rows, arena, r));
    }

    /// Gives back the spare capacity of a bulk load.
    pub fn shrink(&mut self) {
        self.rows.shrink_to_fit();
        self.arena.shrink_to_fit();
        let hasher = &self.hasher;
        let (rows, arena) = (&self.rows, &self.arena);
        self.by_id
            .shrink_to_fit(|&r| rehash(hasher, rows, arena, r));
    }

    pub fn id_at(&self, pos: usize) -> Option<&str> {
        self.rows.get(pos).map(|r| id_in(&self.arena, r.id_at))
    }

    pub fn rank_at(&self, pos: usize) -> Option<i64> {
        self.rows.get(pos).map(|r| r.rank)
    }

    pub fn len_at(&self, pos: usize) -> Option<u32> {
        self.rows.get(pos).map(|r| r.len)
    }

    pub fn position_of_rank(&self, rank: i64) -> Option<usize> {
        position_in(&self.rows, rank)
    }

    /// The position of the document with this id.
    pub fn find(&self, id: &str) -> Option<usize> {
        let h = self.hasher.hash_one(id);
        let (rows, arena) = (&self.rows, &self.arena);
        let rank = self.by_id.find(h, |&r| {
            position_in(rows, r).is_some_and(|p| id_in(arena, rows[p].id_at) == id)
        })?;
        position_in(rows, *rank)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.rows.iter().map(|r| id_in(&self.arena, r.id_at))
    }

    /// Ranks with their ids, in order (for re-reading a stretch of the table).
    pub fn ranks_in(&self, lo: i64, hi: i64) -> std::ops::Range<usize> {
        let start = self.rows.partition_point(|r| r.rank < lo);
        let end = self.rows.partition_point(|r| r.rank <= hi);
        start..end
    }

    fn push_id(&mut self, id: &str) -> u32 {
        let at = self.arena.len() as u32;
        self.arena.push(id.len() as u8);
        self.arena.extend_from_slice(id.as_bytes());
        at
    }

    /// Adds a row (at its place by rank; at the end in the common case). The id must be new.
    pub fn insert(&mut self, rank: i64, id: &str, len: u32) {
        debug_assert!(id.len() <= 255 && self.find(id).is_none());
        let id_at = self.push_id(id);
        let row = Row { rank, id_at, len };
        match self.rows.last() {
            Some(last) if last.rank >= rank => {
                let p = self.rows.partition_point(|r| r.rank < rank);
                self.rows.insert(p, row);
            }
            _ => self.rows.push(row),
        }
        let h = self.hasher.hash_one(id);
        let hasher = &self.hasher;
        let (rows, arena) = (&self.rows, &self.arena);
        self.by_id
            .insert_unique(h, rank, |&r| rehash(hasher, rows, arena, r));
    }

    /// Removes the row with this rank; returns its id.
    pub fn remove_rank(&mut self, rank: i64) -> Option<String> {
        let p = position_in(&self.rows, rank)?;
        let id = id_in(&self.arena, self.rows[p].id_at).to_owned();
        self.unindex(&id, rank);
        self.garbage += id.len() + 1;
        self.rows.remove(p);
        self.compact_if_worth_it();
        Some(id)
    }

    /// Removes rows by position (each once), in one pass.
    pub fn remove_positions(&mut self, positions: &[usize]) {
        let mut gone = vec![false; self.rows.len()];
        for &p in positions {
            if let Some(g) = gone.get_mut(p) {
                *g = true;
            }
        }
        for (p, row) in self.rows.iter().enumerate() {
            if gone[p] {
                let id = id_in(&self.arena, row.id_at);
                let h = self.hasher.hash_one(id);
                if let Ok(e) = self.by_id.find_entry(h, |&r| r == row.rank) {
                    e.remove();
                }
                self.garbage += id.len() + 1;
            }
        }
        let mut p = 0;
        self.rows.retain(|_| {
            p += 1;
            !gone[p - 1]
        });
        self.compact_if_worth_it();
    }

    fn unindex(&mut self, id: &str, rank: i64) {
        let h = self.hasher.hash_one(id);
        if let Ok(e) = self.by_id.find_entry(h, |&r| r == rank) {
            e.remove();
        }
    }

    /// Gives the row with this rank a new id and length (a rename, or another writer's
    /// change taken in).
    pub fn set_row(&mut self, rank: i64, id: &str, len: u32) {
        let Some(p) = position_in(&self.rows, rank) else {
            return self.insert(rank, id, len);
        };
        self.rows[p].len = len;
        let old = id_in(&self.arena, self.rows[p].id_at);
        if old == id {
            return;
        }
        let old = old.to_owned();
        self.unindex(&old, rank);
        self.garbage += old.len() + 1;
        self.rows[p].id_at = self.push_id(id);
        let h = self.hasher.hash_one(id);
        let hasher = &self.hasher;
        let (rows, arena) = (&self.rows, &self.arena);
        self.by_id
            .insert_unique(h, rank, |&r| rehash(hasher, rows, arena, r));
        self.compact_if_worth_it();
    }

    pub fn set_len(&mut self, rank: i64, len: u32) {
        if let Some(p) = position_in(&self.rows, rank) {
            self.rows[p].len = len;
        }
    }

    fn compact_if_worth_it(&mut self) {
        if self.garbage < 1 << 16 || self.garbage * 2 < self.arena.len() {
            return;
        }
        let mut arena = Vec::with_capacity(self.arena.len() - self.garbage);
        for row in &mut self.rows {
            let at = row.id_at as usize;
            let n = self.arena[at] as usize + 1;
            row.id_at = arena.len() as u32;
            arena.extend_from_slice(&self.arena[at..at + n]);
        }
        self.arena = arena;
        self.garbage = 0;
    }
}

fn rehash(hasher: &DefaultHashBuilder, rows: &[Row], arena: &[u8], rank: i64) -> u64 {
    match position_in(rows, rank) {
        Some(p) => hasher.hash_one(id_in(arena, rows[p].id_at)),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_ids_and_ranks_stay_in_step() {
        let mut o = Order::new();
        for i in 0..1000i64 {
            o.insert(i * 2 + 1, &format!("d{i}"), i as u32);
        }
        assert_eq!(o.find("d500"), Some(500));
        assert_eq!(o.remove_rank(3).as_deref(), Some("d1"));
        assert_eq!(o.find("d1"), None);
        assert_eq!(o.find("d500"), Some(499));
        o.set_row(5, "renamed", 9);
        assert_eq!(o.find("d2"), None);
        assert_eq!(o.find("renamed"), Some(1));
        o.insert(4, "between", 1);
        assert_eq!(o.id_at(1), Some("between"));
        o.remove_positions(&(0..900).collect::<Vec<_>>());
        assert_eq!(o.len(), 100);
        assert_eq!(o.id_at(0), Some("d900"));
        assert_eq!(o.find("d999"), Some(99));
        assert_eq!(o.find("d5"), None);
    }
}
