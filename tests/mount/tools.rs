//! The README's tool table ("The mount", "Tools"), row by row, on a real mount: each test
//! mounts a store of documents `doc0..`, runs the real tool (bash, dash, coreutils, jq,
//! python3, dd) and then checks what the user would check — the listing, the bytes, the order
//! of documents by position, that no temporary file is left — and, after unmounting, the
//! store itself. Editors and `sed -i` are in editors.rs, rsync in rsync.rs.

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::time::Duration;

use crate::support::place::Place;
use crate::support::*;

/// `docs` with document `i` replaced by `json` (same id).
pub(super) fn with_doc(
    mut docs: Vec<(String, String)>,
    i: usize,
    json: &str,
) -> Vec<(String, String)> {
    docs[i].1 = json.to_string();
    docs
}

/// `docs` without the documents whose ids are listed.
fn without(docs: Vec<(String, String)>, ids: &[&str]) -> Vec<(String, String)> {
    docs.into_iter()
        .filter(|(id, _)| !ids.contains(&id.as_str()))
        .collect()
}

/// What `jq FILTER` makes of `json` (jq pretty-prints), computed outside the mount.
pub(super) fn jq_outside(filter: &str, json: &str) -> String {
    let out = run(Command::new("sh")
        .arg("-c")
        .arg("printf '%s' \"$J\" | jq \"$F\"")
        .env("J", json)
        .env("F", filter));
    out.assert_ok();
    out.stdout
}

// ---- listing ---------------------------------------------------------------------------------

fn ls_shows_positions_by_id_and_the_control_files(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 12, &[]);
    let ls = m.sh("ls -1 \"$MNT\"");
    ls.assert_ok();
    let mut want: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    want.push("by-id".into());
    let mut got: Vec<String> = ls.lines().iter().map(|s| s.to_string()).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want, "ls hides dot files: positions and by-id only");

    let la = m.sh("ls -1A \"$MNT\"");
    la.assert_ok();
    for control in ROOT_FILES {
        assert!(
            la.lines().contains(&control),
            "ls -A shows {control}: {la:#?}"
        );
    }
    assert_eq!(la.lines().len(), 12 + 1 + 7);

    let by_id = m.sh("ls \"$MNT/by-id\"");
    by_id.assert_ok();
    let mut ids: Vec<String> = (0..12).map(|i| format!("doc{i}")).collect();
    ids.sort();
    assert_eq!(by_id.lines(), ids, "ls sorts names; every id once");
    m.assert_shows(&expected_docs(12));
}

/// One `ls -l` line: (mode, links, size, name).
fn ls_l_fields(line: &str) -> (String, u32, u64, String) {
    let f: Vec<&str> = line.split_whitespace().collect();
    assert!(f.len() >= 9, "not an ls -l line: {line:?}");
    (
        f[0].to_string(),
        f[1].parse().expect("link count"),
        f[4].parse().expect("size"),
        f[8..].join(" "),
    )
}

fn ls_l_shows_exact_sizes_and_two_links_per_document(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 12, &[]);
    let ls = m.sh("ls -l \"$MNT/by-id\"");
    ls.assert_ok();
    let lines: Vec<&str> = ls
        .lines()
        .into_iter()
        .filter(|l| !l.starts_with("total"))
        .collect();
    assert_eq!(lines.len(), 12, "{ls:#?}");
    for line in lines {
        let (mode, links, size, name) = ls_l_fields(line);
        let i: usize = name
            .strip_prefix("doc")
            .expect("a docN name")
            .parse()
            .unwrap();
        assert_eq!(mode, "-rw-r--r--", "{line}");
        assert_eq!(links, 2, "/{i} and /by-id/{name} are one inode: {line}");
        assert_eq!(size, doc_json(i).len() as u64, "{line}");
    }

    let la = m.sh("ls -la \"$MNT/by-id\"");
    la.assert_ok();
    let names: Vec<String> = la
        .lines()
        .into_iter()
        .filter(|l| !l.starts_with("total"))
        .map(|l| ls_l_fields(l).3)
        .collect();
    assert_eq!(&names[..2], [".", ".."], "{la:#?}");
    assert_eq!(names.len(), 14);
    assert!(la.lines()[1].starts_with('d') && la.lines()[2].starts_with('d'));

    // The positional names in the root show the same sizes.
    let root = m.sh("ls -ln \"$MNT\"");
    root.assert_ok();
    for line in root.lines().into_iter().filter(|l| l.starts_with('-')) {
        let (_, links, size, name) = ls_l_fields(line);
        let i: usize = name.parse().expect("a position");
        assert_eq!((links, size), (2, doc_json(i).len() as u64), "{line}");
    }
}

