//! Tools run over the whole mount, control files and bulk views included: `grep -r`,
//! `cp -r`, `tar c`, `rsync -a` out of it, on a read-write and a `--read-only` mount. Each
//! must finish without an error (README, "Tools": `grep -r` over the root finds `.all.jsonl`
//! too) and copy every document byte for byte; `/.append.jsonl` reads as an empty file.

use crate::support::place::Place;
use crate::support::*;

/// The documents copied out under `dir/by-id/`, in id order.
fn copied_by_id(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut docs: Vec<(String, String)> = std::fs::read_dir(dir.join("by-id"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            (name, std::fs::read_to_string(e.path()).unwrap())
        })
        .collect();
    docs.sort();
    docs
}

fn tools_over_the_whole_mount(m: &Mount) {
    let out = m.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let want = expected_docs(4);
    m.sh("grep -r 'document 2' \"$MNT\" > /dev/null")
        .assert_ok();
    m.sh("grep -rq nothing-has-this \"$MNT\"; test $? -eq 1")
        .assert_ok();
    let copy = m.sh(&format!("cp -r \"$MNT\" '{}/cp'", out.display()));
    copy.assert_ok();
    assert_eq!(copied_by_id(&out.join("cp")), want);
    assert_eq!(std::fs::read(out.join("cp/.append.jsonl")).unwrap(), b"");
    m.sh(&format!("rsync -a \"$MNT/\" '{}/rsync/'", out.display()))
        .assert_ok();
    assert_eq!(copied_by_id(&out.join("rsync")), want);
    m.sh(&format!(
        "mkdir -p '{0}/tar' && tar cf - -C \"$MNT\" by-id .append.jsonl .all.jsonl | tar xf - -C '{0}/tar'",
        out.display()
    ))
    .assert_ok();
    assert_eq!(copied_by_id(&out.join("tar")), want);
    // All of it, `.stats` (whose counters change as tar reads) and the control files too.
    m.sh(&format!(
        "mkdir -p '{0}/all' && tar cf '{0}/all.tar' -C \"$MNT\" . && tar xf '{0}/all.tar' -C '{0}/all'",
        out.display()
    ))
    .assert_ok();
    assert_eq!(copied_by_id(&out.join("all")), want);
    let stats = std::fs::read_to_string(out.join("all/.stats")).unwrap();
    if m.stats()["read_only"] != true {
        assert!(stats.is_empty(), "size 0, as /proc's files: {stats:?}");
    } else {
        assert!(stats.contains("\"requests\""), "{stats:?}");
    }
}

fn grep_cp_rsync_and_tar_over_the_whole_mount_succeed(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    tools_over_the_whole_mount(&m);
    // Reading it appended nothing; writing it still appends.
    m.sh("printf '{\"id\":\"new\"}\\n' > \"$MNT/.append.jsonl\"")
        .assert_ok();
    let mut want = expected_docs(4);
    want.push(("new".into(), "{\"id\":\"new\"}".into()));
    assert_eq!(m.unmount_and_read(), want);
}

fn the_same_tools_succeed_on_a_read_only_mount(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &["--read-only"]);
    tools_over_the_whole_mount(&m);
    assert_eq!(m.unmount_and_read(), expected_docs(4));
}

both_backends!(
    grep_cp_rsync_and_tar_over_the_whole_mount_succeed,
    the_same_tools_succeed_on_a_read_only_mount,
);
