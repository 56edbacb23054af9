//! One `extend` is all or nothing on disk, also when its index entries take several
//! batches (about 1 MiB each: here 50,000 documents) and the process stops between two of
//! their writes: a crash, or a disk that fails from some write on so that not even the
//! cleanup after the error reaches the file (what a kill -9 of `damfs import` leaves).
//! A later open must show the store without any of those documents, never the first
//! batches of them.

use damfs::store::io::faults::{self, Fault, Plan};
use damfs::DocumentArrayMemmap;

use crate::support::store::*;

const N: usize = 50_000;

fn many() -> impl Iterator<Item = damfs::Document> {
    (0..N).map(|i| doc(&format!("extend{i:06}"), "t"))
}

#[test]
fn an_extend_stopped_between_its_index_batches_leaves_none_of_its_documents() {
    // How many I/O calls a whole extend makes (the index writes are the last ones).
    let sizing = scratch();
    let mut dam = with_docs(sizing.path(), 3, 0);
    dam.save().unwrap();
    faults::count_only();
    dam.extend(many()).unwrap();
    let calls = faults::calls();
    faults::disarm();
    assert!(
        file_sizes(sizing.path()).0 > (1 << 20) + 4096,
        "the index spans several batches"
    );
    drop(dam);

    // Every call from the last few on fails for good: the last index writes, the magic
    // write and the cut-back after the error among them.
    for at in calls.saturating_sub(6)..calls {
        let dir = scratch();
        let mut dam = with_docs(dir.path(), 3, 0);
        dam.save().unwrap();
        let saved = snapshot(&dam);
        faults::arm(Plan {
            at,
            fault: Fault::Io,
            persistent: true,
        });
        let result = dam.extend(many());
        faults::disarm();
        // The process stops here: nothing more reaches the files.
        std::mem::forget(dam);
        let after = read_store(dir.path());
        if result.is_ok() {
            assert_eq!(
                after.len(),
                3 + N,
                "call {at}: a finished extend is all there"
            );
        } else {
            assert_same(&after, &saved, &format!("call {at} failed: {result:?}"));
        }
        // And the next writer takes the store on from there.
        let mut dam = DocumentArrayMemmap::open_with(dir.path(), writable(0)).unwrap();
        dam.append(doc("next", "n")).unwrap();
        dam.save().unwrap();
        drop(dam);
        assert_eq!(read_store(dir.path()).len(), after.len() + 1, "call {at}");
    }
}

/// The same for one delete of so many ids that its DELETE entries take three batches,
/// written with one call that is cut short half-way (the first batch whole) and then fails
/// for good (the documents kept have long ids, so that the delete leaves too little garbage
/// for an index compaction: the last calls are the delete's own).
#[test]
fn a_delete_of_many_ids_stopped_between_its_index_batches_removes_none() {
    const GONE: usize = 230_000;
    let ids: Vec<String> = (0..GONE).map(|i| format!("id_{i}")).collect();
    let fill = |dam: &mut DocumentArrayMemmap| {
        dam.extend(ids.iter().map(|id| doc(id, "t"))).unwrap();
        let long = "k".repeat(240);
        dam.extend((0..70_000).map(|i| doc(&format!("keep{i}{long}"), "t")))
            .unwrap();
        dam.save().unwrap();
    };
    let sizing = scratch();
    let mut dam = open(sizing.path(), 0);
    fill(&mut dam);
    let (index0, _) = file_sizes(sizing.path());
    faults::count_only();
    dam.delete_ids(&ids).unwrap();
    let calls = faults::calls();
    faults::disarm();
    assert!(
        file_sizes(sizing.path()).0 > index0 + (2 << 20),
        "the deletes span three batches (and the index was not compacted)"
    );
    drop(dam);

    let dir = scratch();
    let mut dam = open(dir.path(), 0);
    fill(&mut dam);
    drop(dam);
    let saved = read_store(dir.path());
    let pristine = store_bytes(dir.path());
    for at in calls.saturating_sub(4)..calls {
        for (name, bytes) in &pristine {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let mut dam = open(dir.path(), 0);
        faults::arm(Plan {
            at,
            fault: Fault::ShortWrite,
            persistent: true,
        });
        let result = dam.delete_ids(&ids);
        faults::disarm();
        std::mem::forget(dam);
        let after = read_store(dir.path());
        if result.is_ok() {
            assert_eq!(
                after.len(),
                70_000,
                "call {at}: a finished delete removed them all"
            );
        } else {
            assert_same(&after, &saved, &format!("call {at} failed: {result:?}"));
        }
    }
}
