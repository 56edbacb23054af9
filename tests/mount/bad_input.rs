//! Bad input (README, "The mount": "Writing", "Errors") through a real mount: every case gives the right errno at the call
//! that caused it, and nothing changes — checked on the mount, and in the store after
//! unmounting. Also writers racing each other and a reader that must never see a torn
//! document.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::place::Place;
use crate::support::sys::{errno_of, overwrite, write_chunks, write_close, Failed};
use crate::support::*;

const WR: i32 = libc::O_WRONLY;
const WR_TRUNC: i32 = libc::O_WRONLY | libc::O_TRUNC;
const WR_CREAT: i32 = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC;

fn at(call: &'static str, errno: i32) -> Result<(), Failed> {
    Err(Failed { call, errno })
}

/// Writes each text over `/3` and `/by-id/doc3` and expects close(2) to fail with EINVAL.
#[track_caller]
fn refused_at_close(m: &Mount, texts: &[&[u8]]) {
    for name in ["3", "by-id/doc3"] {
        for text in texts {
            assert_eq!(
                overwrite(&m.path(name), text),
                at("close", libc::EINVAL),
                "{name} <- {:?}",
                String::from_utf8_lossy(text)
            );
        }
    }
}

/// The store unchanged: on the mount, and after unmounting.
#[track_caller]
fn unchanged(m: &Mount, n: usize) {
    m.assert_shows(&expected_docs(n));
    assert_eq!(m.unmount_and_read(), expected_docs(n));
}

fn text_that_is_not_json_fails_at_close_and_changes_nothing(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    refused_at_close(
        &m,
        &[b"hello", b"", b"\n", b"{", b"{\"text\":}", b"{'text':'x'}"],
    );
    // What a user sees from a tool that checks close(2).
    m.bash("/bin/echo hello > \"$MNT/3\"")
        .assert_fails_with("Invalid argument");
    let log = m.read_log("store.damfs.log");
    assert!(
        log.contains("/by-id/doc3: not a valid document"),
        "log:\n{log}"
    );
    unchanged(&m, 5);
}

fn json_that_is_not_an_object_fails_at_close(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    refused_at_close(&m, &[b"[1,2]", b"\"text\"", b"42", b"null", b"true"]);
    unchanged(&m, 5);
}

fn trailing_garbage_fails_at_close(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    refused_at_close(
        &m,
        &[
            b"{\"text\":\"a\"} x",
            b"{\"text\":\"a\"}{\"text\":\"b\"}",
            b"{\"text\":\"a\"}}",
            b"{\"text\":\"a\"}\n{}\n",
        ],
    );
    unchanged(&m, 5);
}

fn an_id_that_is_not_the_documents_fails_at_close_under_both_names(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    refused_at_close(
        &m,
        &[
            b"{\"id\":\"doc4\",\"text\":\"x\"}", // another existing document
            b"{\"id\":\"nosuch\",\"text\":\"x\"}", // a document that does not exist
            b"{\"id\":5}",
            b"{\"id\":\"\"}",
            b"{\"id\":null}",
            b"{\"id\":\".hidden\"}",
            b"{\"id\":\"a/b\"}",
        ],
    );
    unchanged(&m, 5);
}

fn appending_fails_at_close_under_both_names(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    for name in ["2", "by-id/doc2"] {
        assert_eq!(
            write_close(&m.path(name), WR | libc::O_APPEND, b"{}\n"),
            at("close", libc::EINVAL),
            "{name}"
        );
    }
    unchanged(&m, 4);
}

fn truncating_a_document_is_einval_and_leaves_it_intact(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    // truncate(1) opens the file and ftruncates it: the close fails.
    m.sh("truncate -s 0 \"$MNT/2\"")
        .assert_fails_with("Invalid argument");
    m.sh("truncate -s 0 \"$MNT/by-id/doc1\"")
        .assert_fails_with("Invalid argument");
    // truncate(2) on the path, with no open file: refused at once.
    for (name, size) in [("2", 0), ("by-id/doc2", 0), ("2", 5), ("2", 1000)] {
        let p = std::ffi::CString::new(m.path(name).as_os_str().as_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        let r = unsafe { libc::truncate(p.as_ptr(), size) };
        assert_eq!(r, -1, "truncate({name}, {size}) succeeded");
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EINVAL),
            "truncate({name}, {size})"
        );
    }
    // `: > doc` — O_TRUNC and nothing written: an empty document is refused at close.
    assert_eq!(
        write_close(&m.path("2"), WR_TRUNC, b""),
        at("close", libc::EINVAL)
    );
    // ftruncate through std: the close that std ignores is where it fails; still intact.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(m.path("1"))
        .unwrap();
    f.set_len(0).unwrap();
    drop(f);
    unchanged(&m, 4);
}

