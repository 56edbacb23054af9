//! The in-memory lookup table: for every live document its id, where its text is, and its
//! position. This is all a store keeps per document, so it is packed:
//!
//! - ids live in one byte arena (`[len:u8][bytes]`), no allocation per document;
//! - a slot is 24 bytes (arena offset, body offset, length, checksum);
//! - the id → slot map is a `hashbrown::HashTable<u32>` that hashes ids out of the arena
//!   (about 4.6–9 bytes per document depending on load).
//!
//! Positions are not stored. A new document always takes a new slot at the end, and renames
//! and replacements keep the slot, so position order *is* slot order with the deleted slots
//! left out: the position of a slot is the number of live slots before it. While no slot is
//! dead that is the slot number itself; once one is, a Fenwick tree of live counts (4 bytes
//! a slot, see `ranks`) answers position ↔ slot both ways in O(log n), and a delete is an
//! O(log n) update instead of a scan and a `Vec::remove`. Loading replays deletes in O(1)
//! (marking the slot dead) and then compacts the table once, in O(n).
//!
//! So a document with a 32-byte id costs about 24 + 33 + ~8 ≈ 65 bytes (+4 once documents
//! were deleted since the store was opened).

use std::hash::BuildHasher;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, HashTable};

use super::format::Loc;
use super::ranks::Ranks;

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
    arena: usize,
}

#[derive(Default)]
pub struct Table {
    arena: Vec<u8>,
    slots: Vec<Slot>,
    map: HashTable<SlotNo>,
    hasher: DefaultHashBuilder,
    /// Dead slots (deleted documents, and the old slot of a document renamed onto another).
    dead: usize,
    /// Live counts per slot, kept only while some slot is dead (and not while replaying).
    ranks: Option<Ranks>,
    /// Replaying an index: deletes only mark slots dead; `finish_replay` compacts.
    replaying: bool,
    live_body: u64,
    live_ids: u64,
}

impl Table {
    #[cfg(test)]
    pub fn new() -> Self {
        Self::default()
    }

