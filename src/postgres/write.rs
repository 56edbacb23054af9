//! The write path: every change is one transaction that locks the head row (writers take
//! turns, and versions follow commit order), bumps the version, does its SQL, records the
//! ranks it touched in the change feed, wakes the other handles (NOTIFY) and commits. Then
//! the handle applies the change to its own order. Saves and the pool's write-behind write
//! dirty documents this way, all of them in one transaction.

use postgres::Transaction;

use super::*;
use crate::document::Document;

/// How many dirty documents an eviction writes at once.
const WRITE_BEHIND: usize = 64;

/// What a write transaction knows of the head, and what it touched.
pub(super) struct Head {
    pub version: i64,
    pub next_rank: i64,
    /// Ranks touched (`lo..=hi`), recorded in the change feed.
    pub touched: Vec<(i64, i64)>,
    /// The change replaced everything (clear): other handles re-read the whole order.
    pub reset: bool,
}

impl Head {
    /// Takes `n` fresh ranks (the end of the order).
    pub fn take_ranks(&mut self, n: usize) -> i64 {
        let first = self.next_rank;
        self.next_rank += n as i64;
        first
    }

    /// Records ranks as touched, merging runs.
    pub fn touch(&mut self, mut ranks: Vec<i64>) {
        ranks.sort_unstable();
        for r in ranks {
            match self.touched.last_mut() {
                Some((_, hi)) if *hi + 1 >= r => *hi = (*hi).max(r),
                _ => self.touched.push((r, r)),
            }
        }
    }
}

/// What a write of texts does with a document whose id is gone from the table.
#[derive(Clone, Copy)]
enum Gone {
    /// Adds it again at the end (a change that waited in the pool: never dropped).
    AddAtTheEnd,
    /// Fails with `NotFound`, writing nothing (a change written through at once).
    NotFound,
}

/// An error inside a write transaction: the server's, or the store's own.
pub(super) enum TxError {
    Db(postgres::Error),
    /// BEGIN failed (`None`: no attempt was made): nothing was done.
    Begin(Option<postgres::Error>),
    Store(Error),
}

impl TxError {
    /// The store's error, with `context` for a server's.
    pub(super) fn into_error(self, context: &str) -> Error {
        match self {
            TxError::Store(e) => e,
            TxError::Db(e) | TxError::Begin(Some(e)) => error::db_error(context, e),
            TxError::Begin(None) => backend_error(context, "no transaction was started"),
        }
    }
}

impl From<postgres::Error> for TxError {
    fn from(e: postgres::Error) -> Self {
        TxError::Db(e)
    }
}

impl From<Error> for TxError {
    fn from(e: Error) -> Self {
        TxError::Store(e)
    }
}

/// Escapes a field for COPY's text format.
pub(super) fn copy_escape(out: &mut Vec<u8>, s: &str) {
    for &b in s.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b => out.push(b),
        }
    }
}