fn find_lists_every_document_under_both_names(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    let mnt = m.mnt.display().to_string();
    let files = m.sh("find \"$MNT\" -type f | sort");
    files.assert_ok();
    let mut want: Vec<String> = (0..5)
        .flat_map(|i| [format!("{mnt}/{i}"), format!("{mnt}/by-id/doc{i}")])
        .collect();
    for c in ROOT_FILES {
        want.push(format!("{mnt}/{c}"));
    }
    want.sort();
    assert_eq!(files.lines(), want);

    let dirs = m.sh("find \"$MNT\" -type d | sort");
    dirs.assert_ok();
    assert_eq!(dirs.lines(), [mnt.clone(), format!("{mnt}/by-id")]);

    let linked = m.sh("find \"$MNT\" -type f -links 2 | wc -l");
    assert_eq!(
        linked.stdout.trim(),
        "10",
        "every document file has 2 links"
    );
    let named = m.sh("find \"$MNT/by-id\" -name 'doc3*'");
    assert_eq!(named.lines(), [format!("{mnt}/by-id/doc3")]);
}

fn stat_shows_one_inode_two_links_and_the_exact_size(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 6, &[]);
    for i in 0..6 {
        let st = m.sh(&format!(
            "stat -c '%i %h %s %F' \"$MNT/{i}\" \"$MNT/by-id/doc{i}\""
        ));
        st.assert_ok();
        let lines = st.lines();
        assert_eq!(
            lines[0], lines[1],
            "same inode, links and size under both names"
        );
        let f: Vec<&str> = lines[0].split(' ').collect();
        assert_eq!(f[1], "2", "st_nlink: {st:#?}");
        assert_eq!(f[2], doc_json(i).len().to_string(), "st_size");
        assert_eq!(f[3..].join(" "), "regular file");
        let a = std::fs::metadata(m.path(&i.to_string())).unwrap();
        let b = std::fs::metadata(m.path(&format!("by-id/doc{i}"))).unwrap();
        assert_eq!((a.ino(), a.nlink(), a.len()), (b.ino(), b.nlink(), b.len()));
    }
    let inodes: std::collections::HashSet<u64> = (0..6)
        .map(|i| std::fs::metadata(m.path(&i.to_string())).unwrap().ino())
        .collect();
    assert_eq!(inodes.len(), 6, "documents have distinct inodes");
}

fn wc_and_du_count_the_document_bytes(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 8, &[]);
    let wc = m.sh("wc -c < \"$MNT/3\"");
    assert_eq!(wc.stdout.trim(), doc_json(3).len().to_string());
    let total: usize = (0..8).map(|i| doc_json(i).len()).sum();
    let wc_all = m.sh("cat \"$MNT\"/by-id/* | wc -c");
    assert_eq!(wc_all.stdout.trim(), total.to_string());
    let wc_many = m.sh("wc -c \"$MNT\"/by-id/* | tail -n 1");
    assert_eq!(
        wc_many.stdout.split_whitespace().next(),
        Some(&*total.to_string())
    );

    // du: apparent size is the JSON length; disk usage is whole 512-byte blocks.
    let du_b = m.sh("du -b \"$MNT/3\"");
    assert_eq!(
        du_b.stdout.split_whitespace().next(),
        Some(&*doc_json(3).len().to_string())
    );
    let du_blocks = m.sh("du -B1 \"$MNT/3\"");
    let blocks = doc_json(3).len().div_ceil(512) * 512;
    assert_eq!(
        du_blocks.stdout.split_whitespace().next(),
        Some(&*blocks.to_string())
    );
    let du_dir = m.sh("du -sb \"$MNT/by-id\"");
    du_dir.assert_ok();
    assert_eq!(
        du_dir.stdout.split_whitespace().next(),
        Some(&*total.to_string())
    );
}

