//! Names: one inode per document, rm and mv, control files, listings.

use super::*;

#[test]
fn positions_and_ids_are_one_inode() {
    let f = fixture(3);
    let a = f.fs.lookup(ROOT_INO, os("1")).unwrap();
    let b = f.fs.lookup(BY_ID_INO, os("id_1")).unwrap();
    assert_eq!(a.attr.ino, b.attr.ino);
    assert_eq!(a.attr.nlink, 2);
    assert_eq!(
        a.entry_ttl,
        Duration::ZERO,
        "names are revalidated on a read-write mount"
    );
    assert_eq!(b.entry_ttl, Duration::ZERO);
    assert_eq!(a.attr.size, f.cat(ROOT_INO, "1").len() as u64);
    assert_eq!(f.cat(ROOT_INO, "1"), "{\"id\":\"id_1\",\"text\":\"doc 1\"}");
    assert_eq!(
        f.fs.lookup(ROOT_INO, os("3")).unwrap_err().errno,
        libc::ENOENT
    );
    assert_eq!(
        f.fs.lookup(ROOT_INO, os("01")).unwrap_err().errno,
        libc::ENOENT
    );
    let long = "x".repeat(256);
    assert_eq!(
        f.fs.lookup(BY_ID_INO, os(&long)).unwrap_err().errno,
        libc::ENAMETOOLONG
    );
}

#[test]
fn rm_shifts_positions_and_the_other_name_is_gone() {
    let f = fixture(7);
    let gone = f.ino(BY_ID_INO, "id_0");
    f.fs.unlink(ROOT_INO, os("0")).unwrap();
    f.fs.unlink(ROOT_INO, os("5")).unwrap();
    assert_eq!(f.ids(), ["id_1", "id_2", "id_3", "id_4", "id_5"]);
    // Names are never cached on a read-write mount; the inode's attributes are dropped.
    assert!(f.fs.take_invalidations().inodes.contains(&gone));
    assert_eq!(
        f.fs.lookup(BY_ID_INO, os("id_0")).unwrap_err().errno,
        libc::ENOENT
    );
    f.fs.unlink(BY_ID_INO, os("id_3")).unwrap();
    assert_eq!(
        f.fs.unlink(BY_ID_INO, os("id_3")).unwrap_err().errno,
        libc::ENOENT
    );
    assert_eq!(
        f.fs.unlink(ROOT_INO, os(".stats")).unwrap_err().errno,
        libc::EPERM
    );
    assert_eq!(f.ids(), ["id_1", "id_2", "id_4", "id_5"]);
}

#[test]
fn mv_renames_ids_and_replaces_targets_in_place() {
    let f = fixture(4);
    let a = f.ino(BY_ID_INO, "id_0");
    f.fs.rename(BY_ID_INO, os("id_0"), BY_ID_INO, os("zero"), 0)
        .unwrap();
    assert_eq!(f.ids(), ["zero", "id_1", "id_2", "id_3"]);
    assert_eq!(f.cat(ROOT_INO, "0"), "{\"id\":\"zero\",\"text\":\"doc 0\"}");
    assert_eq!(
        f.ino(BY_ID_INO, "zero"),
        a,
        "the inode follows the document"
    );
    // Onto an existing document: it takes the target's position, the source's goes.
    f.fs.rename(BY_ID_INO, os("zero"), BY_ID_INO, os("id_2"), 0)
        .unwrap();
    assert_eq!(f.ids(), ["id_1", "id_2", "id_3"]);
    assert_eq!(
        f.cat(BY_ID_INO, "id_2"),
        "{\"id\":\"id_2\",\"text\":\"doc 0\"}"
    );
    assert_eq!(f.ino(BY_ID_INO, "id_2"), a);
    // Documents cannot become temporaries or get bad ids.
    assert_eq!(
        f.fs.rename(ROOT_INO, os("0"), ROOT_INO, os("x.bak"), 0)
            .unwrap_err()
            .errno,
        libc::EPERM
    );
    assert_eq!(
        f.fs.rename(ROOT_INO, os("0"), BY_ID_INO, os(".hidden"), 0)
            .unwrap_err()
            .errno,
        libc::EPERM
    );
    // A name onto itself (two links of one inode) is a no-op.
    f.fs.rename(ROOT_INO, os("0"), BY_ID_INO, os("id_1"), 0)
        .unwrap();
    assert_eq!(f.ids(), ["id_1", "id_2", "id_3"]);
}

