//! What editors and tools do: sed -i, vim, jq + mv, new documents in by-id/.

use super::*;

#[test]
fn sed_in_place_in_root_keeps_the_position() {
    let f = fixture(3);
    // sed: open the doc, create sedXXXXXX, read, fchown, write temp, close both, rename.
    let doc = f.ino(ROOT_INO, "1");
    let d = f.fs.open(doc, RD).unwrap();
    let (e, t) =
        f.fs.create(ROOT_INO, os("sedAb12Cd"), 0o600, CREATE_EXCL)
            .unwrap();
    let text = String::from_utf8(f.fs.read(doc, d.fh, 0, 4096).unwrap()).unwrap();
    f.fs.setattr(
        e.attr.ino,
        Some(t.fh),
        SetAttr {
            uid: Some(0),
            gid: Some(0),
            ..Default::default()
        },
    )
    .unwrap();
    f.fs.flush(doc, d.fh).unwrap();
    f.fs.release(doc, d.fh);
    let edited = text.replace("doc 1", "edited");
    f.fs.write(e.attr.ino, t.fh, 0, edited.as_bytes()).unwrap();
    f.fs.flush(e.attr.ino, t.fh).unwrap();
    f.fs.release(e.attr.ino, t.fh);
    f.fs.rename(ROOT_INO, os("sedAb12Cd"), ROOT_INO, os("1"), 0)
        .unwrap();
    assert_eq!(f.cat(ROOT_INO, "1"), edited);
    assert_eq!(f.ids(), ["id_0", "id_1", "id_2"]);
    assert!(!f.names(ROOT_INO).contains(&"sedAb12Cd".to_string()));
}

#[test]
fn sed_in_place_in_by_id() {
    let f = fixture(3);
    let (e, t) =
        f.fs.create(BY_ID_INO, os("sedQwErTy"), 0o600, CREATE_EXCL)
            .unwrap();
    f.fs.write(e.attr.ino, t.fh, 0, b"{\"id\":\"id_2\",\"text\":\"x\"}\n")
        .unwrap();
    f.fs.flush(e.attr.ino, t.fh).unwrap();
    f.fs.release(e.attr.ino, t.fh);
    assert_eq!(f.ids().len(), 3, "a sed temporary never becomes a document");
    f.fs.rename(BY_ID_INO, os("sedQwErTy"), BY_ID_INO, os("id_2"), 0)
        .unwrap();
    assert_eq!(f.cat(ROOT_INO, "2"), "{\"id\":\"id_2\",\"text\":\"x\"}\n");
    assert_eq!(f.names(BY_ID_INO), [".", "..", "id_0", "id_1", "id_2"]);
}

#[test]
fn rename_of_invalid_temporary_onto_document_is_refused() {
    let f = fixture(2);
    let before = f.cat(ROOT_INO, "0");
    let (e, t) =
        f.fs.create(ROOT_INO, os("tmp.1"), 0o644, CREATE_EXCL)
            .unwrap();
    f.fs.write(e.attr.ino, t.fh, 0, b"{\"id\":\"id_1\"}")
        .unwrap();
    f.fs.flush(e.attr.ino, t.fh).unwrap();
    f.fs.release(e.attr.ino, t.fh);
    let r = f.fs.rename(ROOT_INO, os("tmp.1"), ROOT_INO, os("0"), 0);
    assert_eq!(
        r.unwrap_err().errno,
        libc::EINVAL,
        "wrong id for position 0"
    );
    assert_eq!(f.cat(ROOT_INO, "0"), before);
    assert!(f.names(ROOT_INO).contains(&"tmp.1".to_string()));
}

