//! Differential property test of two handles on one store: random sequences of every store
//! operation, each on one of two handles of the same store, run on the memmap store and on
//! PostgreSQL side by side. After every step both backends must agree on what the call
//! returned and on what each handle shows (ids in order); at the end, after both handles
//! save and reload, on every document.
//!
//! The acting handle reloads before each step (saving its unsaved changes, as a reload
//! does): what a handle shows of the other's changes before it catches up differs by design
//! — the memmap handle reads the snapshot its index points at (texts replaced or deleted
//! since), a PostgreSQL one the rows as they are now (scenarios.rs, `save_reload`), and each
//! takes the others' changes in on different writes of its own. The conflicts stay in: the
//! other handle's unsaved changes to documents this one deletes, renames or clears. Reads
//! are compared by the id they return (or their error), texts at the end.
//!
//! One more difference by design: an unsaved change whose document another handle renamed
//! and then deleted is kept by both, at the same place, but under different names — the
//! memmap store's pool followed the document's slot through the rename, PostgreSQL's change
//! feed records the rows touched, not their history, so it keeps the name its handle knew.
//! Where the backends differ only so, the comparison ends there (what follows may refer to
//! either name).
//!
//! One more difference by design: an unsaved change whose document another handle renamed
//! and then deleted is kept by both, at the same place, but under different names — the
//! memmap store's pool followed the document's slot through the rename, PostgreSQL's change
//! feed records the rows touched, not their history, so it keeps the name its handle knew.
//! Where the backends differ only so, the comparison ends there (what follows may refer to
//! either name).
//!
//! CI: 24 cases per pool size; `PROPTEST_CASES=N` for longer runs.

use damfs::Store;
use proptest::prelude::*;

use super::model::{op, store_apply, Fail, Op};
use crate::support::place::Place;
use crate::support::properties;
use crate::support::store::*;

type Step = (usize, Op);

/// What one step showed: the call's outcome (reads by id only) and each handle's ids.
#[derive(Debug, PartialEq)]
struct Seen {
    outcome: Result<Option<String>, Fail>,
    ids: [Vec<String>; 2],
}

fn id_of(json: &str) -> String {
    damfs::Document::from_json(json).unwrap().id().to_owned()
}

/// Runs the steps on one backend; what each step showed, and the final contents.
fn run(place: &Place, pool: usize, steps: &[Step]) -> (Vec<Seen>, Vec<(String, String)>) {
    let mut handles: [Option<Store>; 2] = [Some(place.open(pool)), Some(place.open(pool))];
    let mut seen = Vec::with_capacity(steps.len());
    for (h, op) in steps {
        if !matches!(op, Op::Reopen) {
            handles[*h].as_mut().unwrap().reload().unwrap();
        }
        let outcome = store_apply(&mut handles[*h], place, pool, op).map(|r| r.map(|j| id_of(&j)));
        let ids = [0, 1].map(|i| ids(handles[i].as_ref().unwrap()));
        seen.push(Seen { outcome, ids });
    }
    for h in handles.iter_mut().flatten() {
        h.save().unwrap();
    }
    for h in handles.iter_mut().flatten() {
        h.reload().unwrap();
    }
    let stored = place.contents();
    for h in handles.iter().flatten() {
        assert_same(&snapshot(h), &stored, "a handle after reload");
    }
    (seen, stored)
}

fn compare(pool: usize, steps: &[Step]) {
    let Some(pg) = Place::postgres_table() else {
        crate::support::postgres::skip_without_server();
        return;
    };
    let (mem_seen, mem_stored) = run(&Place::memmap().unwrap(), pool, steps);
    let (pg_seen, pg_stored) = run(&pg, pool, steps);
    for (i, (m, p)) in mem_seen.iter().zip(&pg_seen).enumerate() {
        if p == m {
            continue;
        }
        let renamed_orphan =
            p.outcome == m.outcome && (0..2).all(|h| only_names_differ(&p.ids[h], &m.ids[h]));
        if renamed_orphan {
            return;
        }
        assert_eq!(
            p, m,
            "step {i} ({:?}): PostgreSQL (left) vs memmap",
            steps[i]
        );
    }
    if pg_stored != mem_stored {
        let pg_ids: Vec<String> = pg_stored.iter().map(|(id, _)| id.clone()).collect();
        let mem_ids: Vec<String> = mem_stored.iter().map(|(id, _)| id.clone()).collect();
        let same_texts = pg_stored
            .iter()
            .zip(&mem_stored)
            .all(|((_, p), (_, m))| without_id(p) == without_id(m));
        assert!(
            only_names_differ(&pg_ids, &mem_ids) && same_texts,
            "PostgreSQL vs memmap at the end:\n{pg_stored:?}\n{mem_stored:?}"
        );
    }
}

/// Whether two lists of ids agree but for documents at the same place named differently
/// (each name absent from the other list): see the module docs.
fn only_names_differ(pg: &[String], mem: &[String]) -> bool {
    pg.len() == mem.len()
        && pg
            .iter()
            .zip(mem)
            .all(|(p, m)| p == m || (!mem.contains(p) && !pg.contains(m)))
}

/// A document's text with its id replaced by a fixed one.
fn without_id(json: &str) -> String {
    let doc = damfs::Document::from_json(json).unwrap();
    doc.with_id("x").unwrap().into_json()
}

/// Steps of every operation but the memmap store's index compaction (which, taking its
/// lock, takes in the other handles' changes too; PostgreSQL has no index file).
fn steps() -> impl Strategy<Value = Vec<Step>> {
    let op = op().prop_filter("memmap only", |o| !matches!(o, Op::CompactIndex));
    prop::collection::vec((0usize..2, op), 1..40)
}

proptest! {
    #![proptest_config(properties::config(24))]

    #[test]
    fn both_backends_agree_pool_0(s in steps()) { compare(0, &s); }

    #[test]
    fn both_backends_agree_pool_1(s in steps()) { compare(1, &s); }

    #[test]
    fn both_backends_agree_pool_3(s in steps()) { compare(3, &s); }

    #[test]
    fn both_backends_agree_pool_1000(s in steps()) { compare(1000, &s); }
}
