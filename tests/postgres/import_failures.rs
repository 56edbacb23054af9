//! An import that fails part-way on PostgreSQL (chunks of 10,000 documents are committed as
//! they go) removes what it wrote; where that fails too, the message says how much of the
//! import the store holds, instead of "part of the import".

use crate::support::*;

#[test]
fn an_import_that_cannot_be_undone_says_how_much_the_store_holds() {
    let server = require_pg!();
    let db = server.fresh_db();
    let url = server.url_for(&db, "damfs");
    let dir = scratch();
    let seed = dir.path().join("seed.jsonl");
    std::fs::write(&seed, "{\"id\":\"seed\"}\n").unwrap();
    damfs(["import", &url, seed.to_str().unwrap()]).assert_ok();
    // The server refuses the second chunk's rows, and every delete.
    server.sql(
        &db,
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'refused by a trigger'; END $$; \
         CREATE TRIGGER no_second_chunk BEFORE INSERT ON damfs FOR EACH ROW \
         WHEN (NEW.rank > 10001) EXECUTE FUNCTION refuse(); \
         CREATE TRIGGER no_deletes BEFORE DELETE ON damfs FOR EACH ROW EXECUTE FUNCTION refuse()",
    );
    let input = dir.path().join("in.jsonl");
    let lines: String = (0..15_000)
        .map(|i| format!("{{\"id\":\"d{i}\"}}\n"))
        .collect();
    std::fs::write(&input, lines).unwrap();
    let run = damfs(["import", &url, input.to_str().unwrap()]);
    run.assert_fails_with("refused by a trigger");
    run.assert_fails_with("the store holds the first 10000 documents of the import");
    assert_eq!(server.psql(&db, "SELECT count(*) FROM damfs"), "10001");
}
