//! Tools that replace a file by deleting and creating it again keep the document's position:
//! `mv` across filesystems, `install`, `cp --remove-destination`, `tar -x`, and the common
//! `jq … "$f" > /tmp/x && mv /tmp/x "$f"` loop. A delete followed by another name, or by
//! the same name much later, stays a delete plus an append.

use std::time::Duration;

use crate::support::place::Place;
use crate::support::*;

fn json_of(id: &str, text: &str) -> String {
    format!(r#"{{"id":"{id}","text":"{text}"}}"#)
}

/// Writes `text` to a file outside the mount (another filesystem) and returns its path.
fn outside(m: &Mount, name: &str, text: &str) -> String {
    let p = m.dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

fn mv_across_filesystems_keeps_the_position_in_by_id_and_at_a_position(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    let x = outside(&m, "x.json", &json_of("doc1", "moved in"));
    m.sh(&format!("mv {x} \"$MNT/by-id/doc1\"")).assert_ok();
    let y = outside(&m, "y.json", &json_of("doc2", "moved onto 2"));
    m.sh(&format!("mv {y} \"$MNT/2\"")).assert_ok();
    let mut want = expected_docs(4);
    want[1].1 = json_of("doc1", "moved in");
    want[2].1 = json_of("doc2", "moved onto 2");
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn install_and_cp_remove_destination_replace_in_place(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    let a = outside(&m, "a.json", r#"{"text":"installed"}"#);
    m.sh(&format!("install -m 644 {a} \"$MNT/3\"")).assert_ok();
    let b = outside(&m, "b.json", &json_of("doc0", "copied"));
    m.sh(&format!("cp --remove-destination {b} \"$MNT/by-id/doc0\""))
        .assert_ok();
    let c = outside(&m, "c.json", &json_of("doc1", "cp -a"));
    m.sh(&format!("cp -a {c} \"$MNT/1\"")).assert_ok();
    let mut want = expected_docs(4);
    want[3].1 = json_of("doc3", "installed");
    want[0].1 = json_of("doc0", "copied");
    want[1].1 = json_of("doc1", "cp -a");
    m.assert_shows(&want);
}

fn tar_x_over_by_id_keeps_every_position(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    let src = m.dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    for i in [3, 1, 4] {
        std::fs::write(
            src.join(format!("doc{i}")),
            json_of(&format!("doc{i}"), "from tar"),
        )
        .unwrap();
    }
    m.sh("tar -C src -cf docs.tar doc3 doc1 doc4 && tar -C \"$MNT/by-id\" -xf docs.tar")
        .assert_ok();
    let mut want = expected_docs(5);
    for i in [1, 3, 4] {
        want[i].1 = json_of(&format!("doc{i}"), "from tar");
    }
    m.assert_shows(&want);
}

fn the_jq_and_mv_loop_keeps_the_order(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 6, &[]);
    m.bash(
        "set -e; for f in \"$MNT\"/by-id/*; do jq -c '.seen=true' \"$f\" > \"$HOME/x\" && mv \"$HOME/x\" \"$f\"; done; \
         for f in \"$MNT\"/[0-9]*; do jq -c '.again=1' \"$f\" > \"$HOME/y\" && mv \"$HOME/y\" \"$f\"; done",
    )
    .assert_ok();
    let ids: Vec<String> = m.docs_by_position().into_iter().map(|d| d.0).collect();
    assert_eq!(ids, ["doc0", "doc1", "doc2", "doc3", "doc4", "doc5"]);
    let all = m.sh("jq -c '[.seen, .again]' \"$MNT\"/[0-9]*").stdout;
    assert_eq!(all, "[true,1]\n".repeat(6));
    assert_eq!(m.stats()["temporary_files"], 0);
}

fn a_delete_then_another_name_is_a_delete_and_an_append(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    m.sh("rm \"$MNT/by-id/doc0\" && printf '{\"text\":\"other\"}' > \"$MNT/by-id/new\"")
        .assert_ok();
    let want = vec![
        ("doc1".to_string(), doc_json(1)),
        ("doc2".into(), doc_json(2)),
        ("new".into(), json_of("new", "other")),
    ];
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn the_same_name_much_later_is_a_new_document_at_the_end(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    m.sh("rm \"$MNT/by-id/doc0\"").assert_ok();
    std::thread::sleep(Duration::from_millis(1500));
    m.sh("printf '{\"text\":\"back\"}' > \"$MNT/by-id/doc0\"")
        .assert_ok();
    let want = vec![
        ("doc1".to_string(), doc_json(1)),
        ("doc2".into(), doc_json(2)),
        ("doc0".into(), json_of("doc0", "back")),
    ];
    m.assert_shows(&want);
}

fn another_process_creating_the_name_makes_a_new_document(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    // Two shells: the second never deleted anything.
    m.sh("rm \"$MNT/by-id/doc1\"").assert_ok();
    m.sh("printf '{\"text\":\"again\"}' > \"$MNT/by-id/doc1\"")
        .assert_ok();
    let ids: Vec<String> = m.docs_by_position().into_iter().map(|d| d.0).collect();
    assert_eq!(ids, ["doc0", "doc2", "doc1"]);
}

fn a_recreated_file_with_an_invalid_document_leaves_the_delete_standing(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    let bad = outside(&m, "bad.json", &json_of("someone-else", "x"));
    let r = m.sh(&format!("install {bad} \"$MNT/by-id/doc1\""));
    assert_ne!(r.code, 0, "install must report the failed close");
    let want = vec![
        ("doc0".to_string(), doc_json(0)),
        ("doc2".into(), doc_json(2)),
    ];
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn a_delete_is_durable_after_a_save_even_inside_the_window(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    m.sh("rm \"$MNT/1\" && echo 1 > \"$MNT/.save\"").assert_ok();
    // What the store has on disk right now, read by another process.
    let on_disk: Vec<String> = m.contents().into_iter().map(|d| d.0).collect();
    assert_eq!(on_disk, ["doc0", "doc2"]);
}

fn vims_4913_probe_is_a_temporary_that_never_shadows_a_document(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 2, &[]);
    // vim creates `4913` next to the file it writes, checks it, removes it.
    m.sh("printf probe > \"$MNT/4913\" && cat \"$MNT/4913\" && rm \"$MNT/4913\"")
        .assert_ok();
    m.assert_shows(&expected_docs(2));
    // A temporary named like the next position gives way when a document gets there.
    m.sh("printf probe > \"$MNT/2\"").assert_ok();
    assert_eq!(m.sh("cat \"$MNT/2\"").stdout, "probe");
    m.sh("printf '{\"text\":\"third\"}' > \"$MNT/by-id/third\"")
        .assert_ok();
    assert_eq!(m.sh("cat \"$MNT/2\"").stdout, json_of("third", "third"));
    let mut want = expected_docs(2);
    want.push(("third".into(), json_of("third", "third")));
    m.assert_shows(&want);
    // vim itself, with default settings, edits a document in place.
    m.shell(
        "bash",
        "vim -Es -u NONE -i NONE -c '%s/:\"third\"}/:\"3rd\"}/' -c 'wq' \"$MNT/2\"",
        &[],
    );
    // (vim ends the file with a newline, kept as written.)
    assert_eq!(
        m.sh("cat \"$MNT/2\"").stdout,
        json_of("third", "3rd") + "\n"
    );
    assert_eq!(m.stats()["temporary_files"], 0);
}

both_backends!(
    mv_across_filesystems_keeps_the_position_in_by_id_and_at_a_position,
    install_and_cp_remove_destination_replace_in_place,
    tar_x_over_by_id_keeps_every_position,
    the_jq_and_mv_loop_keeps_the_order,
    a_delete_then_another_name_is_a_delete_and_an_append,
    the_same_name_much_later_is_a_new_document_at_the_end,
    another_process_creating_the_name_makes_a_new_document,
    a_recreated_file_with_an_invalid_document_leaves_the_delete_standing,
    a_delete_is_durable_after_a_save_even_inside_the_window,
    vims_4913_probe_is_a_temporary_that_never_shadows_a_document,
);