impl PgStore {
    /// Runs one change as a transaction (see the module docs). `op` does the change's SQL;
    /// the caller applies it to the order after this returns `Ok`.
    pub(super) fn write<R>(
        &mut self,
        what: &str,
        op: impl FnOnce(&mut Transaction<'_>, &mut Head) -> Result<R, TxError>,
    ) -> Result<R> {
        self.writable()?;
        self.resync_if_lost()?;
        let names = self.names.clone();
        let channel = self.notify.then(|| channel_of(&names));
        // A connection cut while idle (the server restarted) fails at BEGIN, with nothing
        // done and `op` not yet run: the transaction then starts again on a new connection.
        let mut op = Some(op);
        let mut outcome = Err(TxError::Begin(None));
        for _attempt in 0..2 {
            let reused = self.client.borrow().is_some();
            let mut client = self.client()?;
            outcome = run_write(&mut client, &names, channel.as_deref(), &mut op);
            drop(client);
            match &outcome {
                Err(TxError::Begin(Some(e))) if reused && is_connection_error(e) => {
                    self.reconnect_after(e);
                }
                _ => break,
            }
        }
        match outcome {
            Ok((r, version)) => {
                if version == self.version + 1 {
                    self.version = version;
                } else {
                    self.own_versions.push(version);
                }
                self.readahead.borrow_mut().clear();
                Ok(r)
            }
            Err(TxError::Store(e)) => {
                // Refused on what the table holds (an id another handle deleted): take in
                // what the others did, so this handle sees why.
                if let Err(c) = self.catch_up() {
                    log::debug!("{}: catching up after {what}: {c}", self.shown.display());
                }
                Err(e)
            }
            Err(TxError::Begin(None)) => Err(backend_error(what, "no transaction was started")),
            Err(TxError::Db(e) | TxError::Begin(Some(e))) => {
                let e = self.failed(what, e);
                // A duplicate id another handle added: take it in (as the memmap store,
                // which finds it under its lock); after a lost connection the next use
                // re-reads the order anyway.
                if matches!(e, Error::DuplicateId(_)) {
                    if let Err(c) = self.catch_up() {
                        log::debug!("{}: catching up after {what}: {c}", self.shown.display());
                    }
                }
                Err(e)
            }
        }
    }

    /// Writes documents' texts in one transaction, by id. A document whose id is gone from
    /// the table (another handle deleted or renamed it after this one changed it) is added
    /// again at the end: a saved change is never dropped silently (README, "Conflicts").
    pub(super) fn write_docs(&mut self, docs: Vec<Document>) -> Result<()> {
        self.write_texts(docs, Gone::AddAtTheEnd)
    }

    /// Writes documents' texts in one transaction, by id; `gone` says what becomes of one
    /// whose id is no longer in the table.
    fn write_texts(&mut self, docs: Vec<Document>, gone: Gone) -> Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let docs_table = self.names.docs.clone();
        // Where this handle last saw each document: a row renamed by another handle keeps
        // its rank (ranks are never reused).
        let rank_of: std::collections::HashMap<&str, i64> = docs
            .iter()
            .filter_map(|d| {
                let p = self.order.find(d.id())?;
                Some((d.id(), self.order.rank_at(p)?))
            })
            .collect();
        let (updated, renamed, added) = self.write("saving documents", |tx, head| {
            let all_ids: Vec<&str> = docs.iter().map(Document::id).collect();
            // The common case in one statement: each row where this handle saw it.
            let mut updated = update_texts(tx, &docs_table, docs.iter().collect(), Some(&rank_of))?;
            let left: Vec<&Document> = {
                let found: std::collections::HashSet<&str> =
                    updated.iter().map(|(_, id)| id.as_str()).collect();
                docs.iter().filter(|d| !found.contains(d.id())).collect()
            };
            // The rest moved: renamed by another handle (followed, unless the change is
            // written through as the caller's own), or by id wherever it is now.
            let (renamed, left) = match gone {
                Gone::AddAtTheEnd if !left.is_empty() => {
                    follow_renames(tx, &docs_table, left, &rank_of, &all_ids)?
                }
                _ => (Vec::new(), left),
            };
            if !left.is_empty() {
                updated.extend(update_texts(tx, &docs_table, left.clone(), None)?);
            }
            let found: std::collections::HashSet<&str> =
                updated.iter().map(|(_, id)| id.as_str()).collect();
            let missing: Vec<&Document> = left
                .into_iter()
                .filter(|d| !found.contains(d.id()))
                .collect();
            if let (Gone::NotFound, Some(d)) = (gone, missing.first()) {
                return Err(Error::NotFound(d.id().to_owned()).into());
            }
            let mut added = Vec::new();
            if !missing.is_empty() {
                let first = head.take_ranks(missing.len());
                let ranks: Vec<i64> = (first..first + missing.len() as i64).collect();
                let ids: Vec<&str> = missing.iter().map(|d| d.id()).collect();
                let bodies: Vec<&str> = missing.iter().map(|d| d.json()).collect();
                let lens: Vec<i32> = missing
                    .iter()
                    .map(|d| len_of(d))
                    .collect::<Result<_, _>>()?;
                tx.execute(
                    &format!(
                        "INSERT INTO {docs_table} (rank, id, len, body) \
                         SELECT * FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[])"
                    ),
                    &[&ranks, &ids, &lens, &bodies],
                )?;
                for (rank, doc) in ranks.iter().zip(&missing) {
                    log::warn!(
                        "document {:?} was deleted by another writer after it was changed \
                         here; the change is saved as a new document at the end",
                        doc.id()
                    );
                    added.push((*rank, doc.id().to_owned()));
                }
            }
            head.touch(
                updated
                    .iter()
                    .map(|(r, _)| *r)
                    .chain(renamed.iter().map(|(r, _, _)| *r))
                    .chain(added.iter().map(|(r, _)| *r))
                    .collect(),
            );
            Ok((updated, renamed, added))
        })?;
        for (rank, old_id, doc) in &renamed {
            self.order.set_row(*rank, doc.id(), doc.json().len() as u32);
            self.pool.remove(old_id.as_str());
            self.pool.put_clean(doc.id().into(), doc.clone());
        }
        let len_by_id: std::collections::HashMap<&str, u32> = docs
            .iter()
            .map(|d| (d.id(), d.json().len() as u32))
            .collect();
        for (rank, id) in updated.iter().chain(&added) {
            let len = len_by_id.get(id.as_str()).copied().unwrap_or(0);
            if let Some(p) = self.order.find(id) {
                if self.order.rank_at(p) != Some(*rank) {
                    if let Some(old) = self.order.rank_at(p) {
                        self.order.remove_rank(old);
                    }
                }
            }
            self.order.set_row(*rank, id, len);
        }
        for doc in &docs {
            self.pool.mark_clean(doc.id());
        }
        self.catch_up_after_write();
        Ok(())
    }

