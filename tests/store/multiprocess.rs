//! Two-process tests, on both backends. The child is this test binary itself, re-executed
//! with `--exact multiprocess::child_process --nocapture` and told what to do by environment
//! variables, so no extra binary is needed. (Run normally, `child_process` does nothing.) The
//! store is a directory or a PostgreSQL URL (of the parent's server).

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use damfs::{Slice, Store};

use crate::support::both_backends;
use crate::support::place::{reopen, Place};
use crate::support::process::child_test;
use crate::support::store::*;

/// The child's handle on the store (either backend).
fn open_store(store: &Path, pool: usize) -> Store {
    Store::open_with(store, writable(pool)).unwrap()
}

const MODE: &str = "DAMFS_TEST_CHILD";
const STORE: &str = "DAMFS_TEST_STORE";
const ARG: &str = "DAMFS_TEST_ARG";

fn spawn(mode: &str, store: &Path, arg: &str) -> Child {
    child_test(module_path!(), "child_process")
        .env(MODE, mode)
        .env(STORE, store)
        .env(ARG, arg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_ok(child: Child) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_child(mode: &str, store: &Path, arg: &str) {
    wait_ok(spawn(mode, store, arg));
}

/// What the child does, by mode.
#[test]
fn child_process() {
    let Ok(mode) = env::var(MODE) else { return };
    let store = PathBuf::from(env::var(STORE).unwrap());
    let arg = env::var(ARG).unwrap_or_default();
    match mode.as_str() {
        // "prefix count": append `count` documents `prefix{i}`, one call each; every 7th is
        // changed again, and every 10th append is followed by a save
        "append" => {
            let (prefix, count) = arg.split_once(' ').unwrap();
            let count: usize = count.parse().unwrap();
            let mut dam = open_store(&store, 3);
            for i in 0..count {
                let id = format!("{prefix}{i}");
                dam.append(doc(&id, &format!("{prefix} first {i}")))
                    .unwrap();
                if i % 7 == 0 {
                    dam.set_by_id(&id, doc(&id, &format!("{prefix} second {i}")))
                        .unwrap();
                }
                if i % 10 == 9 {
                    dam.save().unwrap();
                }
            }
        }
        "delete_prune" => {
            let mut dam = open_store(&store, 1000);
            dam.delete_by_id(&arg).unwrap();
            dam.prune().unwrap();
        }
        "prune" => {
            let mut dam = open_store(&store, 1000);
            dam.prune().unwrap();
        }
        "clear" => {
            let mut dam = open_store(&store, 1000);
            dam.clear().unwrap();
        }
        "clear_append" => {
            let mut dam = open_store(&store, 1000);
            dam.clear().unwrap();
            dam.append(doc(&arg, "after clear")).unwrap();
        }
        // keep pruning and deleting every other document from the front until told to stop
        "prune_loop" => {
            let rounds: usize = arg.parse().unwrap();
            let mut dam = open_store(&store, 10);
            for _ in 0..rounds {
                dam.prune().unwrap();
            }
        }
        other => panic!("unknown child mode {other}"),
    }
}

/// What a writer with `prefix` wrote in the "append" mode, in order.
fn appended(prefix: &str, count: usize) -> Vec<(String, String)> {
    (0..count)
        .map(|i| {
            let id = format!("{prefix}{i}");
            let text = if i % 7 == 0 {
                format!("{prefix} second {i}")
            } else {
                format!("{prefix} first {i}")
            };
            let d = doc(&id, &text);
            (id, d.json().to_owned())
        })
        .collect()
}

/// A child appends while the parent holds the store open; the parent sees the documents
/// after `reload`, and its own later writes keep them.
fn child_appends_parent_reloads(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend([doc("p0", "parent"), doc("p1", "parent")])
        .unwrap();
    dam.update(0, |d| d.set("text", "parent, unsaved"))
        .unwrap()
        .unwrap();
    run_child("append", &place.store, "c 25");
    assert_eq!(dam.len(), 2, "no reload yet");
    dam.reload().unwrap();
    let mut expected = vec![
        (
            "p0".to_owned(),
            doc("p0", "parent, unsaved").json().to_owned(),
        ),
        ("p1".to_owned(), doc("p1", "parent").json().to_owned()),
    ];
    expected.extend(appended("c", 25));
    assert_same(&snapshot(&dam), &expected, "after reload");
    dam.append(doc("p2", "parent")).unwrap();
    expected.push(("p2".to_owned(), doc("p2", "parent").json().to_owned()));
    let dam = reopen(place, dam);
    assert_same(&snapshot(&dam), &expected, "after reopen");
}

/// Three writers (two children and the parent) append concurrently, saving now and then;
/// a fresh open sees every document exactly once with its last content, and each writer's
/// documents in that writer's order.
fn concurrent_appends_never_interleave(place: &Place) {
    drop(place.open(3));
    const N: usize = 300;
    let a = spawn("append", &place.store, &format!("a {N}"));
    let b = spawn("append", &place.store, &format!("b {N}"));
    {
        let mut dam = place.open(3);
        for i in 0..N {
            let id = format!("p{i}");
            dam.append(doc(&id, &format!("p first {i}"))).unwrap();
            if i % 7 == 0 {
                dam.set_by_id(&id, doc(&id, &format!("p second {i}")))
                    .unwrap();
            }
        }
    }
    wait_ok(a);
    wait_ok(b);
    let all = place.contents();
    assert_eq!(all.len(), 3 * N);
    for prefix in ["a", "b", "p"] {
        let mine: Vec<(String, String)> = all
            .iter()
            .filter(|(id, _)| id.starts_with(prefix))
            .cloned()
            .collect();
        assert_same(&mine, &appended(prefix, N), prefix);
    }
    let mut dam = place.open(1000);
    dam.prune().unwrap();
    assert_same(&snapshot(&dam), &all, "after prune");
    drop(dam);
    if !place.postgres {
        assert_no_leftovers(&place.store);
    }
}

/// A child prunes while the parent has unsaved changes: the parent's save lands in the new
/// generation; nothing is lost and the replaced files are gone.
fn child_prunes_while_parent_has_dirty_changes(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend((0..10).map(|i| doc(&format!("d{i}"), "v1")))
        .unwrap();
    dam.save().unwrap();
    for i in 0..5 {
        dam.update(i, |d| d.set("text", "parent v2"))
            .unwrap()
            .unwrap();
    }
    let gen_before = dam.stats().generation;
    run_child("delete_prune", &place.store, "d9");
    dam.save().unwrap();
    assert!(
        dam.stats().generation > gen_before,
        "did not follow the new generation"
    );
    if !place.postgres {
        assert_no_leftovers(&place.store);
    }
    let expected: Vec<(String, String)> = (0..9)
        .map(|i| {
            let d = doc(&format!("d{i}"), if i < 5 { "parent v2" } else { "v1" });
            (d.id().to_owned(), d.json().to_owned())
        })
        .collect();
    assert_same(&place.contents(), &expected, "after the parent's save");
    // the parent's view: it had not reloaded, so it still shows d9 until it writes or reloads
    dam.reload().unwrap();
    assert_same(&snapshot(&dam), &expected, "parent after reload");
}

/// A child clears while the parent has unsaved changes: the parent's changed documents are
/// not lost — they are written back (as new documents) into the new generation.
fn child_clears_while_parent_has_dirty_changes(place: &Place) {
    let mut dam = place.open(1000);
    dam.extend((0..6).map(|i| doc(&format!("d{i}"), "v1")))
        .unwrap();
    dam.save().unwrap();
    dam.update(1, |d| d.set("text", "kept")).unwrap().unwrap();
    dam.update(4, |d| d.set("text", "kept")).unwrap().unwrap();
    run_child("clear_append", &place.store, "x");
    dam.save().unwrap();
    if !place.postgres {
        assert_no_leftovers(&place.store);
    }
    let on_disk = place.contents();
    let ids: Vec<&str> = on_disk.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(ids, ["x", "d1", "d4"]);
    assert_eq!(on_disk[1].1, doc("d1", "kept").json());
    assert_eq!(on_disk[2].1, doc("d4", "kept").json());
    dam.reload().unwrap();
    assert_same(&snapshot(&dam), &on_disk, "parent after reload");
}

/// A child prunes while the parent, with a small pool full of dirty documents, keeps
/// reading, changing and appending without reloading: every write lands in the live
/// generation and the parent never mixes up documents.
fn parent_with_small_pool_keeps_working_across_child_prunes(place: &Place) {
    let mut dam = place.open(2);
    dam.extend((0..20).map(|i| doc(&format!("d{i}"), "v1")))
        .unwrap();
    let mut model: Vec<(String, String)> = snapshot(&dam);
    for round in 0..6 {
        // dirty the pool
        for k in [round, round + 3] {
            let text = format!("round {round}");
            dam.update(k as isize, |d| d.set("text", text.as_str()))
                .unwrap()
                .unwrap();
            model[k].1 = doc(&model[k].0, &text).json().to_owned();
        }
        run_child("prune", &place.store, "");
        // reads that evict, an update, an append, a delete: all after the child's prune
        for (k, (_, json)) in model.iter().enumerate() {
            assert_eq!(
                dam.get(k as isize).unwrap().json(),
                json,
                "round {round} doc {k}"
            );
        }
        let id = format!("new{round}");
        dam.append(doc(&id, "appended")).unwrap();
        model.push((id.clone(), doc(&id, "appended").json().to_owned()));
        dam.delete_slice(Slice::new(Some(-1), None, Some(-9)))
            .unwrap();
        let mut p = model.len() as isize - 1;
        while p >= 0 {
            model.remove(p as usize);
            p -= 9;
        }
        assert_same(&snapshot(&dam), &model, &format!("round {round}"));
    }
    let dam = reopen(place, dam);
    assert_same(&snapshot(&dam), &model, "final");
    drop(dam);
    if !place.postgres {
        assert_no_leftovers(&place.store);
    }
}

/// A reader that never writes keeps reading its snapshot through another process's prunes
/// and clear, and sees the new state after reload.
fn reader_survives_prune_and_clear(place: &Place) {
    let mut w = place.open(1000);
    w.extend((0..20).map(|i| doc(&format!("d{i}"), "v")))
        .unwrap();
    w.save().unwrap();
    drop(w);
    let mut r = place.open_ro();
    let snap = snapshot(&r);
    run_child("delete_prune", &place.store, "d3");
    assert_same(&snapshot(&r), &snap, "reader snapshot after prune");
    r.reload().unwrap();
    assert_eq!(r.len(), 19);
    run_child("clear", &place.store, "");
    assert_eq!(r.len(), 19);
    assert_eq!(r.to_vec().unwrap().len(), 19);
    r.reload().unwrap();
    assert_eq!(r.len(), 0);
}

/// Writers append while another process prunes over and over: no append is lost, nothing
/// is duplicated, and no temporary file is left.
fn appends_race_repeated_prunes(place: &Place) {
    drop(place.open(3));
    const N: usize = 200;
    let pruner = spawn("prune_loop", &place.store, "40");
    let a = spawn("append", &place.store, &format!("a {N}"));
    {
        let mut dam = place.open(2);
        for i in 0..N {
            let id = format!("p{i}");
            dam.append(doc(&id, &format!("p first {i}"))).unwrap();
            if i % 7 == 0 {
                dam.set_by_id(&id, doc(&id, &format!("p second {i}")))
                    .unwrap();
            }
        }
    }
    wait_ok(a);
    wait_ok(pruner);
    let all = place.contents();
    assert_eq!(all.len(), 2 * N);
    for prefix in ["a", "p"] {
        let mine: Vec<(String, String)> = all
            .iter()
            .filter(|(id, _)| id.starts_with(prefix))
            .cloned()
            .collect();
        assert_same(&mine, &appended(prefix, N), prefix);
    }
    drop(place.open(0));
    if !place.postgres {
        assert_no_leftovers(&place.store);
    }
}

both_backends!(
    child_appends_parent_reloads,
    concurrent_appends_never_interleave,
    child_prunes_while_parent_has_dirty_changes,
    child_clears_while_parent_has_dirty_changes,
    parent_with_small_pool_keeps_working_across_child_prunes,
    reader_survives_prune_and_clear,
    appends_race_repeated_prunes,
);
