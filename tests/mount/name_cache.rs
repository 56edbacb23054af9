//! Read-write mounts let the kernel cache names, attributes and pages, and are never stale:
//! every scenario first warms every cache (stat and read of every name, and of a few
//! missing ones), then changes the store and checks what the kernel shows at once.

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use crate::support::place::Place;
use crate::support::*;

/// Stats and reads every name of the mount, and a few that do not exist, so the kernel
/// holds names, negative lookups, attributes and pages.
fn warm(m: &Mount) {
    m.sh(
        "for f in \"$MNT\"/[0-9]* \"$MNT\"/by-id/*; do stat \"$f\" >/dev/null; cat \"$f\" >/dev/null; done; \
         ls -l \"$MNT\" \"$MNT/by-id\" >/dev/null; \
         for f in 2 3 5 97 98 99 by-id/nope by-id/fresh; do cat \"$MNT/$f\" 2>/dev/null; stat \"$MNT/$f\" >/dev/null 2>&1; done; true",
    )
    .assert_ok();
}

fn json_of(id: &str, text: &str) -> String {
    format!(r#"{{"id":"{id}","text":"{text}"}}"#)
}

fn names_are_cached_on_this_kernel(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    warm(&m);
    assert_eq!(m.stats()["names_cached"], true, "{}", m.stats());
    // A warm read costs an OPEN, its READs (direct I/O: the text and the empty read that
    // ends it), at most one GETATTR (the kernel drops the atime after a direct read, and
    // cat's fstat asks again) and a RELEASE: never a LOOKUP.
    let before = m.stats()["requests"].clone();
    m.sh("cat \"$MNT/1\" \"$MNT/by-id/doc2\" > /dev/null")
        .assert_ok();
    let after = m.stats()["requests"].clone();
    let delta = |k: &str| after[k].as_u64().unwrap() - before[k].as_u64().unwrap();
    // (.stats itself costs a lookup-free OPEN, GETATTR, READs, FLUSH and RELEASE.)
    assert_eq!(delta("lookup"), 0, "{before} -> {after}");
    assert_eq!(delta("open"), 2 + 1);
    assert!(delta("getattr") <= 1 + 2, "{before} -> {after}");
    assert_eq!(delta("read"), 2 * 2 + 2);
}

fn rm_shifts_positions_at_once(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    warm(&m);
    m.sh("rm \"$MNT/0\"").assert_ok();
    assert_eq!(m.sh("cat \"$MNT/0\"").stdout, doc_json(1));
    m.sh("cat \"$MNT/4\"").assert_fails_with("No such file");
    m.sh("stat \"$MNT/4\"").assert_fails_with("No such file");
    warm(&m);
    m.sh("rm \"$MNT/by-id/doc2\"").assert_ok();
    assert_eq!(m.sh("cat \"$MNT/1\"").stdout, doc_json(3));
    assert_eq!(m.sh("cat \"$MNT/2\"").stdout, doc_json(4));
    m.sh("cat \"$MNT/3\"").assert_fails_with("No such file");
    m.sh("cat \"$MNT/by-id/doc2\"")
        .assert_fails_with("No such file");
    let want: Vec<_> = [1, 3, 4]
        .iter()
        .map(|&i| (format!("doc{i}"), doc_json(i)))
        .collect();
    m.assert_shows(&want);
    // Inode numbers follow documents, not positions.
    let ino = std::fs::metadata(m.path("by-id/doc3")).unwrap().ino();
    assert_eq!(std::fs::metadata(m.path("1")).unwrap().ino(), ino);
}

fn mv_leaves_no_trace_of_the_old_id(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    warm(&m);
    m.sh("mv \"$MNT/by-id/doc1\" \"$MNT/by-id/renamed\"")
        .assert_ok();
    m.sh("cat \"$MNT/by-id/doc1\"")
        .assert_fails_with("No such file");
    assert_eq!(
        m.sh("jq -r .id \"$MNT/1\" \"$MNT/by-id/renamed\"").stdout,
        "renamed\nrenamed\n"
    );
    // Onto an existing document: it takes that position, its own is removed.
    warm(&m);
    m.sh("mv \"$MNT/by-id/doc0\" \"$MNT/by-id/doc3\"")
        .assert_ok();
    m.sh("cat \"$MNT/by-id/doc0\"")
        .assert_fails_with("No such file");
    assert_eq!(
        m.sh("for i in 0 1 2; do jq -r .id \"$MNT/$i\"; done")
            .stdout,
        "renamed\ndoc2\ndoc3\n"
    );
    m.sh("cat \"$MNT/3\"").assert_fails_with("No such file");
    assert!(m.sh("cat \"$MNT/2\"").stdout.contains("text of document 0"));
}

fn a_name_that_was_a_miss_is_found_once_created(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 2, &[]);
    warm(&m);
    m.sh("printf '{\"text\":\"new\"}' > \"$MNT/by-id/fresh\"")
        .assert_ok();
    assert_eq!(
        m.sh("cat \"$MNT/by-id/fresh\"").stdout,
        json_of("fresh", "new")
    );
    assert_eq!(m.sh("cat \"$MNT/2\"").stdout, json_of("fresh", "new"));
    assert_eq!(
        std::fs::metadata(m.path("2")).unwrap().ino(),
        std::fs::metadata(m.path("by-id/fresh")).unwrap().ino()
    );
}