fn a_document_past_max_doc_size_is_efbig_at_the_write_that_crosses_it(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &["--max-doc-size", "4K"]);
    let pad = |n: usize| format!("{{\"text\":\"{}\"}}", "x".repeat(n - 11));
    let big = pad(4096 + 100);
    let (head, tail) = big.as_bytes().split_at(4000);
    // The first write fits, the second crosses 4096 bytes.
    assert_eq!(
        write_chunks(&m.path("1"), WR_TRUNC, &[head, tail], false),
        at("write", libc::EFBIG)
    );
    assert_eq!(
        write_chunks(&m.path("by-id/doc1"), WR_TRUNC, &[big.as_bytes()], false),
        at("write", libc::EFBIG)
    );
    // A temporary file and a new document have the same limit.
    m.sh("head -c 5000 /dev/zero > \"$MNT/big.tmp\"")
        .assert_fails_with("File too large");
    std::fs::write(m.dir.path().join("big.json"), &big).unwrap();
    m.sh("cp big.json \"$MNT/by-id/big\"")
        .assert_fails_with("File too large");
    let _ = std::fs::remove_file(m.path("big.tmp"));
    let _ = std::fs::remove_file(m.path("by-id/big"));
    unchanged_but_mounted(&m, 4);
    // Exactly at the limit is fine.
    let fits = format!("{{\"id\":\"doc3\",\"text\":\"{}\"}}", "y".repeat(4096 - 23));
    assert_eq!(fits.len(), 4096);
    overwrite(&m.path("3"), fits.as_bytes()).expect("a 4096-byte document is allowed");
    let mut want = expected_docs(4);
    want[3].1 = fits;
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

/// Like `unchanged`, without unmounting.
#[track_caller]
fn unchanged_but_mounted(m: &Mount, n: usize) {
    m.assert_shows(&expected_docs(n));
}

fn temporaries_past_their_bound_are_enospc(place: &Place) {
    require_fuse!();
    // The bound on all temporaries together is 256 MiB; each file may hold 64 MiB.
    let m = Mount::at(place, 3, &[]);
    for i in 0..4 {
        m.sh(&format!(
            "dd if=/dev/zero of=\"$MNT/t{i}.tmp\" bs=1M count=64 status=none"
        ))
        .assert_ok();
    }
    assert_eq!(
        write_close(&m.path("t4.tmp"), WR_CREAT, b"x"),
        at("write", libc::ENOSPC)
    );
    m.sh("/bin/echo x > \"$MNT/by-id/sedAbCdEf\"")
        .assert_fails_with("No space left on device");
    // Documents can still be written: they are not temporaries.
    overwrite(&m.path("0"), doc_json(0).as_bytes()).expect("documents are not bounded by it");
    m.sh("rm -f \"$MNT\"/t*.tmp \"$MNT/by-id/sedAbCdEf\"")
        .assert_ok();
    // Freed once the kernel lets go of the removed files.
    let freed = wait_for(std::time::Duration::from_secs(5), || {
        write_close(&m.path("again.tmp"), WR_CREAT, &[b'y'; 1 << 20]).is_ok()
    });
    assert!(
        freed,
        "removing temporaries frees their bytes: {}",
        m.stats()
    );
    std::fs::remove_file(m.path("again.tmp")).unwrap();
    unchanged(&m, 3);
}