#[test]
fn rename_of_a_finished_invalid_temporary_onto_a_new_id_is_refused() {
    let f = fixture(1);
    // rsync: writes `.new.XXXXXX`, closes it, renames it onto `new`.
    let (e, t) =
        f.fs.create(BY_ID_INO, os(".new.Ab12Cd"), 0o600, CREATE_EXCL)
            .unwrap();
    f.fs.write(e.attr.ino, t.fh, 0, b"not json").unwrap();
    f.fs.flush(e.attr.ino, t.fh).unwrap();
    f.fs.release(e.attr.ino, t.fh);
    let r =
        f.fs.rename(BY_ID_INO, os(".new.Ab12Cd"), BY_ID_INO, os("new"), 0);
    assert_eq!(r.unwrap_err().errno, libc::EINVAL);
    assert_eq!(f.ids(), ["id_0"]);
    assert!(f.names(BY_ID_INO).contains(&".new.Ab12Cd".to_string()));
    assert!(!f.names(BY_ID_INO).contains(&"new".to_string()));
    // Still open, it is a document in the making: the rename works, its close judges it.
    let (e, t) =
        f.fs.create(BY_ID_INO, os(".late.Ab12Cd"), 0o600, CREATE_EXCL)
            .unwrap();
    f.fs.write(e.attr.ino, t.fh, 0, b"{\"text\":").unwrap();
    f.fs.rename(BY_ID_INO, os(".late.Ab12Cd"), BY_ID_INO, os("late"), 0)
        .unwrap();
    f.fs.write(e.attr.ino, t.fh, 8, b"\"done\"}").unwrap();
    f.fs.flush(e.attr.ino, t.fh).unwrap();
    f.fs.release(e.attr.ino, t.fh);
    assert_eq!(f.ids(), ["id_0", "late"]);
}

#[test]
fn vim_backup_copy_write_then_fsync() {
    let f = fixture(2);
    // swap file, backup copy `0~` in the same directory, then overwrite in place.
    let (sw, swh) =
        f.fs.create(ROOT_INO, os(".0.swp"), 0o600, CREATE_EXCL)
            .unwrap();
    f.fs.write(sw.attr.ino, swh.fh, 0, &[0u8; 4096]).unwrap();
    let (bk, bkh) =
        f.fs.create(
            ROOT_INO,
            os("0~"),
            0o644,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        )
        .unwrap();
    let old = f.cat(ROOT_INO, "0");
    f.fs.write(bk.attr.ino, bkh.fh, 0, old.as_bytes()).unwrap();
    f.fs.flush(bk.attr.ino, bkh.fh).unwrap();
    f.fs.release(bk.attr.ino, bkh.fh);
    let doc = f.ino(ROOT_INO, "0");
    let o = f.fs.open(doc, libc::O_WRONLY | libc::O_CREAT).unwrap();
    f.fs.setattr(
        doc,
        Some(o.fh),
        SetAttr {
            size: Some(0),
            ..Default::default()
        },
    )
    .unwrap();
    let new = old.replace("doc 0", "vim was here");
    f.fs.write(doc, o.fh, 0, new.as_bytes()).unwrap();
    f.fs.fsync(doc, o.fh).unwrap();
    f.fs.setattr(
        doc,
        Some(o.fh),
        SetAttr {
            mode: Some(0o100644),
            ..Default::default()
        },
    )
    .unwrap();
    f.fs.flush(doc, o.fh).unwrap();
    f.fs.release(doc, o.fh);
    f.fs.unlink(ROOT_INO, os("0~")).unwrap();
    f.fs.flush(sw.attr.ino, swh.fh).unwrap();
    f.fs.release(sw.attr.ino, swh.fh);
    f.fs.unlink(ROOT_INO, os(".0.swp")).unwrap();
    assert_eq!(f.cat(BY_ID_INO, "id_0"), new);
    assert_eq!(f.names(ROOT_INO).len(), 10 + 2, "no stray files");
    assert_eq!(
        f.fs.lock().store.stats().pool_dirty,
        0,
        "fsync saved the store"
    );
}

#[test]
fn jq_to_temporary_then_mv() {
    let f = fixture(2);
    // dash: the parent creates tmp and flushes it empty; the child writes; mv renames.
    let (e, t) =
        f.fs.create(
            ROOT_INO,
            os("tmp"),
            0o644,
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        )
        .unwrap();
    f.fs.flush(e.attr.ino, t.fh).unwrap();
    f.fs.write(
        e.attr.ino,
        t.fh,
        0,
        b"{\n  \"id\": \"id_1\",\n  \"x\": 1\n}\n",
    )
    .unwrap();
    f.fs.flush(e.attr.ino, t.fh).unwrap();
    f.fs.flush(e.attr.ino, t.fh).unwrap(); // dup'ed flush from another process
    f.fs.release(e.attr.ino, t.fh);
    let r = f.fs.rename(
        ROOT_INO,
        os("tmp"),
        ROOT_INO,
        os("1"),
        libc::RENAME_NOREPLACE,
    );
    assert_eq!(r.unwrap_err().errno, libc::EEXIST);
    f.fs.rename(ROOT_INO, os("tmp"), ROOT_INO, os("1"), 0)
        .unwrap();
    assert_eq!(
        f.cat(ROOT_INO, "1"),
        "{\n  \"id\": \"id_1\",\n  \"x\": 1\n}\n"
    );
}

