//! Editing documents in place through a real mount (README, "Tools"): `sed -i`, jq into a
//! temporary and `mv`, vim (ex mode and interactive, in tmux) and nano with their default
//! settings. Each test checks what the user sees and, after unmounting, the store.

use std::process::Command;
use std::time::Duration;

use super::tools::{jq_outside, with_doc};
use crate::support::place::Place;
use crate::support::*;

fn sed_i_on_one_document_keeps_its_position(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    m.sh("sed -i s/document/DOC/ \"$MNT/3\"").assert_ok();
    m.sh("sed -i s/document/Doc/ \"$MNT/by-id/doc1\"")
        .assert_ok();
    let want = with_doc(
        with_doc(
            expected_docs(5),
            3,
            "{\"id\":\"doc3\",\"text\":\"text of DOC 3\"}",
        ),
        1,
        "{\"id\":\"doc1\",\"text\":\"text of Doc 1\"}",
    );
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn sed_i_on_many_documents_at_once(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 12, &[]);
    m.sh("sed -i 's/text of/TEXT OF/' \"$MNT\"/by-id/*")
        .assert_ok();
    let want: Vec<(String, String)> = expected_docs(12)
        .into_iter()
        .map(|(id, j)| (id, j.replace("text of", "TEXT OF")))
        .collect();
    m.assert_shows(&want);
    // And on the positional names, also all at once.
    m.sh("sed -i 's/TEXT OF/again/' \"$MNT\"/[0-9]*")
        .assert_ok();
    let want: Vec<(String, String)> = want
        .into_iter()
        .map(|(id, j)| (id, j.replace("TEXT OF", "again")))
        .collect();
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn jq_into_a_temporary_then_mv_with_bash_and_dash(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    m.bash("jq '.x=1' \"$MNT/3\" > \"$MNT/tmp\" && mv \"$MNT/tmp\" \"$MNT/3\"")
        .assert_ok();
    m.sh("jq '.y=2' \"$MNT/by-id/doc1\" > \"$MNT/tmp.$$\" && mv \"$MNT/tmp.$$\" \"$MNT/1\"")
        .assert_ok();
    m.sh("jq '.z=3' \"$MNT/by-id/doc4\" > \"$MNT/by-id/doc4.new\" && mv \"$MNT/by-id/doc4.new\" \"$MNT/by-id/doc4\"")
        .assert_ok();
    let want = with_doc(
        with_doc(
            with_doc(expected_docs(5), 3, &jq_outside(".x=1", &doc_json(3))),
            1,
            &jq_outside(".y=2", &doc_json(1)),
        ),
        4,
        &jq_outside(".z=3", &doc_json(4)),
    );
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn vim_ex_mode_with_default_settings_edits_in_place(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    // No vimrc (empty HOME): vim's defaults — swap file next to the file, writebackup,
    // backupcopy=auto (copy, as documents have 2 links), fsync on write.
    m.bash("vim -E -s -c ':%s/document/VIM/' -c ':wq' \"$MNT/3\" < /dev/null")
        .assert_ok();
    m.bash("vim -E -s -c ':%s/document/vim/' -c ':wq' \"$MNT/by-id/doc1\" < /dev/null")
        .assert_ok();
    // vim ends the last line with a newline (fixendofline).
    let want = with_doc(
        with_doc(
            expected_docs(5),
            3,
            "{\"id\":\"doc3\",\"text\":\"text of VIM 3\"}\n",
        ),
        1,
        "{\"id\":\"doc1\",\"text\":\"text of vim 1\"}\n",
    );
    m.assert_shows(&want);
    let home = std::fs::read_dir(m.home()).unwrap().count();
    assert_eq!(home, 0, "nothing fell back to $HOME");
    assert_eq!(m.unmount_and_read(), want);
}

/// A tmux server on its own socket running one program, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(m: &Mount, command: &str) -> Tmux {
        let socket = format!("damfs-test-{}-{}", std::process::id(), rand_suffix());
        let t = Tmux { socket };
        let r = run(Command::new("tmux")
            .args([
                "-L",
                &t.socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "120",
            ])
            .args(["-y", "30", command])
            .current_dir(m.dir.path())
            .env("HOME", m.home())
            .env("TERM", "xterm")
            .env("MNT", &m.mnt));
        r.assert_ok();
        t
    }

    fn screen(&self) -> String {
        run(Command::new("tmux").args(["-L", &self.socket, "capture-pane", "-p"])).stdout
    }

    #[track_caller]
    fn wait_screen(&self, text: &str) {
        let ok = wait_for(Duration::from_secs(10), || self.screen().contains(text));
        assert!(ok, "waiting for {text:?} on screen:\n{}", self.screen());
    }

    fn keys(&self, keys: &[&str]) {
        run(Command::new("tmux")
            .args(["-L", &self.socket, "send-keys"])
            .args(keys))
        .assert_ok();
    }

    fn literal(&self, text: &str) {
        run(Command::new("tmux").args(["-L", &self.socket, "send-keys", "-l", text])).assert_ok();
    }

    #[track_caller]
    fn wait_exit(&self) {
        let ok = wait_for(Duration::from_secs(10), || {
            run(Command::new("tmux").args(["-L", &self.socket, "has-session"])).code != 0
        });
        assert!(ok, "the program did not exit:\n{}", self.screen());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn vim_interactive_with_default_settings_edits_in_place(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    for (name, word) in [("2", "TWO"), ("by-id/doc4", "FOUR")] {
        let t = Tmux::start(&m, &format!("vim \"$MNT/{name}\""));
        t.wait_screen("text of document");
        // While vim edits, its swap file lives next to the document, as a temporary.
        let dir = if name.contains('/') { "by-id" } else { "" };
        let swap = format!(".{}.swp", name.rsplit('/').next().unwrap());
        assert!(m.names(dir).contains(&swap), "{:?}", m.names(dir));
        t.literal(&format!(":%s/document/{word}/"));
        t.keys(&["Enter"]);
        t.literal(":wq");
        t.keys(&["Enter"]);
        t.wait_exit();
    }
    let want = with_doc(
        with_doc(
            expected_docs(5),
            2,
            "{\"id\":\"doc2\",\"text\":\"text of TWO 2\"}\n",
        ),
        4,
        "{\"id\":\"doc4\",\"text\":\"text of FOUR 4\"}\n",
    );
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn nano_edits_in_place(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    for (name, word) in [("3", "nano"), ("by-id/doc0", "NANO")] {
        let t = Tmux::start(&m, &format!("nano \"$MNT/{name}\""));
        t.wait_screen("text of document");
        t.keys(&["C-\\"]);
        t.wait_screen("Search (to replace)");
        t.literal("document");
        t.keys(&["Enter"]);
        t.wait_screen("Replace with");
        t.literal(word);
        t.keys(&["Enter"]);
        t.wait_screen("Replace this instance?");
        t.literal("a");
        t.wait_screen("Replaced 1 occurrence");
        t.keys(&["C-s"]);
        t.wait_screen("Wrote 1 line");
        t.keys(&["C-x"]);
        t.wait_exit();
    }
    // nano ends the file with a newline.
    let want = with_doc(
        with_doc(
            expected_docs(5),
            3,
            "{\"id\":\"doc3\",\"text\":\"text of nano 3\"}\n",
        ),
        0,
        "{\"id\":\"doc0\",\"text\":\"text of NANO 0\"}\n",
    );
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn nanos_write_pattern_open_trunc_write_lines_fsync_close(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    // nano's write_file(): open(O_WRONLY|O_CREAT|O_TRUNC), one write per line, fsync, close.
    let lines: [&[u8]; 3] = [b"{\n", b"  \"text\": \"saved by nano\"\n", b"}\n"];
    sys::write_chunks(
        &m.path("1"),
        libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        &lines,
        true,
    )
    .expect("nano's save succeeds");
    let want = with_doc(
        expected_docs(3),
        1,
        "{\"id\":\"doc1\",\n  \"text\": \"saved by nano\"\n}\n",
    );
    m.assert_shows(&want);
    // The fsync saved the store: nothing dirty is left in the pool.
    assert_eq!(m.stats()["pool_dirty"], 0);
    assert_eq!(m.unmount_and_read(), want);
}

both_backends!(
    sed_i_on_one_document_keeps_its_position,
    sed_i_on_many_documents_at_once,
    jq_into_a_temporary_then_mv_with_bash_and_dash,
    vim_ex_mode_with_default_settings_edits_in_place,
    vim_interactive_with_default_settings_edits_in_place,
    nano_edits_in_place,
    nanos_write_pattern_open_trunc_write_lines_fsync_close,
);
