//! The storage seam: [`Store`] is either backend, with the store's API, delegating. The CLI,
//! the daemon and the filesystem core work on it; nothing above it knows memmap files or SQL.
//!
//! A STORE argument that starts with `postgresql://` (or `postgres://`) opens the PostgreSQL
//! backend; anything else is a memmap store's directory.

use std::path::Path;

use crate::document::Document;
use crate::error::Result;
use crate::postgres::{self, PgStore};
use crate::store::{self, DocumentArrayMemmap, Options, Slice, Stats};

/// A store on either backend. (One per mount or command: the variants' sizes do not matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Store {
    Memmap(DocumentArrayMemmap),
    Postgres(PgStore),
}

/// Whether a STORE argument addresses PostgreSQL rather than a directory.
pub fn is_url(store: &Path) -> bool {
    store.to_str().is_some_and(postgres::is_url)
}

/// Calls the same method on whichever backend it is.
macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Memmap($s) => $e,
            Store::Postgres($s) => $e,
        }
    };
}

impl Store {
    /// Opens the store at a directory or a `postgresql://` URL.
    pub fn open_with(store: impl AsRef<Path>, opts: Options) -> Result<Self> {
        let store = store.as_ref();
        if let Some((text, reason)) = store
            .to_str()
            .and_then(|text| Some((text, postgres::mistyped_url(text)?)))
        {
            return Err(crate::error::Error::NotAStore {
                path: postgres::redact_text(text).into(),
                reason,
            });
        }
        match store.to_str().filter(|s| postgres::is_url(s)) {
            Some(url) => Ok(Store::Postgres(PgStore::open_with(url, opts)?)),
            None => Ok(Store::Memmap(DocumentArrayMemmap::open_with(store, opts)?)),
        }
    }

    /// Opens with a pool of 1000 documents, creating the store if needed.
    pub fn open(store: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(store, Options::default())
    }

    /// The directory, or the URL without its password.
    pub fn path(&self) -> &Path {
        delegate!(self, s => s.path())
    }

    pub fn is_read_only(&self) -> bool {
        delegate!(self, s => s.is_read_only())
    }

    pub fn len(&self) -> usize {
        delegate!(self, s => s.len())
    }

    pub fn is_empty(&self) -> bool {
        delegate!(self, s => s.is_empty())
    }

    pub fn contains(&self, id: &str) -> bool {
        delegate!(self, s => s.contains(id))
    }

    pub fn id_at(&self, pos: usize) -> Option<&str> {
        delegate!(self, s => s.id_at(pos))
    }

    pub fn position_of(&self, id: &str) -> Option<usize> {
        delegate!(self, s => s.position_of(id))
    }

    /// Ids in position order.
    pub fn ids(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        delegate!(self, s => Box::new(s.ids()))
    }

    pub fn json_len(&self, id: &str) -> Option<u64> {
        delegate!(self, s => s.json_len(id))
    }

    pub fn with_json<R>(&self, id: &str, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        delegate!(self, s => s.with_json(id, f))
    }

    pub fn physical_size(&self) -> u64 {
        delegate!(self, s => s.physical_size())
    }

    pub fn stats(&self) -> Stats {
        delegate!(self, s => s.stats())
    }

    pub fn get(&mut self, index: isize) -> Result<Document> {
        delegate!(self, s => s.get(index))
    }

    pub fn get_by_id(&mut self, id: &str) -> Result<Document> {
        delegate!(self, s => s.get_by_id(id))
    }

    pub fn get_slice(&mut self, slice: impl Into<Slice>) -> Result<Vec<Document>> {
        delegate!(self, s => s.get_slice(slice))
    }