// ---- reading ---------------------------------------------------------------------------------

fn cat_head_and_less_show_the_json(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    assert_eq!(m.sh("cat \"$MNT/3\"").stdout, doc_json(3));
    assert_eq!(m.sh("cat \"$MNT/by-id/doc3\"").stdout, doc_json(3));
    assert_eq!(m.sh("head -c 12 \"$MNT/3\"").stdout, &doc_json(3)[..12]);
    assert_eq!(m.sh("head -n 1 \"$MNT/by-id/doc4\"").stdout, doc_json(4));
    // less with stdout not a terminal behaves like cat; -F as users script it.
    let less = m.shell("sh", "less -F \"$MNT/2\" | cat", &[("LESS", "-F")]);
    less.assert_ok();
    assert_eq!(less.stdout, doc_json(2));
    let all = m.sh("cat \"$MNT\"/by-id/*");
    let want: String = [0, 1, 2, 3, 4].map(doc_json).concat();
    assert_eq!(all.stdout, want);
}

fn grep_r_finds_documents_by_content(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 10, &[]);
    let mnt = m.mnt.display().to_string();
    let one = m.sh("grep -r 'document 7\"' \"$MNT/by-id\"");
    one.assert_ok();
    assert_eq!(one.lines(), [format!("{mnt}/by-id/doc7:{}", doc_json(7))]);
    let files = m.sh("grep -rl 'text of document' \"$MNT\" | sort");
    files.assert_ok();
    let mut want: Vec<String> = (0..10)
        .flat_map(|i| [format!("{mnt}/{i}"), format!("{mnt}/by-id/doc{i}")])
        .collect();
    // The bulk view holds every document too.
    want.push(format!("{mnt}/.all.jsonl"));
    want.sort();
    assert_eq!(files.lines(), want);
    m.sh("grep -r 'no such text' \"$MNT\"")
        .assert_fails_with("");
}

fn jq_reads_a_field(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    let text = m.sh("jq .text \"$MNT/3\"");
    text.assert_ok();
    assert_eq!(text.stdout, "\"text of document 3\"\n");
    let ids = m.sh("jq -r .id \"$MNT\"/by-id/* | sort");
    assert_eq!(ids.lines(), ["doc0", "doc1", "doc2", "doc3", "doc4"]);
}

// ---- replacing -------------------------------------------------------------------------------

