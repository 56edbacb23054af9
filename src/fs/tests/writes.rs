//! Writing documents: validation at close, bash redirections, truncation, limits.

use super::*;

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
fn temporaries_are_bounded_in_number_too() {
    // Empty files cost memory as well (a node and a name each): past the bound, ENOSPC.
    let f = fixture_with(
        1,
        FsConfig {
            max_temp_files: 3,
            ..FsConfig::default()
        },
    );
    for name in ["t1", "t2", "t3"] {
        let (e, h) = f.fs.create(ROOT_INO, os(name), 0o644, CREATE_EXCL).unwrap();
        f.fs.release(e.attr.ino, h.fh);
    }
    for (dir, name) in [(ROOT_INO, "t4"), (BY_ID_INO, "newdoc")] {
        let e = f.fs.create(dir, os(name), 0o644, CREATE_EXCL).unwrap_err();
        assert_eq!(e.errno, libc::ENOSPC, "{name}");
        assert!(e.message.contains("temporary files"), "{}", e.message);
    }
    // Documents are no temporaries: they are still written, and freeing one makes room.
    let ino = f.ino(ROOT_INO, "0");
    let o = f.fs.open(ino, WR_TRUNC).unwrap();
    f.fs.write(ino, o.fh, 0, b"{}").unwrap();
    f.fs.flush(ino, o.fh).unwrap();
    f.fs.release(ino, o.fh);
    f.fs.unlink(ROOT_INO, os("t1")).unwrap();
    let (e, h) = f.fs.create(ROOT_INO, os("t4"), 0o644, CREATE_EXCL).unwrap();
    f.fs.release(e.attr.ino, h.fh);
}
