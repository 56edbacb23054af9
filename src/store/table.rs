//! The in-memory lookup table: for every live document its id, where its text is, and its
//! position. This is all a store keeps per document, so it is packed:
//!
//! - ids live in one byte arena (`[len:u8][bytes]`), no allocation per document;
//! - a slot is 24 bytes (arena offset, body offset, length, checksum);
//! - the position order is a `Vec<u32>` of slot numbers (4 bytes);
//! - the id → slot map is a `hashbrown::HashTable<u32>` that hashes ids out of the arena
//!   (about 4.6–9 bytes per document depending on load).
//!
//! So a document with a 32-byte id costs about 24 + 4 + 33 + ~8 ≈ 69 bytes.

use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

use super::format::Loc;

/// A slot number: stable for a document while the table lives (renames keep it).
pub type SlotNo = u32;

const DEAD: u64 = u64::MAX;

#[derive(Clone, Copy)]
struct Slot {
    id_at: u64,
    offset: u64,
    len: u32,
    crc: u32,
}

/// A point in a table's history (see [`Table::mark`]).
pub struct Mark {
    slots: usize,
    order: usize,
    arena: usize,
}

#[derive(Default)]
pub struct Table {
    arena: Vec<u8>,
    slots: Vec<Slot>,
    order: Vec<SlotNo>,
    map: HashTable<SlotNo>,
    hasher: DefaultHashBuilder,
    live_body: u64,
    live_ids: u64,
}

impl Table {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Bytes of body text the live documents use.
    pub fn live_body_bytes(&self) -> u64 {
        self.live_body
    }

    /// Sum of the live ids' lengths.
    pub fn live_id_bytes(&self) -> u64 {
        self.live_ids
    }

    /// Bytes this table holds on the heap (what the store costs in memory, pool excluded).
    pub fn heap_bytes(&self) -> usize {
        self.arena.capacity()
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.order.capacity() * 4
            + self.map.allocation_size()
    }

    /// The id bytes at an arena offset (compared and hashed as bytes: no UTF-8 check on the
    /// hot path).
    fn id_bytes(arena: &[u8], at: u64) -> &[u8] {
        let at = at as usize;
        let n = arena[at] as usize;
        &arena[at + 1..at + 1 + n]
    }

    fn id_at(arena: &[u8], at: u64) -> &str {
        // Ids enter the arena only as &str, so the bytes are UTF-8.
        std::str::from_utf8(Self::id_bytes(arena, at)).unwrap_or("")
    }

    /// Makes room for `additional` more documents without regrowing (and rehashing).
    pub fn reserve(&mut self, additional: usize, id_bytes: usize) {
        self.arena.reserve(id_bytes);
        self.slots.reserve(additional);
        self.order.reserve(additional);
        let (arena, slots, hasher) = (&self.arena, &self.slots, &self.hasher);
        self.map.reserve(additional, |&s| {
            hasher.hash_one(Self::id_bytes(arena, slots[s as usize].id_at))
        });
    }

    /// Gives back spare capacity (after loading, when the final size is known).
    pub fn shrink_to_fit(&mut self) {
        self.arena.shrink_to_fit();
        self.slots.shrink_to_fit();
        self.order.shrink_to_fit();
        let (arena, slots, hasher) = (&self.arena, &self.slots, &self.hasher);
        self.map
            .shrink_to_fit(|&s| hasher.hash_one(Self::id_bytes(arena, slots[s as usize].id_at)));
    }

    pub fn id(&self, slot: SlotNo) -> &str {
        Self::id_at(&self.arena, self.slots[slot as usize].id_at)
    }

    pub fn loc(&self, slot: SlotNo) -> Loc {
        let s = &self.slots[slot as usize];
        Loc {
            offset: s.offset,
            len: s.len,
            crc: s.crc,
        }
    }

    /// The slot of the document at `pos`.
    pub fn at(&self, pos: usize) -> Option<SlotNo> {
        self.order.get(pos).copied()
    }

    /// Slots in position order.
    pub fn order(&self) -> &[SlotNo] {
        &self.order
    }

    pub fn find(&self, id: &str) -> Option<SlotNo> {
        let id = id.as_bytes();
        let hash = self.hasher.hash_one(id);
        let (arena, slots) = (&self.arena, &self.slots);
        self.map
            .find(hash, |&s| {
                Self::id_bytes(arena, slots[s as usize].id_at) == id
            })
            .copied()
    }

