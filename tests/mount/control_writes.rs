//! A control file written in pieces (README, "Paths": `echo 1 > MNT/.save` runs it; any
//! other text is EINVAL): a `1` and its newline may come in two `write(2)` calls, as from
//! `{ printf 1; echo; } > .save` or two `os.write`s. The newline after a `1` that ran is
//! accepted; on its own, or after anything else, it is still refused.

use crate::support::place::Place;
use crate::support::*;

fn a_one_and_its_newline_in_two_writes_run_the_control_file_once(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    m.sh("printf '{\"id\":\"doc1\",\"v\":2}' > \"$MNT/by-id/doc1\"")
        .assert_ok();
    assert_eq!(m.stats()["pool_dirty"], 1);
    m.bash("{ printf 1; echo; } > \"$MNT/.save\"").assert_ok();
    assert_eq!(m.stats()["pool_dirty"], 0);
    let script = r#"
import os, sys
for parts in ([b"1", b"\n"], [b"\n"], [b"1", b"x"], [b"1", b"\n", b"1\n"]):
    fd = os.open(sys.argv[1] + "/.save", os.O_WRONLY)
    try:
        for p in parts:
            os.write(fd, p)
        print("ok")
    except OSError as e:
        print(e.errno)
    os.close(fd)
"#;
    let r = m.shell("sh", "python3 -c \"$PY\" \"$MNT\"", &[("PY", script)]);
    r.assert_ok();
    assert_eq!(r.lines(), ["ok", "22", "22", "ok"]);
    let mut want = expected_docs(3);
    want[1].1 = "{\"id\":\"doc1\",\"v\":2}".into();
    assert_eq!(m.unmount_and_read(), want);
}

both_backends!(a_one_and_its_newline_in_two_writes_run_the_control_file_once,);