fn invalid_utf8_is_einval(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    refused_at_close(&m, &[b"{\"text\":\"\xff\xfe\"}", b"{\"text\":\"caf\xe9\"}"]);
    // A file name that is not UTF-8 cannot be an id.
    let bad: PathBuf = m.path("by-id").join(OsStr::from_bytes(b"caf\xe9"));
    assert_eq!(write_close(&bad, WR_CREAT, b"{}"), at("open", libc::EINVAL));
    assert_eq!(errno_of(std::fs::metadata(&bad)), libc::ENOENT);
    unchanged(&m, 4);
}

fn names_longer_than_255_bytes_are_enametoolong(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    for len in [256, 300, 1000] {
        let long = "x".repeat(len);
        for dir in ["", "by-id"] {
            let p = m.path(dir).join(&long);
            assert_eq!(
                errno_of(std::fs::metadata(&p)),
                libc::ENAMETOOLONG,
                "stat {len}"
            );
            assert_eq!(
                write_close(&p, WR_CREAT, b"{}"),
                at("open", libc::ENAMETOOLONG),
                "create {dir}/{len}"
            );
        }
        assert_eq!(
            errno_of(std::fs::rename(
                m.path("by-id/doc1"),
                m.path("by-id").join(&long)
            )),
            libc::ENAMETOOLONG
        );
    }
    // Multi-byte: 128 two-byte characters are 256 bytes.
    let wide = "é".repeat(128);
    assert_eq!(
        write_close(&m.path("by-id").join(&wide), WR_CREAT, b"{}"),
        at("open", libc::ENAMETOOLONG)
    );
    unchanged_but_mounted(&m, 3);
    // 255 bytes is a valid id.
    let max = "z".repeat(255);
    overwrite(&m.path("by-id").join(&max), b"{\"text\":\"longest id\"}").unwrap();
    let mut want = expected_docs(3);
    want.push((
        max.clone(),
        format!("{{\"id\":\"{max}\",\"text\":\"longest id\"}}"),
    ));
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn mkdir_links_symlinks_and_device_nodes_are_eperm(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    for dir in ["", "by-id"] {
        let d = m.path(dir);
        assert_eq!(
            errno_of(std::fs::create_dir(d.join("sub"))),
            libc::EPERM,
            "mkdir in /{dir}"
        );
        assert_eq!(
            errno_of(std::fs::hard_link(m.path("1"), d.join("link"))),
            libc::EPERM,
            "link in /{dir}"
        );
        assert_eq!(
            errno_of(std::os::unix::fs::symlink("1", d.join("sym"))),
            libc::EPERM,
            "symlink in /{dir}"
        );
        for kind in [libc::S_IFIFO, libc::S_IFCHR, libc::S_IFSOCK] {
            let p = std::ffi::CString::new(d.join("node").as_os_str().as_bytes()).unwrap();
            // SAFETY: a NUL-terminated path and plain integers.
            let r = unsafe { libc::mknod(p.as_ptr(), kind | 0o644, 0) };
            assert_eq!(r, -1);
            assert_eq!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::EPERM),
                "mknod {kind:o} in /{dir}"
            );
        }
    }
    m.sh("mkdir \"$MNT/x\"")
        .assert_fails_with("Operation not permitted");
    m.sh("ln \"$MNT/1\" \"$MNT/by-id/hard\"")
        .assert_fails_with("Operation not permitted");
    m.sh("mkfifo \"$MNT/fifo\"")
        .assert_fails_with("Operation not permitted");
    unchanged(&m, 3);
}

fn control_files_refuse_any_other_text(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    for name in [".save", ".reload", ".prune", ".clear"] {
        for text in [&b"2\n"[..], b"yes\n", b"11", b"1 1\n", b"\xff", b"0"] {
            assert_eq!(
                overwrite(&m.path(name), text),
                at("write", libc::EINVAL),
                "{name} <- {:?}",
                String::from_utf8_lossy(text)
            );
        }
        let read = std::fs::read_to_string(m.path(name)).unwrap();
        assert!(read.starts_with("write 1 here"), "{name}: {read:?}");
        assert_eq!(errno_of(std::fs::remove_file(m.path(name))), libc::EPERM);
    }
    // `echo yes > .clear` must not clear anything.
    m.bash("echo yes > \"$MNT/.clear\"")
        .assert_fails_with("Invalid argument");
    // .stats is read-only.
    assert_eq!(
        overwrite(&m.path(".stats"), b"{}"),
        at("open", libc::EACCES)
    );
    assert_eq!(
        errno_of(std::fs::rename(m.path(".stats"), m.path("stats"))),
        libc::EPERM
    );
    unchanged(&m, 4);
}

