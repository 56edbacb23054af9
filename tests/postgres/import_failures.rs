//! An import into PostgreSQL is one COPY in one transaction: refused by the server part-way
//! (here by a trigger on its 10,002nd row), or killed with SIGKILL while it sends its rows,
//! it leaves none of its documents, and the store's own are untouched.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::postgres::PgServer;
use crate::support::*;

fn input_of(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let input = dir.join("in.jsonl");
    let lines: String = (0..n)
        .map(|i| format!("{{\"id\":\"d{i}\",\"text\":\"{}\"}}\n", "t".repeat(200)))
        .collect();
    std::fs::write(&input, lines).unwrap();
    input
}

/// A fresh database whose store holds one document, `seed`; and a scratch directory.
fn seeded_store(server: &PgServer) -> (String, String, tempfile::TempDir) {
    let db = server.fresh_db();
    let url = server.url_for(&db, "damfs");
    let dir = scratch();
    let seed = dir.path().join("seed.jsonl");
    std::fs::write(&seed, "{\"id\":\"seed\"}\n").unwrap();
    damfs(["import", &url, seed.to_str().unwrap()]).assert_ok();
    (db, url, dir)
}

#[test]
fn an_import_the_server_refuses_part_way_leaves_none_of_it() {
    let server = require_pg!();
    let (db, url, dir) = seeded_store(server);
    // The server refuses rows past the 10,001st.
    server.sql(
        &db,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'refused by a trigger'; END $$; \
         CREATE TRIGGER no_second_chunk BEFORE INSERT ON damfs FOR EACH ROW \
         WHEN (NEW.rank > 10001) EXECUTE FUNCTION refuse()",
    );
    let input = input_of(dir.path(), 15_000);
    let run = damfs(["import", &url, input.to_str().unwrap()]);
    run.assert_fails_with("refused by a trigger");
    run.assert_fails_with("nothing of it was written");
    assert_eq!(server.psql(&db, "SELECT count(*) FROM damfs"), "1");
    let ls = damfs(["ls", &url]);
    assert_eq!(ls.assert_ok().lines(), ["seed"]);
}

#[test]
fn an_import_killed_while_it_sends_its_rows_leaves_none_of_it() {
    let server = require_pg!();
    let (db, url, dir) = seeded_store(server);
    // Large enough that the COPY runs for a while (about 60 MB), read twice (past 8 MiB).
    let input = input_of(dir.path(), 250_000);
    let mut child = Command::new(BIN)
        .arg("import")
        .arg(&url)
        .arg(&input)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the server has taken 20,000 of its rows (two of the chunks that an
    // import once committed one by one), or as soon as any of them shows.
    let copying = || {
        server.psql(
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%' AND state = 'active'",
        ) != "0"
    };
    let rows_taken = || {
        server
            .psql(
                &db,
                "SELECT coalesce(max(tuples_processed), 0) FROM pg_stat_progress_copy",
            )
            .parse::<u64>()
            .unwrap()
    };
    let rows_shown = || server.psql(&db, "SELECT count(*) FROM damfs") != "1";
    let caught = wait_for(Duration::from_secs(120), || {
        rows_taken() >= 20_000 || rows_shown() || child.try_wait().unwrap().is_some()
    });
    assert!(caught, "the import neither copied nor ended");
    if child.try_wait().unwrap().is_none() {
        signal(child.id(), libc::SIGKILL);
    }
    child.wait().unwrap();
    // The server notices the cut connection and rolls the transaction back.
    assert!(wait_for(Duration::from_secs(30), || !copying()));
    let ids = damfs(["ls", &url]);
    let ids = ids.assert_ok().lines();
    assert!(
        ids == ["seed"] || ids.len() == 250_001,
        "a killed import left {} of its 250000 documents",
        ids.len() - 1
    );
    assert_eq!(ids[0], "seed");
}
