//! The buffer pool both backends keep: an LRU of recently used documents, with dirty
//! tracking, keyed by what the backend finds a document by (the memmap store's slot
//! number, PostgreSQL's id).
//!
//! A dirty document has changes that are nowhere else yet (not in the body file, not in the
//! table). It is written when it leaves the pool (eviction), on save, and when the store is
//! dropped. A pool of size 0 holds nothing, so every change is written through.

use std::borrow::Borrow;
use std::hash::Hash;
use std::num::NonZeroUsize;

use hashbrown::DefaultHashBuilder;
use lru::LruCache;

use crate::document::Document;

pub struct Entry {
    pub doc: Document,
    pub dirty: bool,
}

/// A dirty document the pool did not take: its change is nowhere else, so the caller must
/// write it (the pool never drops a dirty document to make room).
#[derive(Debug)]
pub struct Unplaced {
    pub doc: Document,
}

pub struct Pool<K: Hash + Eq> {
    cache: Option<LruCache<K, Entry, DefaultHashBuilder>>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone> Pool<K> {
    pub fn new(capacity: usize) -> Self {
        Pool {
            // A fast hasher: a flood of colliding keys costs time, never correctness.
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
    pub fn get<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<&Entry>
    where
        K: Borrow<Q>,
    {
        self.cache.as_mut()?.get(key)
    }

    /// Looks a document up without touching the LRU order.
    pub fn peek<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&Entry>
    where
        K: Borrow<Q>,
    {
        self.cache.as_ref()?.peek(key)
    }

    pub fn contains<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.cache.as_ref().is_some_and(|c| c.contains(key))
    }

    /// Puts a document in the pool as most recently used, making room by dropping the
    /// least recently used document if that one is clean. A dirty document is never
    /// dropped: when the pool is full of them (callers run `make_room` first, so only a
    /// bug gets here, and debug builds assert it) a clean document is simply not pooled
    /// (it is on disk), and a dirty one is handed back, as with capacity 0, for the caller
    /// to write through. The result is `must_use`: a handed-back change cannot be ignored.
    pub fn put(&mut self, key: K, doc: Document, dirty: bool) -> Result<(), Unplaced> {
        let Some(cache) = self.cache.as_mut() else {
            return if dirty { Err(Unplaced { doc }) } else { Ok(()) };
        };
        if let Some(e) = cache.get_mut(&key) {
            e.dirty |= dirty;
            e.doc = doc;
            return Ok(());
        }
        if cache.len() == cache.cap().get() && cache.peek_lru().is_some_and(|(_, e)| e.dirty) {
            debug_assert!(false, "pool put without room: the caller skipped make_room");
            return if dirty { Err(Unplaced { doc }) } else { Ok(()) };
        }
        cache.push(key, Entry { doc, dirty });
        Ok(())
    }

    /// Pools a clean document (its text is stored, so not pooling it loses nothing).
    pub fn put_clean(&mut self, key: K, doc: Document) {
        // A clean put is never handed back (see `put`).
        let _never = self.put(key, doc, false);
    }

    pub fn remove<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<Entry>
    where
        K: Borrow<Q>,
    {
        self.cache.as_mut()?.pop(key)
    }

    /// The dirty entries, least recently used first.
    fn dirty_entries(&self) -> impl Iterator<Item = (&K, &Entry)> {
        self.cache
            .iter()
            .flat_map(|c| c.iter().rev())
            .filter(|(_, e)| e.dirty)
    }

    /// The dirty documents' keys, least recently used first.
    pub fn dirty_keys(&self) -> Vec<K> {
        self.dirty_entries().map(|(k, _)| k.clone()).collect()
    }

    pub fn mark_clean<Q: Hash + Eq + ?Sized>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
    {
        if let Some(e) = self.cache.as_mut().and_then(|c| c.peek_mut(key)) {
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

    /// The `n` least recently used keys, oldest first (O(n), not O(pool)).
    pub fn oldest(&self, n: usize) -> Vec<K> {
        let Some(cache) = self.cache.as_ref() else {
            return Vec::new();
        };
        cache.iter().rev().take(n).map(|(k, _)| k.clone()).collect()
    }

    /// Up to `n` dirty keys among the `scan` least recently used, oldest first.
    pub fn oldest_dirty(&self, n: usize, scan: usize) -> Vec<K> {
        let Some(cache) = self.cache.as_ref() else {
            return Vec::new();
        };
        cache
            .iter()
            .rev()
            .take(scan)
            .filter(|(_, e)| e.dirty)
            .take(n)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Takes every entry out, least recently used first.
    pub fn drain(&mut self) -> Vec<(K, Entry)> {
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

/// What only the PostgreSQL backend needs: its rows change under it (other writers), so it
/// drops clean copies, and it makes room before a put rather than after.
#[cfg_attr(not(feature = "postgres"), allow(dead_code))]
impl<K: Hash + Eq + Clone> Pool<K> {
    /// Drops a clean copy (the stored text changed under it); a dirty one stays.
    pub fn forget_clean<Q: Hash + Eq + ?Sized>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
    {
        if let Some(c) = self.cache.as_mut() {
            if c.peek(key).is_some_and(|e| !e.dirty) {
                c.pop(key);
            }
        }
    }

    /// Copies of the dirty documents, least recently used first.
    pub fn dirty_docs(&self) -> Vec<Document> {
        self.dirty_entries().map(|(_, e)| e.doc.clone()).collect()
    }

    /// Whether pooling a document not pooled yet would have to push a dirty one out (the
    /// caller writes the oldest dirty documents first).
    pub fn would_evict_dirty<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.cache.as_ref().is_some_and(|c| {
            c.len() == c.cap().get()
                && !c.contains(key)
                && c.peek_lru().is_some_and(|(_, e)| e.dirty)
        })
    }

    /// Drops every clean document, keeping the dirty ones.
    pub fn clear_clean(&mut self) {
        if let Some(c) = self.cache.as_mut() {
            let clean: Vec<K> = c
                .iter()
                .filter(|(_, e)| !e.dirty)
                .map(|(k, _)| k.clone())
                .collect();
            for k in clean {
                c.pop(&k);
            }
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
    fn evicts_the_least_recently_used_clean_document() {
        let mut p = Pool::<u32>::new(2);
        p.put(0, doc("a"), true).unwrap();
        p.put(1, doc("b"), false).unwrap();
        p.get(&0);
        p.put(2, doc("c"), false).unwrap(); // evicts clean b
        assert!(!p.contains(&1));
        assert!(p.contains(&0) && p.contains(&2));
    }

    /// Defect 6 of issue 8: a put that would push a dirty document out is a bug of the
    /// caller (debug builds stop there); in release the dirty document stays and the new
    /// one is handed back if it is dirty, never dropped.
    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "make_room"))]
    fn never_drops_a_dirty_document() {
        let mut p = Pool::<u32>::new(1);
        p.put(0, doc("a"), true).unwrap();
        p.put(1, doc("b"), false).unwrap(); // not pooled: a stays
        assert!(p.contains(&0) && !p.contains(&1));
        let back = p.put(2, doc("c"), true).unwrap_err();
        assert_eq!(back.doc.id(), "c");
        assert_eq!(p.dirty_keys(), vec![0]);
    }

    #[test]
    fn size_zero_writes_through() {
        let mut p = Pool::<u32>::new(0);
        p.put(0, doc("a"), false).unwrap();
        assert_eq!(p.put(0, doc("a"), true).unwrap_err().doc.id(), "a");
        assert_eq!(p.len(), 0);
    }

    #[test]
    fn dirty_tracking() {
        let mut p = Pool::<u32>::new(5);
        for i in 0..5 {
            p.put(i, doc(&format!("d{i}")), i % 2 == 1).unwrap();
        }
        assert_eq!(p.dirty_keys(), vec![1, 3]);
        p.mark_clean(&1);
        assert_eq!(p.dirty_count(), 1);
        p.clear_clean();
        assert_eq!(p.len(), 1);
        p.clear();
        assert_eq!(p.len(), 0);
    }

    /// Keyed by id (PostgreSQL's pool), looked up by `&str`.
    #[test]
    fn keyed_by_id() {
        let mut p = Pool::<Box<str>>::new(2);
        p.put("a".into(), doc("a"), true).unwrap();
        assert!(!p.would_evict_dirty("b"));
        p.put("b".into(), doc("b"), false).unwrap();
        assert!(p.would_evict_dirty("c"), "a (dirty) is the oldest");
        assert!(!p.would_evict_dirty("a"), "already pooled");
        p.forget_clean("a");
        p.forget_clean("b");
        assert!(p.contains("a") && !p.contains("b"));
        assert_eq!(p.dirty_docs()[0].id(), "a");
    }
}
