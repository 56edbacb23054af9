//! The store's semantics, scenario by scenario, on both backends (the memmap store and
//! PostgreSQL): order and positions, ids, exact texts, validation, the buffer pool, save,
//! reload, clear, prune, duplicate ids, and a second handle catching up with the first.

use damfs::{Document, Error, Slice, Store};
use serde_json::json;

use crate::support;
use crate::support::both_backends;
use crate::support::place::{wait_for_changes, Place};
use crate::support::store::{ids, snapshot};

fn doc(id: &str, text: &str) -> Document {
    Document::from_value(json!({ "id": id, "text": text })).unwrap()
}

fn docs(range: std::ops::Range<usize>) -> Vec<Document> {
    range
        .map(|i| doc(&format!("d{i}"), &format!("text {i}")))
        .collect()
}

/// Closes the handle (which saves) and checks that a fresh one shows what it showed.
#[track_caller]
fn assert_reopens_the_same(place: &Place, store: Store) {
    let before = snapshot(&store);
    drop(store);
    assert_eq!(
        place.contents(),
        before,
        "a reopened store differs from memory"
    );
}

fn order_and_positions(place: &Place) {
    let mut s = place.open(10);
    s.extend(docs(0..50)).unwrap();
    s.append(doc("last", "the end")).unwrap();
    assert_eq!(s.len(), 51);
    assert_eq!(s.get(0).unwrap().id(), "d0");
    assert_eq!(s.get(-1).unwrap().id(), "last");
    assert_eq!(s.get(-2).unwrap().text().as_deref(), Some("text 49"));
    assert_eq!(s.position_of("d17"), Some(17));
    assert_eq!(s.id_at(30), Some("d30"));
    assert!(matches!(
        s.get(51),
        Err(Error::IndexOutOfRange { index: 51, len: 51 })
    ));
    assert!(matches!(s.get(-52), Err(Error::IndexOutOfRange { .. })));
    // Deletes close the gap: positions after them move down, ids stay.
    s.delete(0).unwrap();
    s.delete_by_id("d10").unwrap();
    s.delete_slice(Slice::new(Some(0), Some(6), Some(2)))
        .unwrap();
    assert_eq!(&ids(&s)[..5], ["d2", "d4", "d6", "d7", "d8"]);
    assert_eq!(s.position_of("d11"), Some(6));
    assert_eq!(s.len(), 51 - 5);
    let popped = s.pop().unwrap();
    assert_eq!(popped.id(), "last");
    let slice = s.get_slice(Slice::new(Some(-3), None, None)).unwrap();
    let slice_ids: Vec<&str> = slice.iter().map(Document::id).collect();
    assert_eq!(slice_ids, ["d47", "d48", "d49"]);
    assert_reopens_the_same(place, s);
}

fn duplicate_ids_are_refused_and_change_nothing(place: &Place) {
    let mut s = place.open(10);
    s.extend(docs(0..5)).unwrap();
    s.save().unwrap();
    let before = snapshot(&s);
    let batch = vec![doc("new1", "a"), doc("d3", "clash")];
    assert!(matches!(s.extend(batch), Err(Error::DuplicateId(id)) if id == "d3"));
    let repeated = vec![doc("x", "a"), doc("x", "b")];
    assert!(matches!(s.extend(repeated), Err(Error::DuplicateId(id)) if id == "x"));
    assert!(matches!(
        s.append(doc("d0", "again")),
        Err(Error::DuplicateId(_))
    ));
    assert!(matches!(s.rename("d1", "d2"), Err(Error::DuplicateId(_))));
    assert!(matches!(
        s.set(0, doc("d4", "x")),
        Err(Error::DuplicateId(_))
    ));
    assert_eq!(snapshot(&s), before);
    assert_eq!(place.contents(), before);
    // Another handle's append of an id this one does not know yet is refused by the store.
    let mut other = place.open(10);
    other.append(doc("raced", "first")).unwrap();
    drop(other);
    assert!(matches!(
        s.append(doc("raced", "second")),
        Err(Error::DuplicateId(_))
    ));
}