    /// Position of a slot (a scan: positions are not kept per slot).
    pub fn position(&self, slot: SlotNo) -> Option<usize> {
        self.order.iter().position(|&s| s == slot)
    }

    fn push_id(&mut self, id: &str) -> u64 {
        let at = self.arena.len() as u64;
        self.arena.push(id.len() as u8);
        self.arena.extend_from_slice(id.as_bytes());
        at
    }

    fn map_insert(&mut self, id: &str, slot: SlotNo) {
        let id = id.as_bytes();
        let hash = self.hasher.hash_one(id);
        let (arena, slots, hasher) = (&self.arena, &self.slots, &self.hasher);
        match self.map.entry(
            hash,
            |&s| Self::id_bytes(arena, slots[s as usize].id_at) == id,
            |&s| hasher.hash_one(Self::id_bytes(arena, slots[s as usize].id_at)),
        ) {
            Entry::Occupied(mut e) => *e.get_mut() = slot,
            Entry::Vacant(e) => {
                e.insert(slot);
            }
        }
    }

    fn map_remove(&mut self, id: &str) {
        let id = id.as_bytes();
        let hash = self.hasher.hash_one(id);
        let (arena, slots) = (&self.arena, &self.slots);
        if let Ok(e) = self.map.find_entry(hash, |&s| {
            Self::id_bytes(arena, slots[s as usize].id_at) == id
        }) {
            e.remove();
        }
    }

    /// Adds a new document at the end. The caller has checked that `id` is absent (if it is
    /// not, the existing document keeps its place and its slot is returned).
    pub fn push(&mut self, id: &str, loc: Loc) -> SlotNo {
        let next = self.slots.len() as SlotNo;
        if self.push_new(id, loc) {
            next
        } else {
            self.find(id).unwrap_or(next)
        }
    }

    /// Where the table ends now, for [`Table::since`] and [`Table::rollback`].
    pub fn mark(&self) -> Mark {
        Mark {
            slots: self.slots.len(),
            order: self.order.len(),
            arena: self.arena.len(),
        }
    }