fn echo_redirect_replaces_and_the_id_is_added(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    m.bash("echo '{\"text\":\"from bash\"}' > \"$MNT/3\"")
        .assert_ok();
    let bash = "{\"id\":\"doc3\",\"text\":\"from bash\"}\n";
    assert_eq!(m.sh("cat \"$MNT/by-id/doc3\"").stdout, bash);
    // dash redirects in the parent and echo is a builtin there too.
    m.sh("echo '{\"id\":\"doc1\",\"text\":\"from dash\"}' > \"$MNT/by-id/doc1\"")
        .assert_ok();
    let dash = "{\"id\":\"doc1\",\"text\":\"from dash\"}\n";
    // An external echo (the child opens, writes and closes).
    m.bash("/bin/echo '{\"text\":\"from /bin/echo\"}' > \"$MNT/4\"")
        .assert_ok();
    let ext = "{\"id\":\"doc4\",\"text\":\"from /bin/echo\"}\n";
    assert_eq!(
        std::fs::metadata(m.path("3")).unwrap().len(),
        bash.len() as u64,
        "stat shows the new size"
    );
    let want = with_doc(
        with_doc(with_doc(expected_docs(5), 3, bash), 1, dash),
        4,
        ext,
    );
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn printf_into_by_id_replaces(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    m.bash("printf '{\"id\":\"doc2\",\"tags\":{\"k\":1}}' > \"$MNT/by-id/doc2\"")
        .assert_ok();
    let want = with_doc(expected_docs(4), 2, "{\"id\":\"doc2\",\"tags\":{\"k\":1}}");
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn python_open_w_and_json_dump_replace_and_get_the_id(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    let py = "import json, sys\n\
              with open(sys.argv[1], 'w') as f:\n    json.dump({'text': 'py', 'n': [1, 2]}, f)\n\
              with open(sys.argv[2], 'w') as f:\n    json.dump({'id': 'doc0', 'text': 'py0'}, f)\n";
    let r = run(Command::new("python3")
        .arg("-c")
        .arg(py)
        .arg(m.path("2"))
        .arg(m.path("by-id/doc0")));
    r.assert_ok();
    // The id is added as the first key; json.dump's own spacing is kept byte for byte.
    let two = "{\"id\":\"doc2\",\"text\": \"py\", \"n\": [1, 2]}";
    let zero = "{\"id\": \"doc0\", \"text\": \"py0\"}";
    let want = with_doc(with_doc(expected_docs(4), 2, two), 0, zero);
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn append_redirect_fails_at_close_and_changes_nothing(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    // An external command sees the EINVAL of close(2) and fails.
    let ext = m.bash("/bin/echo '{}' >> \"$MNT/3\"");
    ext.assert_fails_with("Invalid argument");
    let ext_by_id = m.bash("printf '%s\\n' '{}' | tee -a \"$MNT/by-id/doc2\"");
    ext_by_id.assert_fails_with("Invalid argument");
    // The same bytes through raw calls: the close is what fails, with EINVAL.
    let raw = sys::write_close(&m.path("3"), libc::O_WRONLY | libc::O_APPEND, b"{}\n");
    assert_eq!(
        raw,
        Err(sys::Failed {
            call: "close",
            errno: libc::EINVAL
        })
    );
    // A shell builtin cannot report it: bash and dash restore stdout with dup2(2), which
    // closes the file and drops the error. The document must still be unchanged.
    m.bash("echo '{}' >> \"$MNT/3\"");
    m.sh("echo '{}' >> \"$MNT/by-id/doc3\"");
    m.assert_shows(&expected_docs(5));
    let log = m.read_log("store.damfs.log");
    assert!(log.contains("/by-id/doc3"), "the reason is logged:\n{log}");
    assert_eq!(m.unmount_and_read(), expected_docs(5));
}

// ---- copying ---------------------------------------------------------------------------------

fn cp_into_by_id_adds_a_document_at_the_end(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    std::fs::write(m.dir.path().join("new.json"), "{\"text\":\"brand new\"}\n").unwrap();
    std::fs::write(
        m.dir.path().join("named.json"),
        "{\"id\":\"named\",\"text\":\"named\"}",
    )
    .unwrap();
    m.sh("cp new.json \"$MNT/by-id/newid\" && cp named.json \"$MNT/by-id/named\"")
        .assert_ok();
    let mut want = expected_docs(3);
    want.push((
        "newid".into(),
        "{\"id\":\"newid\",\"text\":\"brand new\"}\n".into(),
    ));
    want.push((
        "named".into(),
        "{\"id\":\"named\",\"text\":\"named\"}".into(),
    ));
    m.assert_shows(&want);
    assert_eq!(
        std::fs::metadata(m.path("3")).unwrap().ino(),
        std::fs::metadata(m.path("by-id/newid")).unwrap().ino(),
        "the new document is /3"
    );
    assert_eq!(m.unmount_and_read(), want);
}

fn cp_out_copies_the_exact_bytes(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 6, &[]);
    m.sh("cp \"$MNT/3\" out.json && cp -r \"$MNT/by-id\" copied")
        .assert_ok();
    assert_eq!(
        std::fs::read_to_string(m.dir.path().join("out.json")).unwrap(),
        doc_json(3)
    );
    let copied = m.dir.path().join("copied");
    let mut names: Vec<String> = std::fs::read_dir(&copied)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, (0..6).map(|i| format!("doc{i}")).collect::<Vec<_>>());
    for i in 0..6 {
        assert_eq!(
            std::fs::read_to_string(copied.join(format!("doc{i}"))).unwrap(),
            doc_json(i)
        );
    }
    m.assert_shows(&expected_docs(6));
}

// ---- renaming and deleting -------------------------------------------------------------------

fn mv_in_by_id_renames_the_document(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    let ino = std::fs::metadata(m.path("by-id/doc2")).unwrap().ino();
    m.sh("mv \"$MNT/by-id/doc2\" \"$MNT/by-id/two\"")
        .assert_ok();
    let mut want = expected_docs(4);
    want[2] = (
        "two".into(),
        "{\"id\":\"two\",\"text\":\"text of document 2\"}".into(),
    );
    m.assert_shows(&want);
    assert_eq!(
        std::fs::metadata(m.path("2")).unwrap().ino(),
        ino,
        "same file, new name"
    );
    assert_eq!(m.unmount_and_read(), want);
}

fn mv_onto_an_existing_document_takes_its_position(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 6, &[]);
    m.sh("mv \"$MNT/by-id/doc1\" \"$MNT/by-id/doc4\"")
        .assert_ok();
    // doc1's text now lives at doc4's position under the id doc4; position 1 is gone.
    let moved = "{\"id\":\"doc4\",\"text\":\"text of document 1\"}";
    let want = with_doc(without(expected_docs(6), &["doc1"]), 3, moved);
    assert_eq!(want[3].0, "doc4");
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn rm_deletes_and_later_positions_shift_down(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 10, &[]);
    // rm works through its arguments in order: after /0 goes, "5" names what was /6.
    m.sh("rm \"$MNT/0\" \"$MNT/5\"").assert_ok();
    let want = without(expected_docs(10), &["doc0", "doc6"]);
    m.assert_shows(&want);
    m.sh("rm \"$MNT/3\"").assert_ok(); // now doc4
    m.sh("rm \"$MNT/by-id/doc9\"").assert_ok();
    let want = without(want, &["doc4", "doc9"]);
    m.assert_shows(&want);
    m.sh("cat \"$MNT/by-id/doc4\"")
        .assert_fails_with("No such file");
    m.sh("cat \"$MNT/6\"").assert_fails_with("No such file");
    assert_eq!(m.unmount_and_read(), want);
}

