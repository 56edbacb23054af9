//! Writing to a document that was deleted while the file was open (README, "Errors":
//! ENOENT, "a document deleted while open"): the write and the close fail, the failure is a
//! log line like any other (it is lost data, not a missing name), and nothing comes back.

use crate::support::place::Place;
use crate::support::*;

fn a_write_to_a_document_deleted_while_open_fails_and_is_logged(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    let script = r#"
import os, sys
fd = os.open(sys.argv[1] + "/by-id/doc1", os.O_WRONLY | os.O_TRUNC)
os.unlink(sys.argv[1] + "/1")
for step in ("write", "close"):
    try:
        os.write(fd, b'{"text":"too late"}') if step == "write" else os.close(fd)
        print(step, "ok")
    except OSError as e:
        print(step, e.errno)
"#;
    let r = m.shell("sh", "python3 -c \"$PY\" \"$MNT\"", &[("PY", script)]);
    r.assert_ok();
    assert_eq!(r.lines(), ["write 2", "close 2"]);
    let log = m.read_log("store.damfs.log");
    assert!(log.contains("deleted while open"), "{log}");
    let want: Vec<_> = expected_docs(3)
        .into_iter()
        .filter(|(id, _)| id != "doc1")
        .collect();
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

both_backends!(a_write_to_a_document_deleted_while_open_fails_and_is_logged,);