fn texts_are_kept_byte_for_byte(place: &Place) {
    let texts = [
        "{\n  \"id\": \"pretty\",\n  \"text\": \"tab\\there\"\n}",
        "{\"id\":\"unicode\",\"text\":\"naïve ☃ 𝄞 \\u00e9\"}",
        "{\"id\":\"slashes\",\"text\":\"back\\\\slash \\\\n not a newline\",\t\"x\" : 1 }",
        "{\"id\":\"crlf\",\r\n\"text\":\"\"}",
        "{\"id\":\"big\",\"text\":\"",
    ];
    let mut s = place.open(0);
    let big = format!("{}{}\"}}", texts[4], "x".repeat(300_000));
    let all: Vec<String> = texts[..4]
        .iter()
        .map(|t| t.to_string())
        .chain([big])
        .collect();
    s.extend(all.iter().map(|t| Document::from_json(t.clone()).unwrap()))
        .unwrap();
    drop(s);
    let back: Vec<String> = place.contents().into_iter().map(|(_, j)| j).collect();
    assert_eq!(back, all);
    // A rename rewrites only the id.
    let mut s = place.open(0);
    s.rename("pretty", "renamed").unwrap();
    drop(s);
    let s = place.open_ro();
    let text = s
        .with_json("renamed", |b| String::from_utf8(b.to_vec()).unwrap())
        .unwrap();
    assert_eq!(text, all[0].replace("\"pretty\"", "\"renamed\""));
}

fn validation_errors(place: &Place) {
    let mut s = place.open(10);
    assert!(matches!(s.get(0), Err(Error::IndexOutOfRange { .. })));
    assert!(matches!(s.pop(), Err(Error::IndexOutOfRange { .. })));
    s.extend(docs(0..3)).unwrap();
    assert!(matches!(s.get_by_id("nope"), Err(Error::NotFound(_))));
    assert!(matches!(s.delete_by_id("nope"), Err(Error::NotFound(_))));
    assert!(matches!(s.rename("nope", "x"), Err(Error::NotFound(_))));
    assert!(matches!(
        s.set_by_id("d0", doc("d1", "x")),
        Err(Error::IdMismatch { .. })
    ));
    assert!(matches!(
        s.set_by_id("nope", doc("nope", "x")),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        s.update(0, |d| *d = d.with_id("other").unwrap()),
        Err(Error::IdMismatch { .. })
    ));
    assert!(matches!(
        s.rename("d0", ".hidden"),
        Err(Error::InvalidId { .. })
    ));
    assert!(matches!(
        s.delete_slice(Slice::step(0)),
        Err(Error::ZeroStep)
    ));
    s.save().unwrap();
    let mut ro = place.open_ro();
    assert!(matches!(ro.append(doc("x", "y")), Err(Error::ReadOnly)));
    assert!(matches!(ro.delete(0), Err(Error::ReadOnly)));
    assert!(matches!(ro.clear(), Err(Error::ReadOnly)));
    assert_eq!(ro.len(), 3);
}

fn the_pool_holds_changes_until_save(place: &Place) {
    let mut s = place.open(4);
    s.extend(docs(0..20)).unwrap();
    s.save().unwrap();
    s.update(0, |d| d.set("text", "changed 0"))
        .unwrap()
        .unwrap();
    s.set_by_id("d1", doc("d1", "changed 1")).unwrap();
    assert_eq!(s.get(0).unwrap().text().as_deref(), Some("changed 0"));
    assert_eq!(s.stats().pool_dirty, 2);
    let mut unsaved = s.unsaved_ids();
    unsaved.sort();
    assert_eq!(unsaved, ["d0", "d1"]);
    // Not in the store yet: a fresh handle reads the old texts.
    assert_eq!(
        place.open_ro().get(0).unwrap().text().as_deref(),
        Some("text 0")
    );
    s.save().unwrap();
    assert_eq!(s.stats().pool_dirty, 0);
    assert_eq!(
        place.open_ro().get(1).unwrap().text().as_deref(),
        Some("changed 1")
    );
    // More dirty documents than the pool holds: the oldest are written to make room.
    for i in 5..15 {
        s.update(i, |d| d.set("text", format!("pooled {i}")))
            .unwrap()
            .unwrap();
    }
    assert!(s.stats().pool_dirty <= 4);
    let stored = place.open_ro().get(5).unwrap().text();
    assert_eq!(
        stored.as_deref(),
        Some("pooled 5"),
        "an evicted dirty document is written"
    );
    assert_reopens_the_same(place, s);
}

fn reload_saves_first_and_sees_others(place: &Place) {
    let mut a = place.open(10);
    a.extend(docs(0..3)).unwrap();
    a.save().unwrap();
    a.update(2, |d| d.set("text", "mine")).unwrap().unwrap();
    let mut b = place.open(10);
    b.append(doc("theirs", "t")).unwrap();
    b.save().unwrap();
    a.reload().unwrap();
    assert_eq!(ids(&a), ["d0", "d1", "d2", "theirs"]);
    assert_eq!(a.get(2).unwrap().text().as_deref(), Some("mine"));
    drop(b);
    assert_eq!(
        place.open_ro().get(2).unwrap().text().as_deref(),
        Some("mine")
    );
}