// ---- durability ------------------------------------------------------------------------------

/// Kills the daemon with SIGKILL, detaches the dead mount, mounts again.
fn crash_and_remount(m: &Mount) {
    let pid = m.pid();
    signal(pid, libc::SIGKILL);
    assert!(wait_for(Duration::from_secs(10), || pid_exited(pid)));
    run(Command::new("umount").arg("-l").arg(&m.mnt)).assert_ok();
    m.mount(&[]).assert_ok();
}

fn sync_and_save_make_an_edit_durable(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    m.sh("printf '{\"text\":\"saved\"}' > \"$MNT/2\" && sync && echo 1 > \"$MNT/.save\"")
        .assert_ok();
    let want = with_doc(expected_docs(4), 2, "{\"id\":\"doc2\",\"text\":\"saved\"}");
    crash_and_remount(&m);
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn python_fsync_makes_an_edit_durable(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 4, &[]);
    m.sh("printf '{\"text\":\"fsynced\"}' > \"$MNT/by-id/doc1\"")
        .assert_ok();
    m.sh("printf '{\"text\":\"new\"}' > \"$MNT/by-id/fresh\"")
        .assert_ok();
    // fsync of any document file (even opened read-only) saves the whole store.
    run(Command::new("python3")
        .arg("-c")
        .arg("import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.fsync(fd); os.close(fd)")
        .arg(m.path("0")))
    .assert_ok();
    let mut want = with_doc(
        expected_docs(4),
        1,
        "{\"id\":\"doc1\",\"text\":\"fsynced\"}",
    );
    want.push(("fresh".into(), "{\"id\":\"fresh\",\"text\":\"new\"}".into()));
    crash_and_remount(&m);
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

// ---- more ways users write documents -----------------------------------------------------------

fn a_large_document_round_trips_through_cp_cat_and_sed(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 2, &[]);
    // 1.4 MB: many pages, reads and writes split across many FUSE requests.
    let text: String = (0..200_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let big = format!("{{\"id\":\"big\",\"text\":\"{text}\",\"tail\":\"end\"}}");
    std::fs::write(m.dir.path().join("big.json"), &big).unwrap();
    m.sh("cp big.json \"$MNT/by-id/big\" && cmp big.json \"$MNT/2\"")
        .assert_ok();
    m.sh("sed -i 's/\"end\"/\"END\"/' \"$MNT/by-id/big\"")
        .assert_ok();
    let mut want = expected_docs(2);
    want.push(("big".into(), big.replace("\"end\"", "\"END\"")));
    m.assert_shows(&want);
    assert_eq!(
        m.sh("wc -c < \"$MNT/2\"").stdout.trim(),
        big.len().to_string()
    );
    assert_eq!(m.unmount_and_read(), want);
}

fn dd_conv_notrunc_patches_bytes_inside_a_document(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    // Offset 21 is the first letter of the text: `{"id":"doc1","text":"text of ...`.
    m.sh("printf T | dd of=\"$MNT/1\" bs=1 seek=21 conv=notrunc status=none")
        .assert_ok();
    let want = with_doc(
        expected_docs(3),
        1,
        "{\"id\":\"doc1\",\"text\":\"Text of document 1\"}",
    );
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn python_r_plus_reads_rewrites_and_truncates_in_place(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    let py = "import sys\n\
              with open(sys.argv[1], 'r+') as f:\n    s = f.read()\n    f.seek(0)\n    \
              f.write(s.replace('text of document', 'short'))\n    f.truncate()\n";
    run(Command::new("python3")
        .arg("-c")
        .arg(py)
        .arg(m.path("by-id/doc2")))
    .assert_ok();
    let want = with_doc(
        expected_docs(3),
        2,
        "{\"id\":\"doc2\",\"text\":\"short 2\"}",
    );
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn touch_then_write_makes_a_new_document(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 2, &[]);
    m.sh("touch \"$MNT/by-id/later\"").assert_ok();
    // Empty: not a document yet, just a file.
    assert_eq!(m.stats()["length"], 2);
    m.sh("echo '{\"text\":\"filled\"}' > \"$MNT/by-id/later\"")
        .assert_ok();
    let mut want = expected_docs(2);
    want.push((
        "later".into(),
        "{\"id\":\"later\",\"text\":\"filled\"}\n".into(),
    ));
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn ids_with_spaces_and_unicode_are_file_names_and_sizes_count_bytes(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 1, &[]);
    std::fs::write(m.dir.path().join("u.json"), "{\"text\":\"héllo ✓\"}").unwrap();
    m.sh("cp u.json \"$MNT/by-id/my doc ✓\"").assert_ok();
    let json = "{\"id\":\"my doc ✓\",\"text\":\"héllo ✓\"}";
    let mut want = expected_docs(1);
    want.push(("my doc ✓".into(), json.into()));
    m.assert_shows(&want);
    let st = m.sh("stat -c %s \"$MNT/by-id/my doc ✓\"");
    assert_eq!(
        st.stdout.trim(),
        json.len().to_string(),
        "bytes, not characters"
    );
    assert_eq!(m.sh("ls \"$MNT/by-id\"").lines(), ["doc0", "my doc ✓"]);
    assert_eq!(m.unmount_and_read(), want);
}

fn mv_of_a_positional_name_into_by_id_renames_the_document_in_place(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    m.sh("mv \"$MNT/3\" \"$MNT/by-id/three\"").assert_ok();
    let mut want = expected_docs(5);
    want[3] = (
        "three".into(),
        "{\"id\":\"three\",\"text\":\"text of document 3\"}".into(),
    );
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn mv_from_by_id_onto_a_positional_name_replaces_it_and_later_positions_shift(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 5, &[]);
    // doc1 onto /3 (doc3): doc1's text takes position 3 under the id doc3, position 1 goes,
    // so /3 now names doc4 and /4 no longer exists.
    m.sh("mv \"$MNT/by-id/doc1\" \"$MNT/3\"").assert_ok();
    let moved = "{\"id\":\"doc3\",\"text\":\"text of document 1\"}";
    let want = with_doc(without(expected_docs(5), &["doc1"]), 2, moved);
    assert_eq!(
        m.sh("cat \"$MNT/3\"").stdout,
        doc_json(4),
        "/3 must name what is at position 3 now"
    );
    m.assert_shows(&want);
    assert_eq!(m.unmount_and_read(), want);
}

fn thousands_of_documents_list_completely_and_rm_all_empties_the_store(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3000, &[]);
    assert_eq!(m.sh("ls \"$MNT/by-id\" | wc -l").stdout.trim(), "3000");
    assert_eq!(m.sh("ls \"$MNT\" | wc -l").stdout.trim(), "3001");
    let bad = m
        .sh("ls -l \"$MNT/by-id\" | awk 'NR > 1 && ($2 != 2 || $5 != 33 + 2 * length($9))' | head");
    assert_eq!(bad.stdout, "", "every line: 2 links, the exact size");
    assert_eq!(m.sh("find \"$MNT\" -type f | wc -l").stdout.trim(), "6007");
    let names = m.names("by-id");
    let mut want: Vec<String> = (0..3000).map(|i| format!("doc{i}")).collect();
    want.sort();
    assert_eq!(names, want);
    m.sh("rm -f \"$MNT\"/by-id/*").assert_ok();
    m.assert_shows(&[]);
    assert_eq!(m.unmount_and_read(), vec![]);
}

fn a_new_document_whose_id_looks_like_a_tool_temporary_is_not_silently_lost(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 1, &[]);
    // Valid ids (README, "What damfs is"), created the way the README says new documents are made: a file in
    // /by-id/ closed with valid JSON whose id is absent or equal to the name. Either the
    // document is added, or the user is told (the command fails) — never a file that looks
    // saved and is gone after unmount.
    let mut added = vec![];
    for id in ["tmp1", "sedimenta", "notes.tmp", "draft~"] {
        let r = m.sh(&format!(
            "printf '{{\"id\":\"{id}\",\"text\":\"keep me\"}}' > \"$MNT/by-id/{id}\""
        ));
        if r.code == 0 {
            added.push(id);
        }
    }
    let docs = m.unmount_and_read();
    for id in added {
        assert!(
            docs.iter().any(|d| d.0 == id),
            "`printf … > MNT/by-id/{id}` succeeded but {id} is not in the store after unmount: {docs:#?}"
        );
    }
}