#[test]
fn new_documents_are_made_in_by_id() {
    let f = fixture(1);
    let (e, t) =
        f.fs.create(
            BY_ID_INO,
            os("fresh"),
            0o644,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL,
        )
        .unwrap();
    f.fs.flush(e.attr.ino, t.fh).unwrap(); // touch-like flush: no data, nothing happens
    f.fs.write(e.attr.ino, t.fh, 0, b"{\"text\":\"hi\"}")
        .unwrap();
    f.fs.flush(e.attr.ino, t.fh).unwrap();
    f.fs.release(e.attr.ino, t.fh);
    assert_eq!(f.ids(), ["id_0", "fresh"]);
    assert_eq!(f.cat(ROOT_INO, "1"), "{\"id\":\"fresh\",\"text\":\"hi\"}");
    assert_eq!(
        f.ino(ROOT_INO, "1"),
        e.attr.ino,
        "the created inode is the document's"
    );
    // Creating in the root is only for temporaries: a name like a position past the end
    // (vim's `4913` probe) is one, and never a document; an existing position exists.
    let (probe, ph) = f.fs.create(ROOT_INO, os("5"), 0o644, CREATE_EXCL).unwrap();
    f.fs.write(probe.attr.ino, ph.fh, 0, b"{\"text\":\"probe\"}")
        .unwrap();
    f.fs.flush(probe.attr.ino, ph.fh).unwrap();
    f.fs.release(probe.attr.ino, ph.fh);
    assert_eq!(f.ids(), ["id_0", "fresh"]);
    assert_eq!(f.cat(ROOT_INO, "5"), "{\"text\":\"probe\"}");
    f.fs.unlink(ROOT_INO, os("5")).unwrap();
    assert_eq!(
        f.fs.create(ROOT_INO, os("1"), 0o644, CREATE_EXCL)
            .unwrap_err()
            .errno,
        libc::EEXIST
    );
    assert_eq!(
        f.fs.create(BY_ID_INO, os("fresh"), 0o644, CREATE_EXCL)
            .unwrap_err()
            .errno,
        libc::EEXIST
    );
}

#[test]
fn bad_new_documents_fail_at_close_and_leave_nothing() {
    let f = fixture(1);
    for (name, text) in [
        ("ghost", "{\"id\":\"nobody\"}"),
        ("junk", "not json"),
        ("arr", "[]"),
    ] {
        let (e, t) =
            f.fs.create(BY_ID_INO, os(name), 0o644, CREATE_EXCL)
                .unwrap();
        f.fs.write(e.attr.ino, t.fh, 0, text.as_bytes()).unwrap();
        assert_eq!(
            f.fs.flush(e.attr.ino, t.fh).unwrap_err().errno,
            libc::EINVAL,
            "{name}"
        );
        f.fs.release(e.attr.ino, t.fh);
        assert_eq!(
            f.fs.lookup(BY_ID_INO, os(name)).unwrap_err().errno,
            libc::ENOENT
        );
    }
    assert_eq!(f.ids(), ["id_0"]);
    // JSON naming another existing document stays a temporary (a pending replacement).
    let (e, t) =
        f.fs.create(BY_ID_INO, os("copy"), 0o644, CREATE_EXCL)
            .unwrap();
    f.fs.write(e.attr.ino, t.fh, 0, b"{\"id\":\"id_0\",\"v\":2}")
        .unwrap();
    f.fs.flush(e.attr.ino, t.fh).unwrap();
    f.fs.release(e.attr.ino, t.fh);
    assert_eq!(f.ids(), ["id_0"]);
    assert!(f.names(BY_ID_INO).contains(&"copy".to_string()));
}