fn rename_and_move_onto(place: &Place) {
    let mut s = place.open(10);
    s.extend(docs(0..4)).unwrap();
    s.update(1, |d| d.set("text", "dirty before rename"))
        .unwrap()
        .unwrap();
    s.rename("d1", "one").unwrap();
    assert_eq!(ids(&s), ["d0", "one", "d2", "d3"]);
    assert_eq!(
        s.get(1).unwrap().text().as_deref(),
        Some("dirty before rename")
    );
    assert_eq!(s.get(1).unwrap().get("id"), Some(json!("one")));
    s.move_onto("d3", "d0").unwrap();
    assert_eq!(ids(&s), ["d0", "one", "d2"]);
    assert_eq!(s.get(0).unwrap().text().as_deref(), Some("text 3"));
    s.set(2, doc("two", "replaced with a new id")).unwrap();
    assert_eq!(ids(&s), ["d0", "one", "two"]);
    assert_reopens_the_same(place, s);
}

fn clear_and_prune(place: &Place) {
    let mut s = place.open(10);
    s.extend(docs(0..100)).unwrap();
    s.delete_slice(Slice::new(Some(0), Some(90), None)).unwrap();
    s.update(0, |d| d.set("text", "kept")).unwrap().unwrap();
    s.prune().unwrap();
    assert_eq!(s.len(), 10);
    assert_eq!(
        place.open_ro().get(0).unwrap().text().as_deref(),
        Some("kept")
    );
    assert_eq!(place.contents(), snapshot(&s));
    let mut other = place.open(10);
    assert_eq!(other.len(), 10);
    s.clear().unwrap();
    assert_eq!(s.len(), 0);
    other.reload().unwrap();
    assert_eq!(other.len(), 0);
    other.append(doc("after", "clear")).unwrap();
    drop(other);
    s.reload().unwrap();
    assert_eq!(ids(&s), ["after"]);
}

/// Waits until `store` reports changes by others, then takes them in.
fn catch_up(store: &mut Store) {
    wait_for_changes(store);
    assert!(store.refresh(true).unwrap());
}

fn a_second_handle_catches_up(place: &Place) {
    let mut a = place.open(10);
    let mut b = place.open(10);
    a.extend(docs(0..10)).unwrap();
    a.save().unwrap();
    catch_up(&mut b);
    assert_eq!(snapshot(&b), snapshot(&a));
    // b keeps an unsaved change while it takes in a's changes of other documents.
    b.update_by_id("d9", |d| d.set("text", "b's unsaved"))
        .unwrap()
        .unwrap();
    let seen = b.external_changes();
    a.delete_by_id("d0").unwrap();
    a.rename("d5", "five").unwrap();
    a.set_by_id("d7", doc("d7", "a's text")).unwrap();
    a.append(doc("d10", "new")).unwrap();
    a.save().unwrap();
    catch_up(&mut b);
    assert!(b.external_changes() > seen);
    assert_eq!(
        b.get_by_id("d9").unwrap().text().as_deref(),
        Some("b's unsaved")
    );
    assert_eq!(
        b.get_by_id("d7").unwrap().text().as_deref(),
        Some("a's text")
    );
    assert_eq!(b.position_of("five"), Some(4));
    assert!(!b.contains("d0") && !b.contains("d5"));
    b.save().unwrap();
    let expected = snapshot(&b);
    catch_up(&mut a);
    assert_eq!(snapshot(&a), expected);
    drop((a, b));
    assert_eq!(place.contents(), expected);
}

fn a_change_to_a_document_another_handle_deleted_is_kept_at_the_end(place: &Place) {
    let mut a = place.open(10);
    a.extend(docs(0..3)).unwrap();
    a.save().unwrap();
    let mut b = place.open(10);
    b.update_by_id("d1", |d| d.set("text", "b's change"))
        .unwrap()
        .unwrap();
    a.delete_by_id("d1").unwrap();
    a.save().unwrap();
    b.reload().unwrap(); // saves b's change first
    let all = place.contents();
    let found: Vec<&str> = all.iter().map(|(id, _)| id.as_str()).collect();
    assert!(
        found.contains(&"d1"),
        "b's saved change was lost: {found:?}"
    );
    assert_eq!(found.last(), Some(&"d1"));
}

