//! The buffer pool: an LRU of recently used documents, with dirty tracking.
//!
//! A dirty document has changes that are not in the body file yet. It is written when it
//! leaves the pool (eviction), on save, and when the store is dropped. A pool of size 0
//! holds nothing, so every change is written through.

use std::num::NonZeroUsize;

use hashbrown::DefaultHashBuilder;
use lru::LruCache;

use super::table::SlotNo;
use crate::document::Document;

pub struct Entry {
    pub doc: Document,
    pub dirty: bool,
}

pub struct Pool {
    cache: Option<LruCache<SlotNo, Entry, DefaultHashBuilder>>,
    capacity: usize,
}

impl Pool {
    pub fn new(capacity: usize) -> Self {
        Pool {
            // A fast hasher: slot numbers are ours, not an attacker's.
            cache: NonZeroUsize::new(capacity)
                .map(|c| LruCache::with_hasher(c, DefaultHashBuilder::default())),
            capacity,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    pub fn dirty_count(&self) -> usize {
        self.cache
            .as_ref()
            .map_or(0, |c| c.iter().filter(|(_, e)| e.dirty).count())
    }

    /// Looks a document up and marks it most recently used.
    pub fn get(&mut self, slot: SlotNo) -> Option<&Entry> {
        self.cache.as_mut()?.get(&slot)
    }

    /// Looks a document up without touching the LRU order.
    pub fn peek(&self, slot: SlotNo) -> Option<&Entry> {
        self.cache.as_ref()?.peek(&slot)
    }

    pub fn contains(&self, slot: SlotNo) -> bool {
        self.cache.as_ref().is_some_and(|c| c.contains(&slot))
    }

    /// Puts a document in the pool as most recently used. Returns a dirty document that had
    /// to leave to make room (a clean one is simply dropped). With capacity 0 a dirty
    /// document is handed straight back: the caller writes it through.
    pub fn put(&mut self, slot: SlotNo, doc: Document, dirty: bool) -> Option<(SlotNo, Document)> {
        let Some(cache) = self.cache.as_mut() else {
            return dirty.then_some((slot, doc));
        };
        if let Some(e) = cache.get_mut(&slot) {
            e.dirty |= dirty;
            e.doc = doc;
            return None;
        }
        match cache.push(slot, Entry { doc, dirty }) {
            Some((old, e)) if old != slot && e.dirty => Some((old, e.doc)),
            _ => None,
        }
    }

    pub fn remove(&mut self, slot: SlotNo) -> Option<Entry> {
        self.cache.as_mut()?.pop(&slot)
    }

    /// The dirty documents' slots, least recently used first.
    pub fn dirty_slots(&self) -> Vec<SlotNo> {
        let Some(cache) = self.cache.as_ref() else {
            return Vec::new();
        };
        cache
            .iter()
            .rev()
            .filter(|(_, e)| e.dirty)
            .map(|(&s, _)| s)
            .collect()
    }

    pub fn mark_clean(&mut self, slot: SlotNo) {
        if let Some(e) = self.cache.as_mut().and_then(|c| c.peek_mut(&slot)) {
            e.dirty = false;
        }
    }

    /// At capacity (a pool of 0 never is).
    pub fn is_full(&self) -> bool {
        self.capacity > 0 && self.len() == self.capacity
    }

    /// Is the least recently used document clean (so it may simply be replaced)?
    pub fn lru_is_clean(&self) -> bool {
        self.cache
            .as_ref()
            .and_then(|c| c.peek_lru())
            .is_some_and(|(_, e)| !e.dirty)
    }

    /// Drops the least recently used document if it is clean; `false` if it is dirty (or
    /// the pool is empty).
    pub fn drop_lru_if_clean(&mut self) -> bool {
        let Some(cache) = self.cache.as_mut() else {
            return false;
        };
        if cache.peek_lru().is_some_and(|(_, e)| !e.dirty) {
            cache.pop_lru();
            return true;
        }
        false
    }

    /// The `n` least recently used slots, oldest first (O(n), not O(pool)).
    pub fn oldest(&self, n: usize) -> Vec<SlotNo> {
        let Some(cache) = self.cache.as_ref() else {
            return Vec::new();
        };
        cache.iter().rev().take(n).map(|(&s, _)| s).collect()
    }

    /// Up to `n` dirty slots among the `scan` least recently used, oldest first.
    pub fn oldest_dirty(&self, n: usize, scan: usize) -> Vec<SlotNo> {
        let Some(cache) = self.cache.as_ref() else {
            return Vec::new();
        };
        cache
            .iter()
            .rev()
            .take(scan)
            .filter(|(_, e)| e.dirty)
            .take(n)
            .map(|(&s, _)| s)
            .collect()
    }

    /// Takes every entry out, least recently used first.
    pub fn drain(&mut self) -> Vec<(SlotNo, Entry)> {
        let Some(cache) = self.cache.as_mut() else {
            return Vec::new();
        };
        let mut v = Vec::with_capacity(cache.len());
        while let Some(kv) = cache.pop_lru() {
            v.push(kv);
        }
        v
    }

    pub fn clear(&mut self) {
        if let Some(c) = self.cache.as_mut() {
            c.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(id: &str) -> Document {
        Document::from_json(format!("{{\"id\":\"{id}\"}}")).unwrap()
    }

    #[test]
    fn evicts_the_least_recently_used_and_returns_it_only_if_dirty() {
        let mut p = Pool::new(2);
        assert!(p.put(0, doc("a"), true).is_none());
        assert!(p.put(1, doc("b"), false).is_none());
        p.get(0);
        assert!(p.put(2, doc("c"), false).is_none()); // evicts clean b
        assert!(!p.contains(1));
        let ev = p.put(3, doc("d"), false).unwrap(); // evicts dirty a
        assert_eq!(ev.0, 0);
        assert_eq!(ev.1.id(), "a");
    }

    #[test]
    fn size_zero_writes_through() {
        let mut p = Pool::new(0);
        assert!(p.put(0, doc("a"), false).is_none());
        assert_eq!(p.put(0, doc("a"), true).unwrap().0, 0);
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn dirty_tracking() {
        let mut p = Pool::new(5);
        for i in 0..5 {
            p.put(i, doc(&format!("d{i}")), i % 2 == 1);
        }
        assert_eq!(p.dirty_slots(), vec![1, 3]);
        p.mark_clean(1);
        assert_eq!(p.dirty_count(), 1);
        p.clear();
        assert_eq!(p.len(), 0);
    }
}