fn writes_through_the_other_name_are_seen_with_the_right_size(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    warm(&m);
    let long = "x".repeat(5000);
    m.sh(&format!(
        "printf '{{\"text\":\"{long}\"}}' > \"$MNT/by-id/doc1\""
    ))
    .assert_ok();
    let want = json_of("doc1", &long);
    assert_eq!(m.sh("cat \"$MNT/1\"").stdout, want);
    assert_eq!(
        m.sh("stat -c %s \"$MNT/1\"").stdout.trim(),
        want.len().to_string()
    );
    m.sh("printf '{\"text\":\"short\"}' > \"$MNT/1\"")
        .assert_ok();
    assert_eq!(
        m.sh("cat \"$MNT/by-id/doc1\"").stdout,
        json_of("doc1", "short")
    );
    assert_eq!(
        m.sh("wc -c < \"$MNT/by-id/doc1\"").stdout.trim(),
        json_of("doc1", "short").len().to_string()
    );
}

fn nothing_stale_after_prune_clear_and_reload(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    m.sh("rm \"$MNT/by-id/doc1\"").assert_ok();
    warm(&m);
    m.sh("echo 1 > \"$MNT/.prune\"").assert_ok();
    let want: Vec<_> = [0, 2, 3]
        .iter()
        .map(|&i| (format!("doc{i}"), doc_json(i)))
        .collect();
    m.assert_shows(&want);
    warm(&m);
    m.sh("echo 1 > \"$MNT/.reload\"").assert_ok();
    m.assert_shows(&want);
    warm(&m);
    m.sh("echo 1 > \"$MNT/.clear\"").assert_ok();
    m.assert_shows(&[]);
    m.sh("cat \"$MNT/0\"").assert_fails_with("No such file");
    m.sh("cat \"$MNT/by-id/doc0\"")
        .assert_fails_with("No such file");
}

fn mmap_reads_documents_on_a_read_write_mount(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    let read = |name: &str| {
        m.sh(&format!(
            "python3 - \"$MNT/{name}\" <<'EOF'\n\
             import mmap, sys\n\
             with open(sys.argv[1], 'rb') as f:\n\
             \x20   m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)\n\
             \x20   sys.stdout.write(m[:].decode())\n\
             EOF"
        ))
    };
    let r = read("1");
    r.assert_ok();
    assert_eq!(r.stdout, doc_json(1));
    // After a change, a new mapping shows the new text, whole.
    m.sh("printf '{\"text\":\"changed and longer than before\"}' > \"$MNT/1\"")
        .assert_ok();
    assert_eq!(
        read("by-id/doc1").stdout,
        json_of("doc1", "changed and longer than before")
    );
    // And on a read-only mount (through the page cache).
    m.unmount();
    m.mount(&["--read-only"]).assert_ok();
    assert_eq!(read("0").stdout, doc_json(0));
}

fn kill_9_during_a_burst_of_deletes_never_hangs_the_mount(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 300, &[]);
    warm(&m);
    let mut burst = std::process::Command::new("sh")
        .arg("-c")
        .arg("for i in $(seq 0 299); do rm -f \"$MNT/0\" \"$MNT/by-id/doc$i\"; stat \"$MNT/1\" >/dev/null 2>&1; done")
        .env("MNT", &m.mnt)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let pid = m.pid();
    signal(pid, libc::SIGKILL);
    assert!(
        wait_for(Duration::from_secs(10), || pid_exited(pid)),
        "the killed daemon did not exit"
    );
    // The deleting shell sees errors (ENOTCONN) but ends: nothing waits forever.
    let done = wait_for(Duration::from_secs(20), || {
        matches!(burst.try_wait(), Ok(Some(_)))
    });
    if !done {
        let _ = burst.kill();
    }
    assert!(done, "the shell using the dead mount hung");
    damfs(["unmount".as_ref(), m.mnt.as_os_str()]).assert_ok();
    assert!(!m.is_mounted());
    // Everything the store had is readable; the next mount serves it.
    let left = m.contents();
    assert!(left.len() <= 300);
    m.mount(&[]).assert_ok();
    assert_eq!(m.docs_by_position(), left);
}

both_backends!(
    names_are_cached_on_this_kernel,
    rm_shifts_positions_at_once,
    mv_leaves_no_trace_of_the_old_id,
    a_name_that_was_a_miss_is_found_once_created,
    writes_through_the_other_name_are_seen_with_the_right_size,
    nothing_stale_after_prune_clear_and_reload,
    mmap_reads_documents_on_a_read_write_mount,
    kill_9_during_a_burst_of_deletes_never_hangs_the_mount,
);
