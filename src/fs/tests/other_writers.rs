//! Another process deletes a document that this mount has a name or an open file for: the
//! name's next open is ESTALE (the kernel then looks it up again and retries once), and a
//! file being written keeps its change, as the document's new version at the end.

use super::*;

/// Deletes `id` through a handle of another process's own, and saves.
fn delete_elsewhere(f: &Fixture, id: &str) {
    let mut other = DocumentArrayMemmap::open(f._dir.path()).unwrap();
    other.delete_by_id(id).unwrap();
    other.save().unwrap();
}

#[test]
fn opening_a_name_whose_document_another_writer_deleted_is_estale() {
    let f = fixture(3);
    let ino = f.ino(BY_ID_INO, "id_1");
    delete_elsewhere(&f, "id_1");
    f.fs.tick(); // the live view takes the delete in
    assert_eq!(f.fs.open(ino, WR_TRUNC).unwrap_err().errno, libc::ESTALE);
    assert_eq!(f.fs.open(ino, RD).unwrap_err().errno, libc::ESTALE);
    assert!(f.fs.take_invalidations().epoch, "cached names were dropped");
    assert_eq!(f.ids(), ["id_0", "id_2"]);
}

#[test]
fn a_file_being_written_when_another_writer_deletes_its_document_is_kept_at_the_end() {
    let f = fixture(3);
    let ino = f.ino(BY_ID_INO, "id_1");
    let o = f.fs.open(ino, WR_TRUNC).unwrap();
    delete_elsewhere(&f, "id_1");
    f.fs.tick(); // taken in while the file is open
    assert_eq!(f.ids(), ["id_0", "id_2"]);
    let text = "{\"id\":\"id_1\",\"text\":\"kept\"}";
    f.fs.write(ino, o.fh, 0, text.as_bytes()).unwrap();
    f.fs.flush(ino, o.fh).unwrap();
    f.fs.release(ino, o.fh);
    assert_eq!(f.ids(), ["id_0", "id_2", "id_1"]);
    assert_eq!(f.cat(BY_ID_INO, "id_1"), text);
    assert!(
        f.fs.take_invalidations().epoch,
        "the new position's name shows"
    );
}
