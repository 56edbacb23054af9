//! Readers and writers at once on one document: every read is one whole version, never a
//! mix, never cut short or padded with zeros — whether the reader opens before, during or
//! after a writer, reads through the page cache or not, re-reads an open file, or maps it.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::place::Place;
use crate::support::*;

/// Versions of document `doc0` of very different sizes: one page, several pages, tiny.
fn versions() -> Vec<String> {
    [10, 3000, 9000, 1, 20000, 200]
        .iter()
        .enumerate()
        .map(|(v, &n)| {
            format!(
                r#"{{"id":"doc0","v":{v},"text":"{}"}}"#,
                char::from(b'a' + v as u8).to_string().repeat(n)
            )
        })
        .collect()
}

fn readers_always_see_one_whole_version_while_writers_replace_it(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 2, &[]);
    let path = m.path("by-id/doc0");
    let other = m.path("0");
    let mut valid = versions();
    valid.push(doc_json(0));
    let valid = Arc::new(valid);
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));

    let writer = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let vs = versions();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                // Truncate-and-write in several small writes, as editors and scripts do.
                let v = &vs[i % vs.len()];
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&path)
                    .unwrap();
                for chunk in v.as_bytes().chunks(4096) {
                    std::io::Write::write_all(&mut f, chunk).unwrap();
                }
                drop(f);
                i += 1;
            }
            i
        })
    };
    let mut readers = Vec::new();
    for r in 0..3 {
        let (path, other, stop, valid, reads) = (
            path.clone(),
            other.clone(),
            stop.clone(),
            valid.clone(),
            reads.clone(),
        );
        readers.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let p = if r % 2 == 0 { &path } else { &other };
                // A whole read, in small pieces (cat reads 128 KiB at a time; here 1000 bytes).
                let mut f = match std::fs::File::open(p) {
                    Ok(f) => f,
                    Err(e) => panic!("open {}: {e}", p.display()),
                };
                let mut text = Vec::new();
                let mut buf = [0u8; 1000];
                loop {
                    let n = f.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    text.extend_from_slice(&buf[..n]);
                }
                let text = String::from_utf8(text).expect("UTF-8");
                assert!(
                    valid.contains(&text),
                    "a torn read of {} bytes: {:?}…",
                    text.len(),
                    &text[..text.len().min(80)]
                );
                // The same open file read again from the start: the same version.
                f.seek(SeekFrom::Start(0)).unwrap();
                let mut again = String::new();
                f.read_to_string(&mut again).unwrap();
                assert_eq!(again, text, "an open file changed version");
                let mut head = vec![0u8; text.len() + 10];
                let n = f.read_at(&mut head, 0).unwrap();
                assert_eq!(&head[..n], text.as_bytes(), "pread of an open file");
                reads.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(4);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().expect("writer");
    for r in readers {
        r.join().expect("a reader saw a torn or changing read");
    }
    let reads = reads.load(Ordering::Relaxed);
    eprintln!("{writes} writes, {reads} whole reads");
    assert!(writes > 20 && reads > 20, "{writes} writes, {reads} reads");
}

fn parallel_sed_i_over_by_id_loses_nothing(place: &Place) {
    require_fuse!();
    let m = Mount::at(place, 40, &[]);
    // Four seds at once over interleaved documents, twice.
    m.bash(
        "set -e; for k in 0 1 2 3; do (for f in \"$MNT\"/by-id/doc*$k \"$MNT\"/by-id/doc*$((k+4)); do \
         [ -e \"$f\" ] && sed -i 's/text of/TEXT OF/' \"$f\"; done) & done; wait; \
         for k in 0 1 2 3; do (sed -i 's/document/DOC/' \"$MNT\"/by-id/doc*$k) & done; wait",
    )
    .assert_ok();
    let docs = m.docs_by_position();
    let ids: Vec<String> = docs.iter().map(|d| d.0.clone()).collect();
    let want_ids: Vec<String> = (0..40).map(|i| format!("doc{i}")).collect();
    assert_eq!(ids, want_ids, "order kept, nothing lost or added");
    for (id, json) in &docs {
        let n: usize = id[3..].parse().unwrap();
        let touched_first = n % 10 < 8;
        let touched_second = n % 10 < 4;
        let mut want = doc_json(n);
        if touched_first {
            want = want.replace("text of", "TEXT OF");
        }
        if touched_second {
            want = want.replace("document", "DOC");
        }
        assert_eq!(json, &want, "{id}");
    }
    assert_eq!(m.stats()["temporary_files"], 0);
}

both_backends!(
    readers_always_see_one_whole_version_while_writers_replace_it,
    parallel_sed_i_over_by_id_loses_nothing,
);
