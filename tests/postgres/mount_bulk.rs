//! `/.all.jsonl` on a PostgreSQL mount while documents go from the table before the mount has
//! heard of it (another mount's delete a moment ago, or a row deleted by hand): the file was
//! "No such file or directory" (its size is the sum of every document's line, and one was
//! not found); now the missing documents are left out, as they are gone.

use crate::support;
use crate::support::*;

#[test]
fn all_jsonl_stays_readable_when_a_row_goes_behind_the_mounts_back() {
    require_fuse!();
    let server = require_pg!();
    let db = server.fresh_db();
    let place = support::place::Place::at_url(server.url_for(&db, "damfs"), &db);
    let m = support::place::mount(&place, 5, &[]);
    // Written by hand: no change feed entry, so the mount never hears of it.
    server.sql(&db, "DELETE FROM damfs WHERE id = 'doc3'");
    let all = std::fs::read_to_string(m.mnt.join(".all.jsonl"));
    let expected: String = [0, 1, 2, 4].iter().map(|&i| doc_json(i) + "\n").collect();
    assert_eq!(all.ok().as_deref(), Some(expected.as_str()));
    let wc = m.sh(r#"wc -l < "$MNT/.all.jsonl""#);
    assert_eq!(wc.assert_ok().stdout.trim(), "4");
    assert_eq!(
        sys::errno_of(std::fs::read(m.mnt.join("by-id/doc3"))),
        libc::ENOENT,
        "the document itself is gone"
    );
    m.unmount();
}
