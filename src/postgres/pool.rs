//! The buffer pool: an LRU of recently used documents by id, with dirty tracking. A dirty
//! document's text is in no table row yet; it reaches the table on save, or when it has to
//! leave the pool (then in one transaction with the other oldest dirty documents).

use std::num::NonZeroUsize;

use hashbrown::DefaultHashBuilder;
use lru::LruCache;

use crate::document::Document;

pub struct Entry {
    pub doc: Document,
    pub dirty: bool,
}

pub struct Pool {
    cache: Option<LruCache<Box<str>, Entry, DefaultHashBuilder>>,
    capacity: usize,
}

impl Pool {
    pub fn new(capacity: usize) -> Self {
        Pool {
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

    pub fn dirty(&self) -> Vec<Document> {
        self.cache.as_ref().map_or_else(Vec::new, |c| {
            c.iter()
                .filter(|(_, e)| e.dirty)
                .map(|(_, e)| e.doc.clone())
                .collect()
        })
    }

    pub fn dirty_count(&self) -> usize {
        self.cache
            .as_ref()
            .map_or(0, |c| c.iter().filter(|(_, e)| e.dirty).count())
    }

    /// The oldest dirty documents, up to `n` (what an eviction writes together).
    pub fn oldest_dirty(&self, n: usize) -> Vec<Document> {
        self.cache.as_ref().map_or_else(Vec::new, |c| {
            c.iter()
                .rev()
                .filter(|(_, e)| e.dirty)
                .take(n)
                .map(|(_, e)| e.doc.clone())
                .collect()
        })
    }

    pub fn get(&mut self, id: &str) -> Option<&Entry> {
        self.cache.as_mut()?.get(id)
    }

    pub fn peek(&self, id: &str) -> Option<&Entry> {
        self.cache.as_ref()?.peek(id)
    }

    /// Whether putting a new document would push out a dirty one.
    pub fn would_evict_dirty(&self, id: &str) -> bool {
        self.cache.as_ref().is_some_and(|c| {
            c.len() == c.cap().get()
                && !c.contains(id)
                && c.peek_lru().is_some_and(|(_, e)| e.dirty)
        })
    }

    /// Pools a document. The caller made sure no dirty document is pushed out
    /// ([`would_evict_dirty`](Self::would_evict_dirty)); with capacity 0 nothing is kept.
    pub fn put(&mut self, doc: Document, dirty: bool) {
        if let Some(c) = self.cache.as_mut() {
            c.push(doc.id().into(), Entry { doc, dirty });
        }
    }

    pub fn remove(&mut self, id: &str) -> Option<Entry> {
        self.cache.as_mut()?.pop(id)
    }

    /// Drops a clean copy (another writer changed the row); a dirty one stays.
    pub fn forget_clean(&mut self, id: &str) {
        if let Some(c) = self.cache.as_mut() {
            if c.peek(id).is_some_and(|e| !e.dirty) {
                c.pop(id);
            }
        }
    }

    pub fn mark_clean(&mut self, id: &str) {
        if let Some(e) = self.cache.as_mut().and_then(|c| c.peek_mut(id)) {
            e.dirty = false;
        }
    }

    /// Drops every clean document, keeping the dirty ones.
    pub fn clear_clean(&mut self) {
        if let Some(c) = self.cache.as_mut() {
            let clean: Vec<Box<str>> = c
                .iter()
                .filter(|(_, e)| !e.dirty)
                .map(|(k, _)| k.clone())
                .collect();
            for k in clean {
                c.pop(&k);
            }
        }
    }

    pub fn clear(&mut self) {
        if let Some(c) = self.cache.as_mut() {
            c.clear();
        }
    }
}