/// Every file of the store directory with its bytes.
fn store_bytes(store: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(store)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn read_only_mount_gives_erofs_on_every_write_path(place: &Place) {
    require_fuse!();
    let m = Mount::unmounted_at(place, 4);
    // The memmap store's files are not even touched (PostgreSQL: the contents, below).
    let before = (!place.postgres).then(|| store_bytes(&m.store));
    m.mount(&["--read-only"]).assert_ok();
    assert_eq!(m.sh("cat \"$MNT/2\"").stdout, doc_json(2));
    let erofs = libc::EROFS;
    assert_eq!(overwrite(&m.path("2"), b"{}"), at("open", erofs));
    assert_eq!(
        write_close(&m.path("by-id/doc2"), WR, b"{}"),
        at("open", erofs)
    );
    assert_eq!(
        write_close(&m.path("by-id/doc2"), WR | libc::O_APPEND, b"{}"),
        at("open", erofs)
    );
    assert_eq!(overwrite(&m.path("by-id/new"), b"{}"), at("open", erofs));
    assert_eq!(overwrite(&m.path("scratch.tmp"), b"x"), at("open", erofs));
    for control in [".save", ".reload", ".prune", ".clear"] {
        assert_eq!(
            overwrite(&m.path(control), b"1\n"),
            at("open", erofs),
            "{control}"
        );
    }
    assert_eq!(errno_of(std::fs::remove_file(m.path("1"))), erofs);
    assert_eq!(errno_of(std::fs::remove_file(m.path("by-id/doc1"))), erofs);
    assert_eq!(
        errno_of(std::fs::rename(m.path("by-id/doc1"), m.path("by-id/one"))),
        erofs
    );
    assert_eq!(errno_of(std::fs::create_dir(m.path("dir"))), erofs);
    assert_eq!(
        errno_of(std::fs::hard_link(m.path("1"), m.path("by-id/h"))),
        erofs
    );
    assert_eq!(
        errno_of(std::os::unix::fs::symlink("1", m.path("s"))),
        erofs
    );
    assert_eq!(
        errno_of(std::fs::set_permissions(
            m.path("1"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600)
        )),
        erofs
    );
    let p = std::ffi::CString::new(m.path("3").as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::truncate(p.as_ptr(), 0) }, -1);
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(erofs));
    m.sh("sed -i s/text/TEXT/ \"$MNT/0\"")
        .assert_fails_with("Read-only file system");
    m.sh("cp \"$MNT/0\" \"$MNT/by-id/copy\"")
        .assert_fails_with("Read-only file system");
    m.sh("touch \"$MNT/0\"")
        .assert_fails_with("Read-only file system");
    // fsync of a read-only file is fine (nothing to save).
    run(Command::new("python3")
        .arg("-c")
        .arg("import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd)")
        .arg(m.path("0")))
    .assert_ok();
    unchanged(&m, 4);
    if let Some(before) = before {
        assert_eq!(
            store_bytes(&m.store),
            before,
            "the store files were not touched"
        );
    }
}

