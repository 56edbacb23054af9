//! A document another process has just added is there for the next path walk of a name
//! not seen before (README, "Live view"): `damfs put STORE x.json && cat MNT/by-id/x` and
//! `cat MNT/<the new position>` never find it missing, without waiting for the live view's
//! next look. On a memmap store the lookup of a missing name looks at the store first (one
//! `stat` of the index).

use crate::support::*;

#[test]
fn a_document_put_by_another_process_is_found_at_once() {
    require_fuse!();
    let m = Mount::with_docs(3);
    for i in 0..20 {
        m.sh(&format!(
            "printf '{{\"id\":\"p{i}\"}}' | '{BIN}' put \"$STORE\" - > /dev/null \
             && cat \"$MNT/by-id/p{i}\" > /dev/null && cat \"$MNT/{}\" > /dev/null",
            3 + i
        ))
        .assert_ok();
    }
    assert_eq!(m.names("by-id").len(), 23);
    assert_eq!(m.unmount_and_read().len(), 23);
}
