//! The commands on both backends: `damfs import/export/stat/prune/clear STORE`, where STORE
//! is a directory or a `postgresql://` URL.

use crate::support::place::Place;
use crate::support::{both_backends, damfs, scratch};

fn write_input(dir: &std::path::Path, lines: &[String]) -> std::path::PathBuf {
    let path = dir.join("input.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!(r#"{{"id":"doc{i}","text":"line {i}\ttab \\ slash"}}"#))
        .collect()
}

fn import_then_export_gives_the_input_back(place: &Place) {
    let dir = scratch();
    let input = write_input(dir.path(), &lines(500));
    damfs(["import", &place.arg(), input.to_str().unwrap()]).assert_ok();
    let out = damfs(["export", &place.arg()]);
    out.assert_ok();
    assert_eq!(out.lines(), lines(500));
    let stat: serde_json::Value =
        serde_json::from_str(&damfs(["stat", &place.arg()]).assert_ok().stdout).unwrap();
    assert_eq!(stat["length"], 500);
}

fn a_bad_import_writes_nothing(place: &Place) {
    let dir = scratch();
    let mut input = lines(10);
    input.push(r#"{"id":"doc3","text":"duplicate"}"#.to_owned());
    let input = write_input(dir.path(), &input);
    damfs(["import", &place.arg(), input.to_str().unwrap()]).assert_fails_with("duplicate id");
    // Nothing was created.
    damfs(["stat", &place.arg()]).assert_fails_with("cannot open store");
    // Importing ids the store has is refused as well.
    let good = write_input(dir.path(), &lines(3));
    damfs(["import", &place.arg(), good.to_str().unwrap()]).assert_ok();
    damfs(["import", &place.arg(), good.to_str().unwrap()]).assert_fails_with("already exists");
    assert_eq!(damfs(["export", &place.arg()]).assert_ok().lines().len(), 3);
}

fn prune_keeps_and_clear_empties(place: &Place) {
    let dir = scratch();
    let input = write_input(dir.path(), &lines(50));
    damfs(["import", &place.arg(), input.to_str().unwrap()]).assert_ok();
    damfs(["prune", &place.arg()]).assert_ok();
    assert_eq!(
        damfs(["export", &place.arg()]).assert_ok().lines(),
        lines(50)
    );
    damfs(["clear", &place.arg()]).assert_ok();
    assert_eq!(damfs(["export", &place.arg()]).assert_ok().stdout, "");
}

fn prune_and_clear_of_no_store_fail(place: &Place) {
    damfs(["prune", &place.arg()]).assert_fails_with("cannot open store");
    damfs(["clear", &place.arg()]).assert_fails_with("cannot open store");
}

fn get_put_rm_ls(place: &Place) {
    let dir = scratch();
    let input = write_input(dir.path(), &lines(5));
    damfs(["put", &place.arg(), input.to_str().unwrap()]).assert_ok();
    let changed = write_input(
        dir.path(),
        &[r#"{"id":"doc2","text":"replaced"}"#.to_owned()],
    );
    damfs(["put", &place.arg(), changed.to_str().unwrap()]).assert_ok();
    let got = damfs(["get", &place.arg(), "2"]);
    assert_eq!(
        got.assert_ok().stdout,
        "{\"id\":\"doc2\",\"text\":\"replaced\"}\n"
    );
    damfs(["rm", &place.arg(), "doc0", "doc4"]).assert_ok();
    damfs(["rm", &place.arg(), "doc1", "nope"]).assert_fails_with("nope");
    assert_eq!(
        damfs(["ls", &place.arg()]).assert_ok().lines(),
        ["doc1", "doc2", "doc3"]
    );
}

both_backends!(
    get_put_rm_ls,
    import_then_export_gives_the_input_back,
    a_bad_import_writes_nothing,
    prune_keeps_and_clear_empties,
    prune_and_clear_of_no_store_fail,
);

#[test]
fn a_password_is_never_printed() {
    let server = crate::require_pg!();
    let db = server.fresh_db();
    server.sql(&db, "CREATE ROLE reader LOGIN PASSWORD 'hunter2-secret'");
    // A TCP address nothing listens on: the command fails, naming the store without the password.
    let url = format!("postgresql://reader:hunter2-secret@127.0.0.1:1/{db}?table=t");
    let run = damfs(["stat", &url]);
    run.assert_fails_with("127.0.0.1");
    assert!(!run.stderr.contains("hunter2"), "{}", run.stderr);
    assert!(!run.stdout.contains("hunter2"));
}

#[test]
fn a_missing_permission_is_reported() {
    let server = crate::require_pg!();
    let db = server.fresh_db();
    let owner = server.url_for(&db, "damfs");
    let dir = scratch();
    let input = write_input(dir.path(), &lines(5));
    damfs(["import", &owner, input.to_str().unwrap()]).assert_ok();
    server.sql(&db, "CREATE ROLE nobody LOGIN");
    let nobody = format!(
        "postgresql://nobody@/{db}?host={}&table=damfs",
        server.socket_dir().display()
    );
    damfs(["export", &nobody]).assert_fails_with("permission denied");
    let more = write_input(dir.path(), &[r#"{"id":"x"}"#.to_owned()]);
    damfs(["import", &nobody, more.to_str().unwrap()]).assert_fails_with("permission denied");
    assert_eq!(damfs(["export", &owner]).assert_ok().lines(), lines(5));
}