fn concurrent_writers_leave_every_document_valid_and_readers_never_see_a_torn_one(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 6, &[]);
    // Two writers on doc1 (one by position, one by id), jq+mv on doc2, sed -i on doc3, and
    // a reader that parses everything in a loop until the writers are done.
    let script = r#"
        set -u
        n=40
        fail() { echo "$1" >> errors; }
        a() { for k in $(seq 1 $n); do printf '{"id":"doc1","text":"A %d"}' $k > "$MNT/1" || fail "A $k"; done; }
        b() { for k in $(seq 1 $n); do printf '{"text":"B %d"}' $k > "$MNT/by-id/doc1" || fail "B $k"; done; }
        c() { for k in $(seq 1 $n); do
                jq -c --arg k "C $k" '.text=$k' "$MNT/2" > "$MNT/tmp.c" && mv "$MNT/tmp.c" "$MNT/2" || fail "C $k"
              done; }
        d() { for k in $(seq 1 $n); do
                sed -i "s/\"text\":\"[^\"]*\"/\"text\":\"D $k\"/" "$MNT/by-id/doc3" || fail "D $k"
              done; }
        reader() {
            while [ ! -e done ]; do
                for f in 1 by-id/doc1 2 by-id/doc2 3 by-id/doc3 4 by-id/doc5; do
                    out=$(cat "$MNT/$f") || { fail "cat $f"; continue; }
                    printf '%s' "$out" | jq -e .id > /dev/null 2>&1 || echo "$f: $out" >> torn
                done
            done
        }
        rm -f errors torn done
        reader & r=$!
        a & pa=$!; b & pb=$!; c & pc=$!; d & pd=$!
        wait $pa $pb $pc $pd
        touch done
        wait $r
        cat errors torn 2>/dev/null
        true
    "#;
    let out = m.bash(script);
    out.assert_ok();
    assert_eq!(
        out.stdout, "",
        "failed writes or torn reads:\n{}",
        out.stdout
    );
    let docs = m.docs_by_position();
    let text = |i: usize| -> String {
        let v: serde_json::Value = serde_json::from_str(&docs[i].1).unwrap();
        v["text"].as_str().unwrap().to_string()
    };
    // The last commit wins: each writer's final version.
    assert!(
        ["A 40", "B 40"].contains(&text(1).as_str()),
        "doc1 is {:?}",
        docs[1]
    );
    assert_eq!(docs[2].1, "{\"id\":\"doc2\",\"text\":\"C 40\"}\n");
    assert_eq!(docs[3].1, "{\"id\":\"doc3\",\"text\":\"D 40\"}");
    let mut want = expected_docs(6);
    for i in 1..=3 {
        want[i].1 = docs[i].1.clone();
    }
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn an_invalid_temporary_renamed_onto_a_document_is_einval_and_both_stay(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    m.sh("printf 'not json' > \"$MNT/x.tmp\"").assert_ok();
    assert_eq!(
        errno_of(std::fs::rename(m.path("x.tmp"), m.path("2"))),
        libc::EINVAL
    );
    // mv fails too; coreutils reads EINVAL from rename(2) as POSIX defines it and says
    // "cannot move … to a subdirectory of itself" (the README asks for EINVAL here).
    m.sh("mv \"$MNT/x.tmp\" \"$MNT/by-id/doc2\"")
        .assert_fails_with("cannot move");
    m.sh("sed -i s/not/NOT/ \"$MNT/x.tmp\" && mv \"$MNT/x.tmp\" \"$MNT/2\"")
        .assert_fails_with("cannot move");
    // JSON naming another document is not a replacement for this one either.
    m.sh("printf '{\"id\":\"doc3\"}' > \"$MNT/y.tmp\"")
        .assert_ok();
    assert_eq!(
        errno_of(std::fs::rename(m.path("y.tmp"), m.path("by-id/doc2"))),
        libc::EINVAL
    );
    assert_eq!(
        std::fs::read_to_string(m.path("x.tmp")).unwrap(),
        "NOT json",
        "a refused rename leaves the temporary as it was"
    );
    std::fs::remove_file(m.path("x.tmp")).unwrap();
    std::fs::remove_file(m.path("y.tmp")).unwrap();
    unchanged(&m, 4);
}

fn documents_cannot_be_renamed_to_bad_ids_or_out_of_the_document_names(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    // Not a valid id, or a tool's temporary name (what editors rename to for a backup):
    // EPERM, so that they back up by copying and the document stays put.
    for bad in [".hidden", "doc1~", "#doc1#", "sedAbCdEf", "tmp.1"] {
        assert_eq!(
            errno_of(std::fs::rename(
                m.path("by-id/doc1"),
                m.path(&format!("by-id/{bad}"))
            )),
            libc::EPERM,
            "{bad}"
        );
    }
    // A document cannot become a temporary in the root, nor a new positional name.
    assert_eq!(
        errno_of(std::fs::rename(m.path("1"), m.path("doc1.bak"))),
        libc::EPERM
    );
    assert_eq!(
        errno_of(std::fs::rename(m.path("by-id/doc1"), m.path("7"))),
        libc::EPERM
    );
    // Nor can a temporary take a position that has no document.
    m.sh("printf '{}' > \"$MNT/t.tmp\"").assert_ok();
    assert_eq!(
        errno_of(std::fs::rename(m.path("t.tmp"), m.path("3"))),
        libc::EPERM
    );
    std::fs::remove_file(m.path("t.tmp")).unwrap();
    // The directories and control files stay where they are.
    assert_eq!(
        errno_of(std::fs::rename(m.path("by-id"), m.path("ids"))),
        libc::EPERM
    );
    assert_eq!(
        errno_of(std::fs::rename(m.path(".save"), m.path("by-id/save"))),
        libc::EPERM
    );
    assert_eq!(errno_of(std::fs::remove_dir(m.path("by-id"))), libc::EPERM);
    unchanged(&m, 3);
}