    /// A table to replay an index into (see [`Table::finish_replay`]).
    pub fn for_replay() -> Self {
        Table {
            replaying: true,
            ..Self::default()
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len() - self.dead
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
            + self.map.allocation_size()
            + self.ranks.as_ref().map_or(0, Ranks::heap_bytes)
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
        let (arena, slots, hasher) = (&self.arena, &self.slots, &self.hasher);
        self.map.reserve(additional, |&s| {
            hasher.hash_one(Self::id_bytes(arena, slots[s as usize].id_at))
        });
    }

    /// Ends a replay: drops the dead slots (renumbering the live ones, in order, without
    /// rehashing a single id) and gives back spare capacity.
    pub fn finish_replay(&mut self) {
        self.replaying = false;
        if self.dead > 0 {
            self.compact();
        }
        self.arena.shrink_to_fit();
        self.slots.shrink_to_fit();
        let (arena, slots, hasher) = (&self.arena, &self.slots, &self.hasher);
        self.map
            .shrink_to_fit(|&s| hasher.hash_one(Self::id_bytes(arena, slots[s as usize].id_at)));
    }

    /// Renumbers the live slots 0.. in order and rebuilds the arena with only their ids. The
    /// map keeps its buckets (ids hash the same wherever the arena holds them); only the slot
    /// numbers stored in it change. Slot numbers held elsewhere (the pool) become invalid.
    fn compact(&mut self) {
        let mut renumber = vec![SlotNo::MAX; self.slots.len()];
        let mut arena = Vec::with_capacity(self.live_ids as usize + self.len());
        let mut slots = Vec::with_capacity(self.len());
        for (old, s) in self.slots.iter().enumerate() {
            if s.id_at == DEAD {
                continue;
            }
            renumber[old] = slots.len() as SlotNo;
            let id = Self::id_bytes(&self.arena, s.id_at);
            let id_at = arena.len() as u64;
            arena.push(id.len() as u8);
            arena.extend_from_slice(id);
            slots.push(Slot { id_at, ..*s });
        }
        for s in self.map.iter_mut() {
            *s = renumber[*s as usize];
        }
        self.arena = arena;
        self.slots = slots;
        self.dead = 0;
        self.ranks = None;
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

    fn is_live(&self, slot: usize) -> bool {
        self.slots.get(slot).is_some_and(|s| s.id_at != DEAD)
    }

    /// The slot of the document at `pos` (O(log n)).
    pub fn at(&self, pos: usize) -> Option<SlotNo> {
        if pos >= self.len() {
            return None;
        }
        match &self.ranks {
            Some(r) => Some(r.nth(pos) as SlotNo),
            None => Some(pos as SlotNo), // nothing dead: positions are slot numbers
        }
    }

    /// Position of a live slot (O(log n)).
    pub fn position(&self, slot: SlotNo) -> Option<usize> {
        if !self.is_live(slot as usize) {
            return None;
        }
        Some(match &self.ranks {
            Some(r) => r.count_before(slot as usize),
            None => slot as usize,
        })
    }

    /// Live slots in position order, from the slot at or after `from`.
    pub fn slots_from(&self, from: SlotNo) -> impl Iterator<Item = SlotNo> + '_ {
        (from as usize..self.slots.len())
            .filter(|&s| self.slots[s].id_at != DEAD)
            .map(|s| s as SlotNo)
    }

    /// Live slots in position order.
    pub fn live_slots(&self) -> impl Iterator<Item = SlotNo> + '_ {
        self.slots_from(0)
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
        self.arena.truncate(mark.arena);
        if let Some(r) = self.ranks.as_mut() {
            r.truncate(mark.slots);
        }
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

    /// Removes the document at `pos` and returns its slot (O(log n)).
    #[cfg(test)]
    pub fn remove_at(&mut self, pos: usize) -> Option<SlotNo> {
        let slot = self.at(pos)?;
        self.kill(slot);
        Some(slot)
    }

    /// Removes a document by slot (O(log n)).
    pub fn remove_slot(&mut self, slot: SlotNo) {
        if self.is_live(slot as usize) {
            self.kill(slot);
        }
    }

    /// Removes the documents at the given positions (any order, no duplicates): they are
    /// all resolved to slots first, so earlier removals do not shift later positions.
    pub fn remove_positions(&mut self, positions: &[usize]) -> Vec<SlotNo> {
        let slots: Vec<SlotNo> = positions.iter().filter_map(|&p| self.at(p)).collect();
        for &slot in &slots {
            self.kill(slot);
        }
        slots
    }

    fn kill(&mut self, slot: SlotNo) {
        let id = self.id(slot).to_owned();
        self.map_remove(&id);
        self.mark_dead(slot, id.len());
    }

    /// Marks a slot dead once its id left the map.
    fn mark_dead(&mut self, slot: SlotNo, id_len: usize) {
        let s = &mut self.slots[slot as usize];
        self.live_body -= u64::from(s.len);
        self.live_ids -= id_len as u64;
        s.id_at = DEAD;
        self.dead += 1;
        if self.replaying {
            return; // compacted at the end of the replay
        }
        match self.ranks.as_mut() {
            Some(r) => r.remove(slot as usize),
            // The first dead slot: build the counts once, in O(n).
            None => {
                let slots = &self.slots;
                self.ranks = Some(Ranks::build(slots.len(), |i| slots[i].id_at != DEAD));
            }
        }
    }

    /// Adds a new document at the end unless the id exists (then `false`, nothing changes).
    /// One hash probe for both.
    pub fn push_new(&mut self, id: &str, loc: Loc) -> bool {
        self.upsert(id, loc, false)
    }

    /// Applies a PUT while replaying an index: insert, or replace the text in place.
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
                if let Some(r) = self.ranks.as_mut() {
                    r.push_live();
                }
                self.live_body += u64::from(loc.len);
                self.live_ids += id.len() as u64;
                true
            }
        }
    }

    /// Applies a DELETE (ops about unknown ids are ignored: they can only come from a writer
    /// that raced a clear). One hash probe, no allocation: a replay does this for every
    /// delete an index holds.
    pub fn apply_delete(&mut self, id: &str) {
        let bytes = id.as_bytes();
        let hash = self.hasher.hash_one(bytes);
        let (arena, slots) = (&self.arena, &self.slots);
        let Ok(e) = self.map.find_entry(hash, |&s| {
            Self::id_bytes(arena, slots[s as usize].id_at) == bytes
        }) else {
            return;
        };
        let (slot, _) = e.remove();
        self.mark_dead(slot, id.len());
    }

    /// Applies a RENAME: `from` takes the id `to`, keeping its position; a document that had
    /// `to` is removed.
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
        t.remove_at(0).unwrap();
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

    /// Positions and slots agree both ways with a plain vector of the live slots, through
    /// deletes at random places, appends after them, and a replay's compaction.
    #[test]
    fn positions_match_a_vector_model() {
        let mut t = Table::new();
        let mut model: Vec<String> = Vec::new();
        let mut x = 12345u64;
        let mut rnd = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for round in 0..3000 {
            if model.is_empty() || rnd(3) > 0 {
                let id = format!("d{round}");
                t.push(&id, loc(round));
                model.push(id);
            } else {
                let p = rnd(model.len());
                let slot = t.remove_at(p).unwrap();
                assert_eq!(t.position(slot), None);
                model.remove(p);
            }
            if round % 97 == 0 {
                for (p, id) in model.iter().enumerate() {
                    let slot = t.find(id).unwrap();
                    assert_eq!(t.position(slot), Some(p));
                    assert_eq!(t.at(p), Some(slot));
                }
                let order: Vec<&str> = t.live_slots().map(|s| t.id(s)).collect();
                assert_eq!(order, model);
            }
        }
        assert_eq!(t.len(), model.len());
        assert_eq!(t.at(model.len()), None);
        // A replay of the same history compacts to the same order.
        let mut r = Table::for_replay();
        for (i, id) in model.iter().enumerate() {
            r.apply_put(&format!("gone{i}"), loc(1));
            r.apply_put(id, loc(2));
            r.apply_delete(&format!("gone{i}"));
        }
        r.finish_replay();
        let order: Vec<&str> = r.live_slots().map(|s| r.id(s)).collect();
        assert_eq!(order, model);
        for (p, id) in model.iter().enumerate() {
            assert_eq!(r.position(r.find(id).unwrap()), Some(p));
        }
    }
}
