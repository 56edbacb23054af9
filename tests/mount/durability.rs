//! Durability and freshness through a real mount: what fsync and `.save` promise across a
//! kill -9 of the daemon, what a clean unmount saves, two mounts of one store, and that
//! `cat`/`stat` never show stale bytes or sizes after deletes, `.reload`, `.prune`, `.clear`,
//! whatever the kernel has cached.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::mount::contents_of;
use crate::support::place::Place;
use crate::support::*;

const EXIT_WAIT: Duration = Duration::from_secs(20);

/// SIGKILL to the daemon; waits until it is gone; detaches the dead mount with `umount -l`.
fn kill_9(m: &Mount) {
    let pid = m.pid();
    signal(pid, libc::SIGKILL);
    assert!(
        wait_for(EXIT_WAIT, || pid_exited(pid)),
        "daemon {pid} survived SIGKILL"
    );
    run(Command::new("umount").arg("-l").arg(&m.mnt)).assert_ok();
    assert!(!m.is_mounted());
}

fn json_of(id: &str, text: &str) -> String {
    format!("{{\"id\":\"{id}\",\"text\":\"{text}\"}}")
}

/// A mix of changes on a store of 6: replace doc1, add `fresh`, delete doc3, rename doc0 to
/// `zero`, sed on doc4. Returns the documents the store should then hold.
fn mixed_changes(m: &Mount) -> Vec<(String, String)> {
    m.sh("printf '{\"text\":\"replaced\"}' > \"$MNT/1\" \
         && printf '{\"text\":\"fresh\"}' > \"$MNT/by-id/fresh\" \
         && rm \"$MNT/by-id/doc3\" \
         && mv \"$MNT/by-id/doc0\" \"$MNT/by-id/zero\" \
         && sed -i s/document/DOC/ \"$MNT/by-id/doc4\"")
        .assert_ok();
    vec![
        ("zero".into(), json_of("zero", "text of document 0")),
        ("doc1".into(), json_of("doc1", "replaced")),
        ("doc2".into(), doc_json(2)),
        ("doc4".into(), json_of("doc4", "text of DOC 4")),
        ("doc5".into(), doc_json(5)),
        ("fresh".into(), json_of("fresh", "fresh")),
    ]
}

fn fsync_then_kill_9_keeps_every_saved_change(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 6, &[]);
    let want = mixed_changes(&m);
    run(Command::new("python3")
        .arg("-c")
        .arg("import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)")
        .arg(m.path("by-id/doc2")))
    .assert_ok();
    // A change after the fsync is not saved: after the crash it is either there or not,
    // and never anything else.
    m.sh("printf '{\"text\":\"unsaved\"}' > \"$MNT/by-id/doc5\"")
        .assert_ok();
    kill_9(&m);
    let after = m.contents();
    assert_eq!(after.len(), want.len(), "{after:#?}");
    assert_eq!(after[..4], want[..4], "saved changes survive the crash");
    assert_eq!(after[5], want[5], "saved changes survive the crash");
    assert_eq!(after[4].0, "doc5");
    assert!(
        [want[4].1.clone(), json_of("doc5", "unsaved")].contains(&after[4].1),
        "doc5 is the saved or the unsaved version: {after:#?}"
    );
    m.mount(&[]).assert_ok();
    assert_eq!(
        m.docs_by_position(),
        after,
        "the next mount serves the store"
    );
    assert_eq!(m.unmount_and_read(), after);
}

fn vims_fsync_makes_its_write_durable(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    m.bash("vim -E -s -c ':%s/document/durable/' -c ':wq' \"$MNT/1\" < /dev/null")
        .assert_ok();
    kill_9(&m);
    let mut want = expected_docs(3);
    want[1].1 = format!("{}\n", json_of("doc1", "text of durable 1"));
    assert_eq!(m.contents(), want);
    m.mount(&[]).assert_ok();
    m.assert_shows(&want);
}

fn damfs_unmount_saves_unsaved_changes(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 6, &[]);
    let want = mixed_changes(&m);
    assert!(
        m.stats()["pool_dirty"].as_u64().unwrap() > 0,
        "changes are unsaved"
    );
    let pid = m.pid();
    m.unmount();
    assert!(
        pid_exited(pid),
        "damfs unmount returned before the daemon exited"
    );
    assert_eq!(m.contents(), want);
}

