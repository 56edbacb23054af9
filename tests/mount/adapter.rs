//! The fuser adapter on a live mount: directory listings that span many READDIR(PLUS)
//! replies, and kernel cache invalidation when the store changes behind the kernel's back.

use damfs::{Document, Store};

use crate::support::place::Place;
use crate::support::store::writable;
use crate::support::*;

fn large_directories_list_completely_in_both_readdir_modes(place: &Place) {
    require_fuse!();
    let m = Mount::unmounted_at(place, 0);
    // Ids of very different lengths, so reply buffers fill after varying entry counts.
    let ids: Vec<String> = (0..3000)
        .map(|i| format!("{i:05}-{}", "x".repeat(i % 240)))
        .collect();
    {
        let mut dam = Store::open_with(&m.store, writable(1000)).unwrap();
        dam.extend(
            ids.iter()
                .map(|id| Document::from_json(format!(r#"{{"id":"{id}"}}"#)).unwrap()),
        )
        .unwrap();
        dam.save().unwrap();
    }
    m.mount(&[]).assert_ok();
    // `ls -1` needs no attributes (READDIR), `ls -l` does (READDIRPLUS).
    let plain = m.sh("ls -1 \"$MNT/by-id\"");
    plain.assert_ok();
    assert_eq!(plain.lines(), ids);
    let long = m.sh("ls -l \"$MNT/by-id\" | tail -n +2 | awk '{print $NF}'");
    long.assert_ok();
    assert_eq!(long.lines(), ids);
    let root = m.sh("ls -1 \"$MNT\" | grep -c '^[0-9]*$'");
    assert_eq!(root.stdout.trim(), "3000");
    let found = m.sh("find \"$MNT\" -type f | wc -l");
    // 3000 positions + 3000 ids + .stats, the 2 bulk views and 4 control files.
    assert_eq!(found.stdout.trim(), "6007");
    // Positions list in order (ls -v sorts numerically).
    let sizes = m.sh("ls -lv \"$MNT\" | awk '$1 ~ /^-/ && $NF ~ /^[0-9]+$/ {print $5}' | head -3");
    assert_eq!(
        sizes.lines(),
        [ids[0].len() + 9, ids[1].len() + 9, ids[2].len() + 9].map(|n| n.to_string())
    );
    m.unmount();
}

fn reload_after_another_writer_shows_fresh_content_and_sizes(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    // Fill the kernel's page and attribute caches.
    let before = m.sh("cat \"$MNT/1\"; stat -c %s \"$MNT/by-id/doc1\"");
    before.assert_ok();
    {
        // Another process (here: the library in the test) changes the store and saves.
        let mut dam = Store::open_with(&m.store, writable(1000)).unwrap();
        let doc =
            Document::from_json(r#"{"id":"doc1","text":"from another writer, longer"}"#).unwrap();
        dam.set_by_id("doc1", doc).unwrap();
        dam.save().unwrap();
    }
    m.sh("echo 1 > \"$MNT/.reload\"").assert_ok();
    let after = m.sh("cat \"$MNT/1\"; echo; stat -c %s \"$MNT/by-id/doc1\"");
    after.assert_ok();
    let expected = r#"{"id":"doc1","text":"from another writer, longer"}"#;
    assert_eq!(
        after.lines(),
        [expected.to_string(), expected.len().to_string()]
    );
    m.unmount();
}

fn read_only_mount_reads_match_the_store(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 50, &["--read-only"]);
    for _ in 0..2 {
        // Twice: the second pass is served after zero-message open.
        let cat = m.sh("for i in $(seq 0 49); do cat \"$MNT/$i\"; echo; done");
        cat.assert_ok();
        let want: Vec<String> = (0..50).map(doc_json).collect();
        assert_eq!(cat.lines(), want);
    }
    let grep = m.sh("grep -rl 'document 7\"' \"$MNT/by-id\"");
    assert_eq!(
        grep.stdout.trim(),
        m.mnt.join("by-id/doc7").display().to_string()
    );
    m.unmount();
}

fn parallel_sed_with_concurrent_listing_neither_stalls_nor_loses_edits(place: &Place) {
    require_fuse!();
    // Renames (sed -i) invalidate directory entries while lookups and listings hold the
    // directory lock: the adapter must never make a worker wait for such a lock.
    let m = Mount::at(place, 300, &[]);
    let started = std::time::Instant::now();
    let r = m.sh(
        "( for k in $(seq 1 20); do ls -l \"$MNT\" >/dev/null; ls \"$MNT/by-id\" >/dev/null; done ) &
         ls \"$MNT/by-id\" | sed \"s|^|$MNT/by-id/|\" | timeout 60 xargs -P8 -n 10 sed -i s/text/TEXT/
         rc=$?; wait; exit $rc",
    );
    r.assert_ok();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let left = m.sh("ls -a \"$MNT\" \"$MNT/by-id\" | grep -c sed || true");
    assert_eq!(left.stdout.trim(), "0", "sed temporaries left behind");
    let docs = m.unmount_and_read();
    assert_eq!(docs.len(), 300);
    for (i, (id, json)) in docs.iter().enumerate() {
        assert_eq!(id, &format!("doc{i}"));
        assert_eq!(json, &doc_json(i).replacen("text", "TEXT", 1));
    }
}

both_backends!(
    large_directories_list_completely_in_both_readdir_modes,
    reload_after_another_writer_shows_fresh_content_and_sizes,
    read_only_mount_reads_match_the_store,
    parallel_sed_with_concurrent_listing_neither_stalls_nor_loses_edits,
);