    /// Pools a document; when that would push a dirty one out, the oldest dirty documents
    /// are written first. With a pool of size 0 a dirty document is written at once.
    pub(super) fn pool_put(&mut self, doc: Document, dirty: bool) -> Result<()> {
        if self.pool.capacity() == 0 {
            if dirty {
                // Written through as the caller's own change: a document another handle
                // deleted meanwhile is not found, as on the memmap store.
                self.write_texts(vec![doc], Gone::NotFound)?;
            }
            return Ok(());
        }
        while self.pool.would_evict_dirty(doc.id()) {
            let oldest: Vec<Document> = self
                .pool
                .oldest_dirty(WRITE_BEHIND, usize::MAX)
                .iter()
                .filter_map(|id| self.pool.peek(id).map(|e| e.doc.clone()))
                .collect();
            self.write_docs(oldest)?;
        }
        match self.pool.put(doc.id().into(), doc, dirty) {
            Ok(()) => Ok(()),
            // Room was made above; should it still not fit, the change is written through.
            Err(unplaced) => self.write_docs(vec![unplaced.doc]),
        }
    }

    /// Writes every dirty document in one transaction; with none, writes nothing.
    pub fn save(&mut self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        let dirty = self.pool.dirty_docs();
        self.write_docs(dirty)
    }

    /// Ids of the changes not in the table yet (the pool's dirty documents).
    pub fn unsaved_ids(&self) -> Vec<String> {
        self.pool
            .dirty_keys()
            .into_iter()
            .map(String::from)
            .collect()
    }

    /// Always false: what is written is committed (there is no unsynced state).
    pub fn has_unsynced_writes(&self) -> bool {
        false
    }
}

/// One attempt at a write transaction (see [`PgStore::write`]): BEGIN, lock and bump the
/// head, `op` (taken from its slot only once BEGIN succeeded), the feed, NOTIFY, COMMIT.
fn run_write<R>(
    client: &mut Client,
    names: &Names,
    channel: Option<&str>,
    op: &mut Option<impl FnOnce(&mut Transaction<'_>, &mut Head) -> Result<R, TxError>>,
) -> Result<(R, i64), TxError> {
    let mut tx = client.transaction().map_err(|e| TxError::Begin(Some(e)))?;
    // next_rank never falls behind a row's rank (a row put in by hand at the end would
    // otherwise make every later append fail on the primary key): one probe of its index.
    let row = tx.query_one(
        &format!(
            "UPDATE {head} SET version = version + 1, next_rank = greatest(next_rank, \
             (SELECT coalesce(max(rank), 0) + 1 FROM {docs})) WHERE one = 1 RETURNING version, next_rank",
            head = names.head,
            docs = names.docs,
        ),
        &[],
    )?;
    let mut head = Head {
        version: row.try_get(0)?,
        next_rank: row.try_get(1)?,
        touched: Vec::new(),
        reset: false,
    };
    let first_rank = head.next_rank;
    let op = op.take().ok_or(TxError::Begin(None))?;
    let r = op(&mut tx, &mut head)?;
    if head.reset {
        tx.execute(
            &format!(
                "INSERT INTO {} (version, lo, hi, reset) VALUES ($1, 0, 0, true)",
                names.changes
            ),
            &[&head.version],
        )?;
    }
    if !head.touched.is_empty() {
        let (lo, hi): (Vec<i64>, Vec<i64>) = head.touched.iter().copied().unzip();
        tx.execute(
            &format!(
                "INSERT INTO {} (version, lo, hi) \
                     SELECT $1, r.lo, r.hi FROM unnest($2::bigint[], $3::bigint[]) AS r(lo, hi)",
                names.changes
            ),
            &[&head.version, &lo, &hi],
        )?;
    }
    if head.next_rank != first_rank {
        tx.execute(
            &format!("UPDATE {} SET next_rank = $1 WHERE one = 1", names.head),
            &[&head.next_rank],
        )?;
    }
    if let Some(channel) = channel {
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&channel, &head.version.to_string()],
        )?;
    }
    tx.commit()?;
    Ok((r, head.version))
}

