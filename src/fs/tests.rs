//! The core driven the way real tools drive a mount (sequences from fuse-notes §2.2),
//! without a kernel.

use std::ffi::OsStr;

use super::*;
use crate::store::Options;
use std::time::Duration;

const RD: i32 = libc::O_RDONLY;
const WR_TRUNC: i32 = libc::O_WRONLY | libc::O_TRUNC;
const CREATE_EXCL: i32 = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;

struct Fixture {
    _dir: tempfile::TempDir,
    fs: Filesystem,
}

fn fixture_with(n: usize, config: FsConfig) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut dam = DocumentArrayMemmap::open(dir.path()).unwrap();
        dam.extend((0..n).map(|i| {
            Document::from_json(format!("{{\"id\":\"id_{i}\",\"text\":\"doc {i}\"}}")).unwrap()
        }))
        .unwrap();
    }
    let store = DocumentArrayMemmap::open_with(
        dir.path(),
        Options {
            buffer_pool_size: 2,
            read_only: config.read_only,
        },
    )
    .unwrap();
    Fixture {
        fs: Filesystem::new(store, config),
        _dir: dir,
    }
}

fn fixture(n: usize) -> Fixture {
    fixture_with(n, FsConfig::default())
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

impl Fixture {
    fn ino(&self, parent: Ino, name: &str) -> Ino {
        self.fs.lookup(parent, os(name)).unwrap().attr.ino
    }
    fn cat(&self, parent: Ino, name: &str) -> String {
        let ino = self.ino(parent, name);
        let o = self.fs.open(ino, RD).unwrap();
        let data = self.fs.read(ino, o.fh, 0, 1 << 20).unwrap();
        self.fs.release(ino, o.fh);
        String::from_utf8(data).unwrap()
    }
    fn ids(&self) -> Vec<String> {
        self.fs.lock().store.ids().map(String::from).collect()
    }
    fn names(&self, dir: Ino) -> Vec<String> {
        self.fs
            .readdir(dir, 0, false, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect()
    }
    /// bash `printf TEXT > /parent/name` on an existing file: OPEN(O_TRUNC), FLUSH before
    /// data, WRITE, FLUSH, RELEASE. Returns the first flush's and the last flush's result.
    fn redirect(&self, parent: Ino, name: &str, text: &str) -> (FsResult<()>, FsResult<()>) {
        let ino = self.ino(parent, name);
        let o = self.fs.open(ino, WR_TRUNC).unwrap();
        let early = self.fs.flush(ino, o.fh);
        self.fs.write(ino, o.fh, 0, text.as_bytes()).unwrap();
        let last = self.fs.flush(ino, o.fh);
        self.fs.release(ino, o.fh);
        (early, last)
    }
}

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
fn bash_redirect_replaces_after_the_early_flush_fails() {
    let f = fixture(3);
    let (early, last) = f.redirect(ROOT_INO, "1", "{\"text\":\"new\"}\n");
    assert_eq!(
        early.unwrap_err().errno,
        libc::EINVAL,
        "empty is not a document"
    );
    last.unwrap();
    let ino = f.ino(ROOT_INO, "1");
    assert!(f.fs.take_invalidations().inodes.contains(&ino));
    // Readers on a read-write mount read a snapshot with direct I/O, never the page cache.
    let o = f.fs.open(ino, RD).unwrap();
    assert!(!o.keep_cache && o.direct_io && o.noflush);
    f.fs.release(ino, o.fh);
    // The id was added as the first key; the rest is byte for byte.
    assert_eq!(
        f.cat(BY_ID_INO, "id_1"),
        "{\"id\":\"id_1\",\"text\":\"new\"}\n"
    );
    assert_eq!(f.ids(), ["id_0", "id_1", "id_2"]);
}

#[test]
fn append_redirect_fails_and_changes_nothing() {
    let f = fixture(2);
    let before = f.cat(ROOT_INO, "0");
    let ino = f.ino(ROOT_INO, "0");
    let o = f.fs.open(ino, libc::O_WRONLY | libc::O_APPEND).unwrap();
    f.fs.flush(ino, o.fh).unwrap(); // nothing written yet: a no-op
    f.fs.write(ino, o.fh, before.len() as u64, b"{}\n").unwrap();
    assert_eq!(f.fs.flush(ino, o.fh).unwrap_err().errno, libc::EINVAL);
    f.fs.release(ino, o.fh);
    assert_eq!(f.cat(ROOT_INO, "0"), before);
}

#[test]
fn invalid_writes_are_einval_and_leave_the_document() {
    let f = fixture(2);
    let before = f.cat(ROOT_INO, "0");
    for bad in [
        "",
        "not json",
        "[1,2]",
        "{\"a\":1} trailing",
        "{\"id\":\"id_1\"}",
        "{\"id\":7}",
        "{\"a\":",
    ] {
        let (_, last) = f.redirect(ROOT_INO, "0", bad);
        assert_eq!(last.unwrap_err().errno, libc::EINVAL, "{bad:?}");
        assert_eq!(f.cat(ROOT_INO, "0"), before, "{bad:?}");
    }
    let ino = f.ino(ROOT_INO, "0");
    let o = f.fs.open(ino, WR_TRUNC).unwrap();
    f.fs.write(ino, o.fh, 0, &[b'{', 0xff, b'}']).unwrap();
    assert_eq!(f.fs.flush(ino, o.fh).unwrap_err().errno, libc::EINVAL);
    f.fs.release(ino, o.fh);
    assert_eq!(f.cat(ROOT_INO, "0"), before);
}

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

#[test]
fn truncate_without_a_handle_is_refused_and_with_one_fails_at_close() {
    let f = fixture(1);
    let ino = f.ino(ROOT_INO, "0");
    let before = f.cat(ROOT_INO, "0");
    let e = f.fs.setattr(
        ino,
        None,
        SetAttr {
            size: Some(0),
            ..Default::default()
        },
    );
    assert_eq!(e.unwrap_err().errno, libc::EINVAL);
    let o = f.fs.open(ino, libc::O_WRONLY | libc::O_NONBLOCK).unwrap();
    f.fs.setattr(
        ino,
        Some(o.fh),
        SetAttr {
            size: Some(0),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(f.fs.flush(ino, o.fh).unwrap_err().errno, libc::EINVAL);
    f.fs.release(ino, o.fh);
    assert_eq!(f.cat(ROOT_INO, "0"), before);
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

#[test]
fn read_only_mounts_refuse_every_write() {
    let f = fixture_with(
        2,
        FsConfig {
            read_only: true,
            ..FsConfig::default()
        },
    );
    let ino = f.ino(ROOT_INO, "0");
    assert_eq!(
        f.fs.open(ino, libc::O_WRONLY).unwrap_err().errno,
        libc::EROFS
    );
    assert_eq!(
        f.fs.create(BY_ID_INO, os("n"), 0o644, CREATE_EXCL)
            .unwrap_err()
            .errno,
        libc::EROFS
    );
    assert_eq!(
        f.fs.unlink(ROOT_INO, os("0")).unwrap_err().errno,
        libc::EROFS
    );
    assert_eq!(
        f.fs.rename(BY_ID_INO, os("id_0"), BY_ID_INO, os("b"), 0)
            .unwrap_err()
            .errno,
        libc::EROFS
    );
    assert_eq!(
        f.fs.setattr(
            ino,
            None,
            SetAttr {
                size: Some(0),
                ..Default::default()
            }
        )
        .unwrap_err()
        .errno,
        libc::EROFS
    );
    assert_eq!(
        f.fs.write(RELOAD_INO, 0, 0, b"1").unwrap_err().errno,
        libc::EROFS
    );
    // Zero-message open: reads with no handle.
    assert!(f.fs.zero_message_open());
    assert!(!f.fs.read(ino, 0, 0, 100).unwrap().is_empty());
}

#[test]
fn limits_give_efbig_and_enospc() {
    let f = fixture_with(
        1,
        FsConfig {
            max_doc_size: 100,
            max_temp_bytes: 150,
            ..FsConfig::default()
        },
    );
    let ino = f.ino(ROOT_INO, "0");
    let o = f.fs.open(ino, WR_TRUNC).unwrap();
    assert_eq!(
        f.fs.write(ino, o.fh, 0, &[b' '; 101]).unwrap_err().errno,
        libc::EFBIG
    );
    f.fs.release(ino, o.fh);
    let (a, ah) =
        f.fs.create(ROOT_INO, os("a.tmp"), 0o644, CREATE_EXCL)
            .unwrap();
    f.fs.write(a.attr.ino, ah.fh, 0, &[1; 100]).unwrap();
    let (b, bh) =
        f.fs.create(ROOT_INO, os("b.tmp"), 0o644, CREATE_EXCL)
            .unwrap();
    assert_eq!(
        f.fs.write(b.attr.ino, bh.fh, 0, &[1; 60])
            .unwrap_err()
            .errno,
        libc::ENOSPC
    );
    f.fs.release(a.attr.ino, ah.fh);
    f.fs.unlink(ROOT_INO, os("a.tmp")).unwrap();
    f.fs.forget(a.attr.ino, 1); // the kernel lets go of the unlinked inode: its bytes are freed
    f.fs.write(b.attr.ino, bh.fh, 0, &[1; 60]).unwrap();
    f.fs.release(b.attr.ino, bh.fh);
}

#[test]
fn readers_read_the_version_they_opened_and_writers_bypass_the_cache() {
    let f = fixture(1);
    let ino = f.ino(ROOT_INO, "0");
    let v1 = b"{\"id\":\"id_0\",\"text\":\"doc 0\"}";
    let r = f.fs.open(ino, RD).unwrap();
    assert!(r.direct_io && r.noflush && !r.keep_cache);
    let w = f.fs.open(ino, libc::O_RDWR | libc::O_TRUNC).unwrap();
    assert!(
        w.direct_io && !w.noflush,
        "writers never touch the page cache"
    );
    let r2 = f.fs.open(ino, RD).unwrap();
    // A writer reads its own buffer; readers keep the version they opened, whole, even
    // after the writer commits, and fstat on them shows that version's size.
    f.fs.write(ino, w.fh, 0, b"{}").unwrap();
    assert!(f.fs.read(ino, w.fh, 0, 2).unwrap() == b"{}");
    f.fs.flush(ino, w.fh).unwrap();
    f.fs.release(ino, w.fh);
    for h in [r.fh, r2.fh] {
        assert_eq!(f.fs.read(ino, h, 0, 4096).unwrap(), v1);
        let (attr, ttl) = f.fs.getattr(ino, Some(h)).unwrap();
        assert_eq!(attr.size, v1.len() as u64);
        assert_eq!(ttl, Duration::ZERO, "differs from the document: not cached");
    }
    let (attr, ttl) = f.fs.getattr(ino, None).unwrap();
    assert_eq!(attr.size, "{\"id\":\"id_0\"}".len() as u64);
    assert!(ttl > Duration::ZERO);
    f.fs.release(ino, r.fh);
    f.fs.release(ino, r2.fh);
    assert_eq!(f.cat(ROOT_INO, "0"), "{\"id\":\"id_0\"}");
    // On a read-only mount the page cache is kept.
    let ro = fixture_with(
        1,
        FsConfig {
            read_only: true,
            ..FsConfig::default()
        },
    );
    let ino = ro.ino(ROOT_INO, "0");
    assert!(ro.fs.open(ino, RD).unwrap().keep_cache);
}

#[test]
fn pending_writes_of_open_documents_share_the_memory_bound() {
    let f = fixture_with(
        3,
        FsConfig {
            max_temp_bytes: 100,
            ..FsConfig::default()
        },
    );
    let a = f.ino(ROOT_INO, "0");
    let b = f.ino(ROOT_INO, "1");
    let ha = f.fs.open(a, WR_TRUNC).unwrap();
    let hb = f.fs.open(b, WR_TRUNC).unwrap();
    f.fs.write(a, ha.fh, 0, &[b' '; 80]).unwrap();
    assert_eq!(
        f.fs.write(b, hb.fh, 0, &[b' '; 40]).unwrap_err().errno,
        libc::ENOSPC
    );
    f.fs.release(a, ha.fh); // its buffer is freed
    f.fs.write(b, hb.fh, 0, &[b' '; 40]).unwrap();
    f.fs.release(b, hb.fh);
    let stats: serde_json::Value = serde_json::from_str(&f.fs.stats_json()).unwrap();
    assert_eq!(stats["pending_write_bytes"], 0);
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