fn stat_right_after_a_refused_close_shows_the_documents_size(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 2, &[]);
    let len = doc_json(1).len() as u64;
    for k in 0..30 {
        let garbage = "garbage ".repeat(k + 1);
        assert_eq!(
            overwrite(&m.path("1"), garbage.as_bytes()),
            at("close", libc::EINVAL)
        );
        // No sleeping: the kernel's cached size must already be the document's again.
        for name in ["1", "by-id/doc1"] {
            assert_eq!(
                std::fs::metadata(m.path(name)).unwrap().len(),
                len,
                "round {k}: {name}"
            );
            assert_eq!(std::fs::read_to_string(m.path(name)).unwrap(), doc_json(1));
        }
    }
    unchanged(&m, 2);
}

fn parallel_sed_i_in_one_directory_never_stalls_on_cache_invalidation(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 6, &[]);
    // Three users each run sed -i in a loop on their own document in by-id/. Every sed ends
    // with a RENAME in by-id/, which holds that directory's lock while the daemon answers.
    let script = r#"
        for j in 1 2 3; do
            ( for r in $(seq 1 15); do sed -i "s/\"text\":\"[^\"]*\"/\"text\":\"user $j round $r\"/" "$MNT/by-id/doc$j" || exit 1; done ) &
        done
        wait
    "#;
    let started = std::time::Instant::now();
    m.bash(script).assert_ok();
    let took = started.elapsed();
    let mut want = expected_docs(6);
    for (j, doc) in want.iter_mut().enumerate().take(4).skip(1) {
        doc.1 = format!("{{\"id\":\"doc{j}\",\"text\":\"user {j} round 15\"}}");
    }
    m.assert_shows(&want);
    // The daemon says when a reply waited for an invalidation the kernel could not take
    // (it blocks on the directory lock of the next rename, which waits for our reply).
    let log = m.read_log("store.damfs.log");
    let stalls = log
        .lines()
        .filter(|l| l.contains("still pending after"))
        .count();
    assert_eq!(
        stalls, 0,
        "{stalls} replies waited out the invalidation timeout; 45 seds took {took:?}"
    );
    assert_eq!(m.unmount_and_read(), want);
}

both_backends!(
    text_that_is_not_json_fails_at_close_and_changes_nothing,
    json_that_is_not_an_object_fails_at_close,
    trailing_garbage_fails_at_close,
    an_id_that_is_not_the_documents_fails_at_close_under_both_names,
    appending_fails_at_close_under_both_names,
    truncating_a_document_is_einval_and_leaves_it_intact,
    a_document_past_max_doc_size_is_efbig_at_the_write_that_crosses_it,
    temporaries_past_their_bound_are_enospc,
    invalid_utf8_is_einval,
    names_longer_than_255_bytes_are_enametoolong,
    mkdir_links_symlinks_and_device_nodes_are_eperm,
    control_files_refuse_any_other_text,
    read_only_mount_gives_erofs_on_every_write_path,
    concurrent_writers_leave_every_document_valid_and_readers_never_see_a_torn_one,
    an_invalid_temporary_renamed_onto_a_document_is_einval_and_both_stay,
    documents_cannot_be_renamed_to_bad_ids_or_out_of_the_document_names,
    stat_right_after_a_refused_close_shows_the_documents_size,
    parallel_sed_i_in_one_directory_never_stalls_on_cache_invalidation,
);