fn umount_saves_unsaved_changes(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 6, &[]);
    let want = mixed_changes(&m);
    let pid = m.pid();
    run(Command::new("umount").arg(&m.mnt)).assert_ok();
    // umount returns when the kernel detaches; the daemon saves after that.
    assert!(
        wait_for(EXIT_WAIT, || pid_exited(pid)),
        "daemon did not exit"
    );
    assert_eq!(m.contents(), want);
    m.mount(&[]).assert_ok();
    m.assert_shows(&want);
}

fn two_mounts_of_one_store_see_each_others_saved_changes_and_reload_still_works(place: &Place) {
    require_fuse!();
    let a = Mount::at(place, 4, &[]);
    let b = a.second_mount(&[]);
    b.assert_shows(&expected_docs(4));

    // Warm b's caches with the old content first: the change must replace them.
    assert_eq!(b.sh("cat \"$MNT/1\"").stdout, doc_json(1));
    a.sh("printf '{\"text\":\"from a\"}' > \"$MNT/1\" && echo 1 > \"$MNT/.save\"")
        .assert_ok();
    b.sh("echo 1 > \"$MNT/.reload\"").assert_ok();
    let mut want = expected_docs(4);
    want[1].1 = json_of("doc1", "from a");
    b.assert_shows(&want);

    // b adds and deletes (positions shift) and saves; a reloads.
    b.sh(
        "printf '{\"text\":\"from b\"}' > \"$MNT/by-id/bee\" && rm \"$MNT/0\" \
         && echo 1 > \"$MNT/.save\"",
    )
    .assert_ok();
    a.sh("echo 1 > \"$MNT/.reload\"").assert_ok();
    want.remove(0);
    want.push(("bee".into(), json_of("bee", "from b")));
    a.assert_shows(&want);

    // .reload saves this mount's unsaved changes first instead of dropping them.
    a.sh("printf '{\"text\":\"unsaved in a\"}' > \"$MNT/by-id/doc2\"")
        .assert_ok();
    a.sh("echo 1 > \"$MNT/.reload\"").assert_ok();
    b.sh("echo 1 > \"$MNT/.reload\"").assert_ok();
    want[1].1 = json_of("doc2", "unsaved in a");
    a.assert_shows(&want);
    b.assert_shows(&want);

    b.unmount();
    assert_eq!(a.unmount_and_read(), want);
}

/// Checks, through the kernel (stat, read) and with real tools, that every document shows
/// its current bytes and size under both names — nothing stale from the caches.
#[track_caller]
fn assert_fresh(m: &Mount, want: &[(String, String)]) {
    m.assert_shows(want);
    for (i, (id, json)) in want.iter().enumerate() {
        for name in [i.to_string(), format!("by-id/{id}")] {
            let len = std::fs::metadata(m.path(&name)).unwrap().len();
            assert_eq!(len, json.len() as u64, "stat size of {name}");
            let tools = m.sh(&format!(
                "stat -c %s \"$MNT/{name}\"; wc -c < \"$MNT/{name}\"; cat \"$MNT/{name}\""
            ));
            tools.assert_ok();
            let expect = format!("{}\n{}\n{json}", json.len(), json.len());
            assert_eq!(tools.stdout, expect, "stat, wc -c and cat of {name}");
        }
    }
    let past = want.len().to_string();
    m.sh(&format!("cat \"$MNT/{past}\""))
        .assert_fails_with("No such file");
}

/// Reads every file and stats it, so the kernel caches pages, attributes and names.
fn warm_caches(m: &Mount) {
    m.sh("cat \"$MNT\"/[0-9]* \"$MNT\"/by-id/* > /dev/null; stat \"$MNT\"/[0-9]* \"$MNT\"/by-id/* > /dev/null; ls -l \"$MNT\" \"$MNT/by-id\" > /dev/null")
        .assert_ok();
}