    /// Ids and locations of the documents pushed since `mark` (all still live: nothing but
    /// pushes happens between a mark and its use).
    pub fn since<'a>(&'a self, mark: &Mark) -> impl Iterator<Item = (&'a str, Loc)> + 'a {
        (mark.slots..self.slots.len()).map(|s| (self.id(s as SlotNo), self.loc(s as SlotNo)))
    }

    /// Undoes every push since `mark`.
    pub fn rollback(&mut self, mark: Mark) {
        for s in (mark.slots..self.slots.len()).rev() {
            let id = self.id(s as SlotNo).to_owned();
            self.map_remove(&id);
            self.live_body -= u64::from(self.slots[s].len);
            self.live_ids -= id.len() as u64;
        }
        self.slots.truncate(mark.slots);
        self.order.truncate(mark.order);
        self.arena.truncate(mark.arena);
    }

    /// Points a slot at new text.
    pub fn set_loc(&mut self, slot: SlotNo, loc: Loc) {
        let s = &mut self.slots[slot as usize];
        self.live_body = self.live_body - u64::from(s.len) + u64::from(loc.len);
        s.offset = loc.offset;
        s.len = loc.len;
        s.crc = loc.crc;
    }

    /// Gives a slot a new id (the caller has checked `to` is absent). Position is kept.
    pub fn rename(&mut self, slot: SlotNo, to: &str) {
        let from = self.id(slot).to_owned();
        self.map_remove(&from);
        let id_at = self.push_id(to);
        self.slots[slot as usize].id_at = id_at;
        self.map_insert(to, slot);
        self.live_ids = self.live_ids - from.len() as u64 + to.len() as u64;
    }

    /// Removes the document at `pos` and returns its slot.
    pub fn remove_at(&mut self, pos: usize) -> SlotNo {
        let slot = self.order.remove(pos);
        self.kill(slot);
        slot
    }

    /// Removes a document by slot.
    pub fn remove_slot(&mut self, slot: SlotNo) {
        if let Some(pos) = self.position(slot) {
            self.order.remove(pos);
            self.kill(slot);
        }
    }

    /// Removes the documents at the given positions (any order, no duplicates) in one pass.
    pub fn remove_positions(&mut self, positions: &[usize]) -> Vec<SlotNo> {
        let mut doomed = vec![false; self.order.len()];
        for &p in positions {
            doomed[p] = true;
        }
        let mut removed = Vec::with_capacity(positions.len());
        let mut keep = Vec::with_capacity(self.order.len() - positions.len());
        for (p, &slot) in self.order.iter().enumerate() {
            if doomed[p] {
                removed.push(slot);
            } else {
                keep.push(slot);
            }
        }
        self.order = keep;
        for &slot in &removed {
            self.kill(slot);
        }
        removed
    }

    fn kill(&mut self, slot: SlotNo) {
        let id = self.id(slot).to_owned();
        self.map_remove(&id);
        let s = &mut self.slots[slot as usize];
        self.live_body -= u64::from(s.len);
        self.live_ids -= id.len() as u64;
        s.id_at = DEAD;
    }

    /// Applies one index entry while replaying a log (ops about unknown ids are ignored:
    /// they can only come from a writer that raced a clear).
    /// Adds a new document at the end unless the id exists (then `false`, nothing changes).
    /// One hash probe for both.
    pub fn push_new(&mut self, id: &str, loc: Loc) -> bool {
        self.upsert(id, loc, false)
    }

    pub fn apply_put(&mut self, id: &str, loc: Loc) {
        self.upsert(id, loc, true);
    }

    /// Inserts `id` at the end, or (if `replace`) points the existing slot at `loc`.
    /// Returns whether it inserted.
    fn upsert(&mut self, id: &str, loc: Loc, replace: bool) -> bool {
        // One probe: the new slot number is known before the entry is claimed.
        let bytes = id.as_bytes();
        let hash = self.hasher.hash_one(bytes);
        let next = self.slots.len() as SlotNo;
        let (arena, slots, hasher) = (&self.arena, &self.slots, &self.hasher);
        match self.map.entry(
            hash,
            |&s| Self::id_bytes(arena, slots[s as usize].id_at) == bytes,
            |&s| hasher.hash_one(Self::id_bytes(arena, slots[s as usize].id_at)),
        ) {
            Entry::Occupied(e) => {
                let slot = *e.get();
                if replace {
                    self.set_loc(slot, loc);
                }
                false
            }
            Entry::Vacant(e) => {
                e.insert(next);
                let id_at = self.push_id(id);
                self.slots.push(Slot {
                    id_at,
                    offset: loc.offset,
                    len: loc.len,
                    crc: loc.crc,
                });
                self.order.push(next);
                self.live_body += u64::from(loc.len);
                self.live_ids += id.len() as u64;
                true
            }
        }
    }

    pub fn apply_delete(&mut self, id: &str) {
        if let Some(slot) = self.find(id) {
            self.remove_slot(slot);
        }
    }

    pub fn apply_rename(&mut self, from: &str, to: &str) {
        if let Some(slot) = self.find(from) {
            if let Some(other) = self.find(to) {
                self.remove_slot(other);
            }
            self.rename(slot, to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(n: u32) -> Loc {
        Loc {
            offset: u64::from(n) * 10,
            len: n,
            crc: 0,
        }
    }

    #[test]
    fn push_find_rename_remove() {
        let mut t = Table::new();
        for i in 0..100u32 {
            t.push(&format!("id_{i}"), loc(i));
        }
        assert_eq!(t.len(), 100);
        assert_eq!(t.find("id_42"), Some(42));
        t.rename(42, "other");
        assert_eq!(t.find("id_42"), None);
        assert_eq!(t.id(t.at(42).unwrap()), "other");
        t.remove_at(0);
        assert_eq!(t.id(t.at(0).unwrap()), "id_1");
        assert_eq!(t.find("id_0"), None);
        let removed = t.remove_positions(&[0, 98]);
        assert_eq!(removed.len(), 2);
        assert_eq!(t.len(), 97);
        assert_eq!(t.find("id_99"), None);
        assert_eq!(t.id(t.at(0).unwrap()), "id_2");
        t.apply_put("id_2", loc(7));
        assert_eq!(t.loc(t.find("id_2").unwrap()), loc(7));
        t.apply_rename("id_2", "id_3");
        assert_eq!(t.len(), 96);
        assert_eq!(t.id(t.at(0).unwrap()), "id_3");
    }
}