    /// The documents in order (the pool is not disturbed).
    pub fn iter(&self) -> Box<dyn Iterator<Item = Result<Document>> + '_> {
        delegate!(self, s => Box::new(s.iter()))
    }

    pub fn to_vec(&self) -> Result<Vec<Document>> {
        delegate!(self, s => s.to_vec())
    }

    pub fn append(&mut self, doc: Document) -> Result<()> {
        delegate!(self, s => s.append(doc))
    }

    pub fn extend(&mut self, docs: impl IntoIterator<Item = Document>) -> Result<()> {
        delegate!(self, s => s.extend(docs))
    }

    pub fn set(&mut self, index: isize, doc: Document) -> Result<()> {
        delegate!(self, s => s.set(index, doc))
    }

    pub fn set_by_id(&mut self, id: &str, doc: Document) -> Result<()> {
        delegate!(self, s => s.set_by_id(id, doc))
    }

    pub fn update<R>(&mut self, index: isize, f: impl FnOnce(&mut Document) -> R) -> Result<R> {
        delegate!(self, s => s.update(index, f))
    }

    pub fn update_by_id<R>(&mut self, id: &str, f: impl FnOnce(&mut Document) -> R) -> Result<R> {
        delegate!(self, s => s.update_by_id(id, f))
    }

    pub fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        delegate!(self, s => s.rename(from, to))
    }

    pub fn move_onto(&mut self, from: &str, onto: &str) -> Result<()> {
        delegate!(self, s => s.move_onto(from, onto))
    }

    pub fn delete(&mut self, index: isize) -> Result<()> {
        delegate!(self, s => s.delete(index))
    }

    pub fn delete_by_id(&mut self, id: &str) -> Result<()> {
        delegate!(self, s => s.delete_by_id(id))
    }

    /// Fails when a change made a moment from now surely could not be written: a PostgreSQL
    /// server that does not answer (one round trip). The memmap store is always there.
    pub fn check_reachable(&self) -> Result<()> {
        match self {
            Store::Memmap(_) => Ok(()),
            Store::Postgres(s) => s.check_reachable(),
        }
    }

    pub fn delete_slice(&mut self, slice: impl Into<Slice>) -> Result<()> {
        delegate!(self, s => s.delete_slice(slice))
    }

    pub fn pop(&mut self) -> Result<Document> {
        delegate!(self, s => s.pop())
    }

    pub fn save(&mut self) -> Result<()> {
        delegate!(self, s => s.save())
    }

    pub fn reload(&mut self) -> Result<()> {
        delegate!(self, s => s.reload())
    }

    pub fn clear(&mut self) -> Result<()> {
        delegate!(self, s => s.clear())
    }

    pub fn prune(&mut self) -> Result<()> {
        delegate!(self, s => s.prune())
    }

    pub fn external_changes(&self) -> u64 {
        delegate!(self, s => s.external_changes())
    }

    pub fn changed_on_disk(&self) -> Result<bool> {
        delegate!(self, s => s.changed_on_disk())
    }

    pub fn refresh(&mut self, wait: bool) -> Result<bool> {
        delegate!(self, s => s.refresh(wait))
    }

    pub fn unsaved_ids(&self) -> Vec<String> {
        delegate!(self, s => s.unsaved_ids())
    }

    pub fn has_unsynced_writes(&self) -> bool {
        delegate!(self, s => s.has_unsynced_writes())
    }

    /// The largest document text the backend takes.
    pub fn max_doc_len(&self) -> usize {
        match self {
            Store::Memmap(_) => store::MAX_DOC_LEN,
            Store::Postgres(_) => postgres::MAX_TEXT,
        }
    }
}

impl PartialEq for Store {
    /// Two handles are equal when they are on the same store (never across backends).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Store::Memmap(a), Store::Memmap(b)) => a == b,
            (Store::Postgres(a), Store::Postgres(b)) => a == b,
            _ => false,
        }
    }
}

impl From<DocumentArrayMemmap> for Store {
    fn from(s: DocumentArrayMemmap) -> Self {
        Store::Memmap(s)
    }
}

impl From<PgStore> for Store {
    fn from(s: PgStore) -> Self {
        Store::Postgres(s)
    }
}