fn cat_and_stat_are_never_stale_after_deletes_prune_reload_and_clear(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 8, &[]);
    let mut want = expected_docs(8);
    warm_caches(&m);

    // A delete shifts every later position: /0 is now doc1, with doc1's size.
    m.sh("rm \"$MNT/0\"").assert_ok();
    want.remove(0);
    assert_fresh(&m, &want);

    // A longer document written under one name shows its new size under the other.
    warm_caches(&m);
    let long = json_of("doc5", &"long ".repeat(200));
    m.sh(&format!("printf '%s' '{long}' > \"$MNT/by-id/doc5\""))
        .assert_ok();
    let i5 = want.iter().position(|d| d.0 == "doc5").unwrap();
    want[i5].1 = long;
    assert_fresh(&m, &want);
    // ... and a shorter one written by position.
    warm_caches(&m);
    m.sh(&format!("printf '{{}}' > \"$MNT/{i5}\"")).assert_ok();
    want[i5].1 = "{\"id\":\"doc5\"}".into();
    assert_fresh(&m, &want);

    // Prune rewrites the store files: same documents, same bytes.
    warm_caches(&m);
    m.sh("echo 1 > \"$MNT/.prune\"").assert_ok();
    assert_fresh(&m, &want);

    // Another mount changes the store on disk; .reload shows it here.
    warm_caches(&m);
    {
        let other = m.second_mount(&[]);
        other
            .sh("printf '{\"text\":\"changed elsewhere, and longer than before\"}' > \"$MNT/by-id/doc2\" \
                 && rm \"$MNT/by-id/doc7\" && echo 1 > \"$MNT/.save\"")
            .assert_ok();
        other.unmount();
    }
    m.sh("echo 1 > \"$MNT/.reload\"").assert_ok();
    let i2 = want.iter().position(|d| d.0 == "doc2").unwrap();
    want[i2].1 = json_of("doc2", "changed elsewhere, and longer than before");
    want.retain(|d| d.0 != "doc7");
    assert_fresh(&m, &want);

    // Clear: nothing left under any name, and a new document at /0 is really the new one.
    warm_caches(&m);
    m.sh("echo 1 > \"$MNT/.clear\"").assert_ok();
    want.clear();
    assert_fresh(&m, &want);
    m.sh("cat \"$MNT/by-id/doc1\"")
        .assert_fails_with("No such file");
    m.sh("printf '{\"text\":\"after clear\"}' > \"$MNT/by-id/new\"")
        .assert_ok();
    want.push(("new".into(), json_of("new", "after clear")));
    assert_fresh(&m, &want);
    assert_eq!(m.unmount_and_read(), want);
}

/// The kinds of files in a store directory: their names with digits dropped (prune starts
/// a new generation, `body-1.dam` becomes `body-2.dam`), each with how many there are.
fn store_files(store: &Path) -> BTreeSet<(String, usize)> {
    let names: Vec<String> = std::fs::read_dir(store)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .replace(|c: char| c.is_ascii_digit(), "")
        })
        .collect();
    names
        .iter()
        .map(|n| (n.clone(), names.iter().filter(|m| *m == n).count()))
        .collect()
}

// Memmap only: the store's files on disk.
#[test]
fn prune_through_the_mount_shrinks_the_store_and_leaves_no_temporary_files() {
    require_fuse!();
    let m = Mount::with_docs(10);
    let files = store_files(&m.store);
    m.sh("rm \"$MNT\"/by-id/doc[1-7] && sed -i 's/text of/TEXT of/' \"$MNT/0\" && echo 1 > \"$MNT/.save\"")
        .assert_ok();
    let garbage = m.stats()["garbage_bytes"].as_u64().unwrap();
    let bytes = m.stats()["bytes"].as_u64().unwrap();
    m.sh("echo 1 > \"$MNT/.prune\"").assert_ok();
    let stats = m.stats();
    assert!(
        stats["bytes"].as_u64().unwrap() < bytes
            && stats["garbage_bytes"].as_u64().unwrap() < garbage,
        "prune reclaims the garbage: before {bytes}/{garbage}, after {stats}"
    );
    let want = vec![
        ("doc0".to_string(), json_of("doc0", "TEXT of document 0")),
        ("doc8".to_string(), doc_json(8)),
        ("doc9".to_string(), doc_json(9)),
    ];
    m.assert_shows(&want);
    assert_eq!(
        store_files(&m.store),
        files,
        "no temporary files left in the store"
    );
    assert_eq!(m.unmount_and_read(), want);
    assert_eq!(store_files(&m.store), files);
}

