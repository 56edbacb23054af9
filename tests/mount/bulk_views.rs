//! `/.all.jsonl` (every document as a JSON line, in order) and `/.append.jsonl` (JSON Lines
//! appended at close, all or nothing), on read-write and read-only mounts.

use crate::support::place::Place;
use crate::support::*;

fn export(m: &Mount) -> String {
    let out = damfs(["export".as_ref(), m.store.as_os_str()]);
    out.assert_ok();
    out.stdout
}

fn all_jsonl_is_the_export_with_its_exact_size(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 50, &[]);
    // A pretty-printed document is one line in the view, as in `damfs export`.
    m.sh("printf '{\\n  \"text\": \"spread over\\\\n lines?\",\\n  \"n\": 1.50\\n}' > \"$MNT/by-id/pretty\"")
        .assert_ok();
    m.sh("rm \"$MNT/by-id/doc7\"").assert_ok();
    let all = m.sh("cat \"$MNT/.all.jsonl\"");
    all.assert_ok();
    let size = m.sh("stat -c %s \"$MNT/.all.jsonl\"; wc -c < \"$MNT/.all.jsonl\"");
    let n = all.stdout.len();
    assert_eq!(size.stdout, format!("{n}\n{n}\n"));
    assert!(all
        .stdout
        .ends_with("{\"id\":\"pretty\",\"text\":\"spread over\\n lines?\",\"n\":1.50}\n"));
    assert_eq!(all.stdout.lines().count(), 50);
    let count = m.sh("grep -c 'text of document 4' \"$MNT/.all.jsonl\"");
    assert_eq!(count.stdout, "11\n"); // 4 and 40..49
    let sel = m.sh("jq -c 'select(.id==\"doc3\") | .text' \"$MNT/.all.jsonl\"");
    assert_eq!(sel.stdout, "\"text of document 3\"\n");
    m.unmount();
    assert_eq!(export(&m), all.stdout);
}

fn all_jsonl_follows_changes_and_works_read_only(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    assert_eq!(m.sh("cat \"$MNT/.all.jsonl\"").stdout.lines().count(), 3);
    m.sh("printf '{\"text\":\"four\"}' > \"$MNT/by-id/four\"")
        .assert_ok();
    let after = m.sh("cat \"$MNT/.all.jsonl\"").stdout;
    assert_eq!(after.lines().last(), Some(r#"{"id":"four","text":"four"}"#));
    m.sh("echo x > \"$MNT/.all.jsonl\"")
        .assert_fails_with("Permission denied");
    m.unmount();
    m.mount(&["--read-only"]).assert_ok();
    assert_eq!(m.sh("cat \"$MNT/.all.jsonl\"").stdout, after);
    assert_eq!(
        m.sh("stat -c %s \"$MNT/.all.jsonl\"").stdout.trim(),
        after.len().to_string()
    );
    m.sh("echo '{}' > \"$MNT/.append.jsonl\"")
        .assert_fails_with("Read-only file system");
}

fn append_jsonl_adds_documents_at_close_all_or_nothing(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 2, &[]);
    let good = m.dir.path().join("good.jsonl");
    std::fs::write(
        &good,
        "{\"id\":\"a1\",\"text\":\"x\"}\n\n{\"id\":\"a2\",\"text\":\"y\"}\r\n",
    )
    .unwrap();
    // The kernel remembers these as missing; appending makes them exist.
    m.sh("cat \"$MNT/by-id/a1\" \"$MNT/2\" \"$MNT/3\" 2>/dev/null; true")
        .assert_ok();
    m.sh(&format!("cp {} \"$MNT/.append.jsonl\"", good.display()))
        .assert_ok();
    assert_eq!(
        m.sh("cat \"$MNT/by-id/a1\"").stdout,
        r#"{"id":"a1","text":"x"}"#
    );
    assert_eq!(m.sh("cat \"$MNT/3\"").stdout, r#"{"id":"a2","text":"y"}"#);
    let mut want = expected_docs(2);
    want.push(("a1".into(), r#"{"id":"a1","text":"x"}"#.into()));
    want.push(("a2".into(), r#"{"id":"a2","text":"y"}"#.into()));
    m.assert_shows(&want);

    // One bad line (an id the store has, then not JSON): cp reports the failed close, and
    // nothing of the file is added.
    let bad = m.dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"id\":\"b1\",\"text\":\"fine\"}\n{\"id\":\"a1\"}\nnot json\n",
    )
    .unwrap();
    m.sh(&format!("cp {} \"$MNT/.append.jsonl\"", bad.display()))
        .assert_fails_with("Invalid argument");
    m.assert_shows(&want);
    let log = std::fs::read_to_string(m.dir.path().join("store.damfs.log")).unwrap();
    assert!(log.contains("line 2: id \"a1\" exists"), "{log}");
    assert!(log.contains("line 3:"), "{log}");

    // Documents without an id get one; a duplicate inside the input is refused.
    m.sh("printf '{\"text\":\"no id\"}\\n' > \"$MNT/.append.jsonl\"")
        .assert_ok();
    assert_eq!(m.docs_by_position().len(), 5);
    m.sh("printf '{\"id\":\"d\"}\\n{\"id\":\"d\"}\\n' | python3 -c \"import sys; f=open(sys.argv[1],'w'); f.write(sys.stdin.read()); f.close()\" \"$MNT/.append.jsonl\"")
        .assert_fails_with("Invalid argument");
    assert_eq!(m.docs_by_position().len(), 5);
    // Read, it is empty (so `grep -r` and `cp -r` of the mount work: whole_mount.rs).
    assert_eq!(m.sh("cat \"$MNT/.append.jsonl\"").assert_ok().stdout, "");
    let saved: Vec<String> = m.unmount_and_read().into_iter().map(|d| d.0).collect();
    assert_eq!(saved.len(), 5);
    assert_eq!(&saved[..4], ["doc0", "doc1", "a1", "a2"]);
}

both_backends!(
    all_jsonl_is_the_export_with_its_exact_size,
    all_jsonl_follows_changes_and_works_read_only,
    append_jsonl_adds_documents_at_close_all_or_nothing,
);
