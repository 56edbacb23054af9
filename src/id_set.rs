//! Many document ids kept in one string arena, for the commands that handle many ids at once
//! (`import`, `put`): [`IdSet`] (unique ids, each with a number: the input line it came
//! from) and [`IdList`] (ids in order, no lookups).
//!
//! One `String` per id would cost a malloc and a free per document; at 50,000 short
//! documents that was a large part of an import. Here every id is appended to one arena and
//! a `hashbrown::HashTable` of indexes hashes them out of it.

use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

/// Ids (unique) with a number each, in insertion order.
#[derive(Default)]
pub struct IdSet {
    arena: String,
    /// (start in the arena, length, number), by insertion order.
    spans: Vec<(usize, usize, u64)>,
    /// Indexes into `spans`, hashed by id.
    table: HashTable<usize>,
    hasher: DefaultHashBuilder,
}

impl IdSet {
    /// A set with room for `n` ids of about `id_len` bytes.
    pub fn with_capacity(n: usize, id_len: usize) -> IdSet {
        IdSet {
            arena: String::with_capacity(n.saturating_mul(id_len)),
            spans: Vec::with_capacity(n),
            table: HashTable::with_capacity(n),
            hasher: DefaultHashBuilder::default(),
        }
    }

    fn id_at(arena: &str, span: (usize, usize, u64)) -> &str {
        &arena[span.0..span.0 + span.1]
    }

    /// Adds `id` with number `n`. If it is already there, nothing changes and the number
    /// it was added with is returned.
    pub fn insert(&mut self, id: &str, n: u64) -> Option<u64> {
        let hash = self.hasher.hash_one(id);
        let (arena, spans) = (&self.arena, &self.spans);
        let entry = self.table.entry(
            hash,
            |&i| Self::id_at(arena, spans[i]) == id,
            |&i| self.hasher.hash_one(Self::id_at(arena, spans[i])),
        );
        match entry {
            Entry::Occupied(e) => Some(self.spans[*e.get()].2),
            Entry::Vacant(e) => {
                e.insert(self.spans.len());
                self.spans.push((self.arena.len(), id.len(), n));
                self.arena.push_str(id);
                None
            }
        }
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: &str) -> bool {
        let hash = self.hasher.hash_one(id);
        self.table
            .find(hash, |&i| Self::id_at(&self.arena, self.spans[i]) == id)
            .is_some()
    }

    /// Every id with its number, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> + '_ {
        self.spans
            .iter()
            .map(|&s| (Self::id_at(&self.arena, s), s.2))
    }
}

/// Ids in the order they were pushed (what an import has written, to undo it if needed).
#[derive(Default)]
pub struct IdList {
    arena: String,
    ends: Vec<usize>,
}

impl IdList {
    /// A list with room for `n` ids of about `id_len` bytes.
    pub fn with_capacity(n: usize, id_len: usize) -> IdList {
        IdList {
            arena: String::with_capacity(n.saturating_mul(id_len)),
            ends: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, id: &str) {
        self.arena.push_str(id);
        self.ends.push(self.arena.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Keeps only the first `len` ids.
    pub fn truncate(&mut self, len: usize) {
        if len < self.ends.len() {
            self.ends.truncate(len);
            self.arena.truncate(self.ends.last().copied().unwrap_or(0));
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts.zip(&self.ends).map(|(a, &b)| &self.arena[a..b])
    }

    /// The ids as a set (numbered by position), for lookups.
    pub fn to_set(&self) -> IdSet {
        let mut set = IdSet::with_capacity(self.len(), self.arena.len() / self.len().max(1));
        for (i, id) in self.iter().enumerate() {
            set.insert(id, i as u64);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_first_number_of_each_id() {
        let mut ids = IdSet::default();
        assert_eq!(ids.insert("a", 1), None);
        assert_eq!(ids.insert("bb", 2), None);
        assert_eq!(ids.insert("a", 3), Some(1));
        assert!(ids.contains("bb"));
        assert!(!ids.contains("b"));
        assert_eq!(ids.iter().collect::<Vec<_>>(), [("a", 1), ("bb", 2)]);
        // Enough ids to make the table grow (rehashing from the arena).
        for i in 0..10_000u64 {
            assert_eq!(ids.insert(&format!("id{i}"), i), None);
        }
        assert_eq!(ids.insert("id9999", 0), Some(9999));
        assert_eq!(ids.iter().count(), 10_002);
    }

    #[test]
    fn lists_keep_their_order() {
        let mut list = IdList::with_capacity(2, 4);
        for id in ["b", "a", "ccc", "a"] {
            list.push(id);
        }
        assert_eq!(list.iter().collect::<Vec<_>>(), ["b", "a", "ccc", "a"]);
        let set = list.to_set();
        assert_eq!(set.iter().count(), 3);
        assert!(set.contains("ccc"));
        list.truncate(1);
        assert_eq!(list.iter().collect::<Vec<_>>(), ["b"]);
        list.truncate(0);
        assert_eq!(list.len(), 0);
        assert_eq!(list.iter().count(), 0);
    }
}