fn kill_9_under_load_leaves_an_openable_store_with_every_document_valid(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 100, &[]);
    // Writers, saves and prunes in a loop; the daemon is killed in the middle of it.
    let script = r#"
        pad=$(printf '%300s' | tr ' ' x)
        ( r=0; while :; do r=$((r+1)); printf '{"text":"round %d %s"}' $r "$pad" > "$MNT/by-id/doc$((r % 100))" 2>/dev/null || exit; done ) &
        ( while :; do sed -i 's/text of/TEXT OF/' "$MNT/by-id/doc7" 2>/dev/null || exit; sed -i 's/TEXT OF/text of/' "$MNT/by-id/doc7" 2>/dev/null || exit; done ) &
        ( while :; do echo 1 > "$MNT/.save" 2>/dev/null || exit; echo 1 > "$MNT/.prune" 2>/dev/null || exit; done ) &
        wait
    "#;
    let pid = m.pid();
    let conn = fuse_connection(&m.mnt).expect("the mount's connection id");
    let load = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("MNT", &m.mnt)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    // Kills the whole load (its process group) on every way out of this test.
    struct Load(std::process::Child);
    impl Drop for Load {
        fn drop(&mut self) {
            // SAFETY: kill takes plain integers; the group is the one we created.
            unsafe { libc::kill(-(self.0.id() as libc::pid_t), libc::SIGKILL) };
            let _ = self.0.wait();
        }
    }
    let load = Load(load);
    std::thread::sleep(Duration::from_millis(1500));
    signal(pid, libc::SIGKILL);

    // The store must be openable soon after the daemon died (its lock released).
    let store = m.store.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(contents_of(&store));
    });
    let opened = rx.recv_timeout(EXIT_WAIT);
    if opened.is_err() {
        let stuck = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let threads: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                d.filter_map(|t| t.ok())
                    .map(|t| {
                        let wchan =
                            std::fs::read_to_string(t.path().join("wchan")).unwrap_or_default();
                        format!("{}:{wchan}", t.file_name().to_string_lossy())
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Recover so that nothing stays hung: abort the connection, then kill the load.
        fuse_abort(conn);
        drop(load);
        let _ = rx.recv_timeout(EXIT_WAIT);
        panic!(
            "{EXIT_WAIT:?} after SIGKILL the store still could not be opened (its lock is held): \
             the killed daemon did not finish exiting. State: {:?}; threads (tid:wchan): {threads:?}",
            stuck.lines().find(|l| l.starts_with("State")).unwrap_or("gone")
        );
    }
    drop(load);
    let docs = opened.unwrap();
    let _ = run(Command::new("umount").arg("-l").arg(&m.mnt));
    let ids: Vec<&str> = docs.iter().map(|d| d.0.as_str()).collect();
    let want: Vec<String> = (0..100).map(|i| format!("doc{i}")).collect();
    assert_eq!(ids, want, "every document, once, in order");
    for (id, json) in &docs {
        let v: serde_json::Value = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("{id} is not JSON after the crash ({e}): {json}"));
        let text = v["text"].as_str().unwrap();
        assert!(
            text.starts_with("round ") || text.to_lowercase().contains("of document"),
            "{id}: {json}"
        );
    }
    m.mount(&[]).assert_ok();
    m.assert_shows(&docs);
    assert_eq!(m.unmount_and_read(), docs);
    if place.postgres {
        return; // no files: the rest is the memmap store's
    }
    // What an interrupted prune left behind is gone after the next clean run.
    let mut kinds = store_files(&m.store);
    kinds.retain(|(name, _)| name != "lock");
    assert!(
        kinds.iter().all(|(_, count)| *count == 1),
        "leftover files in the store: {kinds:?}"
    );
}