/// Writes texts by id — only where the row is at the rank this handle knew, with `rank_of`
/// — returning the (rank, id) of each row written.
fn update_texts(
    tx: &mut Transaction<'_>,
    table: &str,
    docs: Vec<&Document>,
    rank_of: Option<&std::collections::HashMap<&str, i64>>,
) -> Result<Vec<(i64, String)>, TxError> {
    let ids: Vec<&str> = docs.iter().map(|d| d.id()).collect();
    let bodies: Vec<&str> = docs.iter().map(|d| d.json()).collect();
    let lens: Vec<i32> = docs.iter().map(|d| len_of(d)).collect::<Result<_, _>>()?;
    // -1: no rank known (never a row's).
    let ranks: Vec<i64> = ids
        .iter()
        .map(|id| rank_of.and_then(|r| r.get(id).copied()).unwrap_or(-1))
        .collect();
    let at_rank = if rank_of.is_some() {
        "AND t.rank = u.rank"
    } else {
        ""
    };
    let rows = tx.query(
        &format!(
            "UPDATE {table} AS t SET body = u.body, len = u.len \
             FROM unnest($1::text[], $2::text[], $3::int[], $4::bigint[]) AS u(id, body, len, rank) \
             WHERE t.id = u.id {at_rank} RETURNING t.rank, t.id"
        ),
        &[&ids, &bodies, &lens, &ranks],
    )?;
    rows.iter()
        .map(|r| Ok((r.try_get::<_, i64>(0)?, r.try_get::<_, String>(1)?)))
        .collect::<Result<_, postgres::Error>>()
        .map_err(TxError::Db)
}

/// A document written here and renamed by another handle meanwhile: (rank, old id, the
/// document under its new id).
type Renamed = (i64, String, Document);

/// Of the documents to write, those whose row another handle renamed (the rank this handle
/// knew holds another id now, not one written here too) are written under the row's new id,
/// as the memmap store's pool follows a document's slot — even where the old id was given
/// to another document since; the others are returned (to write by id).
fn follow_renames<'d>(
    tx: &mut Transaction<'_>,
    table: &str,
    missing: Vec<&'d Document>,
    rank_of: &std::collections::HashMap<&str, i64>,
    writing: &[&str],
) -> Result<(Vec<Renamed>, Vec<&'d Document>), TxError> {
    let ranks: Vec<i64> = missing
        .iter()
        .filter_map(|d| rank_of.get(d.id()).copied())
        .collect();
    if ranks.is_empty() {
        return Ok((Vec::new(), missing));
    }
    let rows = tx.query(
        &format!("SELECT rank, id FROM {table} WHERE rank = ANY($1)"),
        &[&ranks],
    )?;
    let mut now = std::collections::HashMap::with_capacity(rows.len());
    for r in rows {
        now.insert(r.try_get::<_, i64>(0)?, r.try_get::<_, String>(1)?);
    }
    let mut renamed = Vec::new();
    let mut rest = Vec::new();
    for d in missing {
        let row = rank_of
            .get(d.id())
            .and_then(|rank| Some((*rank, now.get(rank)?)));
        match row {
            Some((rank, new_id)) if new_id != d.id() && !writing.contains(&new_id.as_str()) => {
                let doc = d.with_id(new_id)?;
                tx.execute(
                    &format!("UPDATE {table} SET body = $2, len = $3 WHERE rank = $1"),
                    &[&rank, &doc.json(), &len_of(&doc)?],
                )?;
                log::warn!(
                    "document {:?} was renamed to {new_id:?} by another writer after it was \
                     changed here; the change is saved under its new id",
                    d.id()
                );
                renamed.push((rank, d.id().to_owned(), doc));
            }
            _ => rest.push(d),
        }
    }
    Ok((renamed, rest))
}

/// A text's length as the table's INT column holds it.
pub(super) fn len_of(doc: &Document) -> Result<i32, TxError> {
    let len = doc.json().len();
    if len >= MAX_TEXT {
        return Err(too_large(doc));
    }
    i32::try_from(len).map_err(|_| too_large(doc))
}

fn too_large(doc: &Document) -> TxError {
    TxError::Store(Error::InvalidDocument(format!(
        "document {:?} is larger than 1 GiB, the most a PostgreSQL text holds",
        doc.id()
    )))
}

/// PostgreSQL's largest field value.
pub const MAX_TEXT: usize = (1 << 30) - 1;