/// Two handles take turns changing one store (appends, replacements, deletes, renames):
/// nothing saved is lost, and both end up showing exactly what the store holds.
fn interleaved_writers_converge(place: &Place) {
    let mut handles = [place.open(8), place.open(8)];
    handles[0].extend(docs(0..20)).unwrap();
    handles[0].save().unwrap();
    handles[1].reload().unwrap();
    // Ids that must be in the store at the end (made, and not deleted or renamed away).
    let mut made: Vec<String> = Vec::new();
    let mut gone: std::collections::HashSet<String> = Default::default();
    for round in 0..40 {
        let s = &mut handles[round % 2];
        let n = s.len();
        match round % 4 {
            0 => {
                s.append(doc(&format!("app{round}"), "appended")).unwrap();
                made.push(format!("app{round}"));
            }
            1 => {
                let id = s.id_at(round % n).unwrap().to_owned();
                s.set_by_id(&id, doc(&id, &format!("replaced in round {round}")))
                    .unwrap();
            }
            2 => {
                let id = s.id_at((round * 7) % n).unwrap().to_owned();
                // Another handle may have deleted it a moment ago: that is not an error.
                if s.delete_by_id(&id).is_ok() {
                    gone.insert(id);
                }
            }
            _ => {
                let id = s.id_at((round * 3) % n).unwrap().to_owned();
                match s.rename(&id, &format!("renamed{round}")) {
                    Ok(()) => {
                        gone.insert(id);
                        made.push(format!("renamed{round}"));
                    }
                    Err(Error::NotFound(_)) => {}
                    Err(e) => panic!("rename: {e}"),
                }
            }
        }
        s.save().unwrap();
    }
    let stored = place.contents();
    for s in &mut handles {
        s.reload().unwrap();
        assert_eq!(snapshot(s), stored);
    }
    let stored_ids: Vec<&str> = stored.iter().map(|(id, _)| id.as_str()).collect();
    for id in made.iter().filter(|id| !gone.contains(*id)) {
        assert!(
            stored_ids.contains(&id.as_str()),
            "{id} was lost: {stored_ids:?}"
        );
    }
}

fn opening_no_store_read_only_fails_and_creates_nothing(place: &Place) {
    let r = Store::open_with(
        &place.store,
        damfs::Options {
            buffer_pool_size: 0,
            read_only: true,
        },
    );
    assert!(r.is_err(), "{r:?}");
    if let Some(db) = &place.db {
        assert!(matches!(r, Err(Error::NotAStore { .. })), "{r:?}");
        let server = support::postgres::shared().unwrap();
        let tables = server.psql(
            db,
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
        );
        assert_eq!(tables, "0");
    } else {
        assert!(!place.store.exists());
    }
}

/// A read-only handle reads the store as it was when it loaded it, however long it reads and
/// whatever writers do meanwhile: no deleted document missing, no text that disagrees with
/// the length it showed. Its next reload sees the writers' changes.
fn a_read_only_handle_reads_one_snapshot(place: &Place) {
    let mut w = place.open(1000);
    w.extend(docs(0..600)).unwrap();
    w.save().unwrap();
    let reader = place.open_ro();
    let before = snapshot(&reader);
    assert_eq!(before.len(), 600);
    // Spread over several of a reader's batches: deletes, longer texts, appends.
    for i in (0..600).step_by(2) {
        w.delete_by_id(&format!("d{i}")).unwrap();
    }
    for i in (1..600).step_by(4) {
        w.set_by_id(
            &format!("d{i}"),
            doc(&format!("d{i}"), &"longer ".repeat(20)),
        )
        .unwrap();
    }
    w.extend(docs(600..700)).unwrap();
    w.save().unwrap();
    let after = snapshot(&w);

    let mut reader = reader;
    assert_eq!(
        snapshot(&reader),
        before,
        "a reading changed under the reader"
    );
    for (id, json) in before.iter().step_by(7) {
        assert_eq!(reader.json_len(id), Some(json.len() as u64), "{id}");
        assert_eq!(reader.get_by_id(id).unwrap().json(), json, "{id}");
    }
    reader.reload().unwrap();
    assert_eq!(
        snapshot(&reader),
        after,
        "the reload missed the writer's changes"
    );
}

both_backends!(
    order_and_positions,
    duplicate_ids_are_refused_and_change_nothing,
    texts_are_kept_byte_for_byte,
    validation_errors,
    the_pool_holds_changes_until_save,
    reload_saves_first_and_sees_others,
    rename_and_move_onto,
    clear_and_prune,
    a_second_handle_catches_up,
    a_change_to_a_document_another_handle_deleted_is_kept_at_the_end,
    interleaved_writers_converge,
    opening_no_store_read_only_fails_and_creates_nothing,
    a_read_only_handle_reads_one_snapshot,
);