/// Threads of `pid` and where they sleep in the kernel.
fn wchans(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|t| t.ok())
                .map(|t| std::fs::read_to_string(t.path().join("wchan")).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

fn kill_9_during_parallel_sed_lets_every_process_exit(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 6, &[]);
    let pid = m.pid();
    let conn = fuse_connection(&m.mnt).expect("the mount's connection id");
    // Parallel sed -i in by-id/. A daemon that sent FUSE_NOTIFY_INVAL_ENTRY here would at
    // times wait for the directory lock of a rename whose reply it owes; killed then, it
    // could never exit. damfs sends no such notification: none of its threads may be
    // found waiting there, and the kill always ends everything.
    let script = r#"
        for j in 1 2 3; do
            ( while :; do sed -i 's/text/text/' "$MNT/by-id/doc$j" 2>/dev/null || exit; done ) &
        done
        wait
    "#;
    struct Load(std::process::Child);
    impl Drop for Load {
        fn drop(&mut self) {
            // SAFETY: kill takes plain integers; the group is the one we created.
            unsafe { libc::kill(-(self.0.id() as libc::pid_t), libc::SIGKILL) };
            let _ = self.0.wait();
        }
    }
    let load = Load(
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .env("MNT", &m.mnt)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let blocked = wait_for(Duration::from_secs(2), || {
        wchans(pid).iter().any(|w| w == "fuse_reverse_inval_entry")
    });
    assert!(
        !blocked,
        "a daemon thread waited in fuse_reverse_inval_entry"
    );
    signal(pid, libc::SIGKILL);
    // Every thread of the daemon must go (the FUSE connection closes with the last one),
    // and with it every request the load was waiting on.
    let finished = wait_for(Duration::from_secs(10), || {
        all_threads_exited(pid) && wchans_of_group(load.0.id()).is_empty()
    });
    let threads = wchans(pid);
    if !finished {
        let waiting = wchans_of_group(load.0.id());
        // Does killing the waiting processes end it? (A request the daemon had already read
        // is waited for uninterruptibly.)
        // SAFETY: kill takes plain integers; the group is the one we created.
        unsafe { libc::kill(-(load.0.id() as libc::pid_t), libc::SIGKILL) };
        let ended_by_kill = wait_for(Duration::from_secs(5), || all_threads_exited(pid));
        let still = wchans_of_group(load.0.id());
        // Recover so that nothing stays hung, then report.
        fuse_abort(conn);
        drop(load);
        panic!(
            "killed while its notification thread waited on a directory lock (seen: {blocked}), \
             the daemon cannot finish exiting (its threads' wchan: {threads:?}) and the sed \
             processes holding that lock wait in the kernel for replies that never come \
             ({waiting:?}); SIGKILL of those processes ended it: {ended_by_kill} (left: \
             {still:?}); aborting the FUSE connection by hand (fusectl) does"
        );
    }
    drop(load);
    let _ = run(Command::new("umount").arg("-l").arg(&m.mnt));
    let docs = m.contents();
    assert_eq!(docs.len(), 6);
}

/// Whether every thread of `pid` has exited (gone, or only a zombie left).
fn all_threads_exited(pid: u32) -> bool {
    match std::fs::read_dir(format!("/proc/{pid}/task")) {
        Err(_) => true,
        Ok(d) => d.filter_map(|t| t.ok()).all(|t| {
            std::fs::read_to_string(t.path().join("stat"))
                .map(|s| {
                    s.rfind(')')
                        .is_some_and(|i| s[i + 1..].trim_start().starts_with(['Z', 'X']))
                })
                .unwrap_or(true)
        }),
    }
}

/// Live processes of process group `pgid` and where they wait, as "pid comm wchan".
fn wchans_of_group(pgid: u32) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // fields[0] = state, fields[2] = pgrp
        if fields.get(2) == Some(&&*pgid.to_string()) && fields[0] != "Z" {
            let comm = &stat[stat.find('(').unwrap_or(0) + 1..close];
            let wchan = std::fs::read_to_string(e.path().join("wchan")).unwrap_or_default();
            out.push(format!("{pid} {comm} {} {wchan}", fields[0]));
        }
    }
    out
}

both_backends!(
    kill_9_under_load_leaves_an_openable_store_with_every_document_valid,
    fsync_then_kill_9_keeps_every_saved_change,
    vims_fsync_makes_its_write_durable,
    damfs_unmount_saves_unsaved_changes,
    umount_saves_unsaved_changes,
    two_mounts_of_one_store_see_each_others_saved_changes_and_reload_still_works,
    cat_and_stat_are_never_stale_after_deletes_prune_reload_and_clear,
    kill_9_during_parallel_sed_lets_every_process_exit,
);
