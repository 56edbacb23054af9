//! Modification times that tools set while they write (README, "Tools": `cp -a x.json
//! mnt/3` … "the times it sets show as the mtime"). `cp -a` calls `futimens` on the open
//! file after writing it and before closing it, so the time it sets must outlive the
//! commit at `close()`, for a document replaced in place and for a new one in `/by-id/`.

use std::os::unix::fs::MetadataExt;

use crate::support::place::Place;
use crate::support::*;

/// 2001-01-01T00:00:00Z, the time the copied files carry.
const Y2001: i64 = 978_307_200;

fn mtime(m: &Mount, rel: &str) -> i64 {
    std::fs::metadata(m.path(rel)).unwrap().mtime()
}

fn cp_a_keeps_the_source_files_mtime_on_documents_old_and_new(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    let src = m.dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("doc1"), r#"{"id":"doc1","text":"copied"}"#).unwrap();
    std::fs::write(src.join("fresh"), r#"{"id":"fresh","text":"new"}"#).unwrap();
    std::fs::write(src.join("two"), r#"{"id":"doc2","text":"by position"}"#).unwrap();
    m.sh("touch -d @978307200 src/*").assert_ok();
    m.sh("cp -a src/doc1 src/fresh \"$MNT/by-id/\" && cp -a src/two \"$MNT/2\"")
        .assert_ok();
    for rel in ["by-id/doc1", "1", "by-id/fresh", "3", "2", "by-id/doc2"] {
        assert_eq!(mtime(&m, rel), Y2001, "{rel}");
    }
    // A later write is a change like any other: the mtime moves on.
    m.sh("printf '{\"id\":\"doc1\"}' > \"$MNT/by-id/doc1\"")
        .assert_ok();
    assert!(mtime(&m, "by-id/doc1") > Y2001);
    let mut want = expected_docs(3);
    want[1].1 = r#"{"id":"doc1"}"#.into();
    want[2].1 = r#"{"id":"doc2","text":"by position"}"#.into();
    want.push(("fresh".into(), r#"{"id":"fresh","text":"new"}"#.into()));
    assert_eq!(m.unmount_and_read(), want);
}

both_backends!(cp_a_keeps_the_source_files_mtime_on_documents_old_and_new,);