#[test]
fn control_files_run_and_refuse_other_text() {
    let f = fixture(3);
    f.fs.unlink(ROOT_INO, os("1")).unwrap();
    let ino = f.ino(ROOT_INO, ".prune");
    let o = f.fs.open(ino, WR_TRUNC).unwrap();
    assert_eq!(
        f.fs.write(ino, o.fh, 0, b"2\n").unwrap_err().errno,
        libc::EINVAL
    );
    f.fs.write(ino, o.fh, 0, b"1\n").unwrap();
    f.fs.release(ino, o.fh);
    assert_eq!(f.fs.lock().store.stats().garbage_bytes, 0);
    assert!(f.cat(ROOT_INO, ".prune").contains("write 1"));
    let stats: serde_json::Value = serde_json::from_str(&f.cat(ROOT_INO, ".stats")).unwrap();
    assert_eq!(stats["length"], 2);
    assert_eq!(stats["pid"], std::process::id());
    let c = f.ino(ROOT_INO, ".clear");
    let o = f.fs.open(c, WR_TRUNC).unwrap();
    f.fs.write(c, o.fh, 0, b"1").unwrap();
    f.fs.release(c, o.fh);
    assert!(f.ids().is_empty());
    assert_eq!(
        f.fs.lookup(BY_ID_INO, os("id_0")).unwrap_err().errno,
        libc::ENOENT
    );
}

#[test]
fn readdirplus_counts_lookups_and_lists_everything() {
    let f = fixture(3);
    let (e, t) =
        f.fs.create(ROOT_INO, os("tmp.x"), 0o644, CREATE_EXCL)
            .unwrap();
    f.fs.release(e.attr.ino, t.fh);
    let all = f.fs.readdir(ROOT_INO, 0, true, usize::MAX).unwrap();
    let names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            ".",
            "..",
            "by-id",
            ".stats",
            ".all.jsonl",
            ".append.jsonl",
            ".reload",
            ".save",
            ".prune",
            ".clear",
            "0",
            "1",
            "2",
            "tmp.x"
        ]
    );
    // Paging: continue from an entry's next_offset.
    let page =
        f.fs.readdir(ROOT_INO, all[10].next_offset, false, 2)
            .unwrap();
    assert_eq!(
        page.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["1", "2"]
    );
    let by_id = f.fs.readdir(BY_ID_INO, 0, true, usize::MAX).unwrap();
    assert_eq!(by_id[2].entry.unwrap().attr.ino, all[10].ino);
}

/// Lists `dir` in batches of `batch`, running `between` after each batch.
fn list_in_batches(
    f: &Fixture,
    dir: Ino,
    batch: usize,
    mut between: impl FnMut(usize),
) -> Vec<String> {
    let mut names = Vec::new();
    let mut offset = 0;
    for round in 0.. {
        let got = f.fs.readdir(dir, offset, false, batch).unwrap();
        let Some(last) = got.last() else { break };
        offset = last.next_offset;
        names.extend(got.iter().map(|e| e.name.clone()));
        between(round);
    }
    names.retain(|n| n != "." && n != "..");
    names
}

#[test]
fn a_listing_in_batches_returns_every_surviving_entry_once_despite_deletes() {
    let f = fixture(30);
    // Between batches, delete documents before the resume point (they shift every later
    // position down) and one just after it.
    let mut deleted = Vec::new();
    let names = list_in_batches(&f, BY_ID_INO, 7, |round| {
        for victim in [format!("id_{}", round * 2), format!("id_{}", round * 7 + 8)] {
            if f.fs.unlink(BY_ID_INO, os(&victim)).is_ok() {
                deleted.push(victim);
            }
        }
    });
    let mut seen = std::collections::HashSet::new();
    for n in &names {
        assert!(seen.insert(n.clone()), "{n} listed twice: {names:?}");
    }
    for i in 0..30 {
        let id = format!("id_{i}");
        if !deleted.contains(&id) {
            assert!(
                seen.contains(&id),
                "{id} survived but was skipped: {names:?}"
            );
        }
    }
}

#[test]
fn a_listing_of_the_root_in_batches_survives_deletes_too() {
    let f = fixture(12);
    let names = list_in_batches(&f, ROOT_INO, 5, |_| {
        let _ = f.fs.unlink(ROOT_INO, os("0"));
    });
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "no name twice: {names:?}");
}