fn a_reader_keeps_reading_a_document_removed_while_open(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 3, &[]);
    let r = m.bash("exec 3< \"$MNT/2\"; rm \"$MNT/2\"; cat <&3");
    r.assert_ok();
    assert_eq!(
        r.stdout,
        doc_json(2),
        "unlinked-but-open files stay readable on Linux"
    );
}

both_backends!(
    ls_shows_positions_by_id_and_the_control_files,
    ls_l_shows_exact_sizes_and_two_links_per_document,
    find_lists_every_document_under_both_names,
    stat_shows_one_inode_two_links_and_the_exact_size,
    wc_and_du_count_the_document_bytes,
    cat_head_and_less_show_the_json,
    grep_r_finds_documents_by_content,
    jq_reads_a_field,
    echo_redirect_replaces_and_the_id_is_added,
    printf_into_by_id_replaces,
    python_open_w_and_json_dump_replace_and_get_the_id,
    append_redirect_fails_at_close_and_changes_nothing,
    cp_into_by_id_adds_a_document_at_the_end,
    cp_out_copies_the_exact_bytes,
    mv_in_by_id_renames_the_document,
    mv_onto_an_existing_document_takes_its_position,
    rm_deletes_and_later_positions_shift_down,
    sync_and_save_make_an_edit_durable,
    python_fsync_makes_an_edit_durable,
    a_large_document_round_trips_through_cp_cat_and_sed,
    dd_conv_notrunc_patches_bytes_inside_a_document,
    python_r_plus_reads_rewrites_and_truncates_in_place,
    touch_then_write_makes_a_new_document,
    ids_with_spaces_and_unicode_are_file_names_and_sizes_count_bytes,
    mv_of_a_positional_name_into_by_id_renames_the_document_in_place,
    mv_from_by_id_onto_a_positional_name_replaces_it_and_later_positions_shift,
    thousands_of_documents_list_completely_and_rm_all_empties_the_store,
    a_new_document_whose_id_looks_like_a_tool_temporary_is_not_silently_lost,
    a_reader_keeps_reading_a_document_removed_while_open,
);
