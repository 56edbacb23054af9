//! Several processes creating one store at once (each `import` into a table that does not
//! exist yet): one creates the tables, the others find them made, and every import lands.

use crate::support::*;

#[test]
fn six_imports_creating_one_store_at_once_all_succeed() {
    let server = require_pg!();
    let db = server.fresh_db();
    let dir = scratch();
    for round in 0..3 {
        let url = server.url_for(&db, &format!("race{round}"));
        let children: Vec<_> = (0..6)
            .map(|k| {
                let input = dir.path().join(format!("in{round}_{k}.jsonl"));
                std::fs::write(&input, format!("{{\"id\":\"p{k}\"}}\n")).unwrap();
                std::process::Command::new(BIN)
                    .args(["import", &url, input.to_str().unwrap()])
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let exported = damfs(["export", &url]);
        assert_eq!(exported.assert_ok().lines().len(), 6, "round {round}");
    }
}
