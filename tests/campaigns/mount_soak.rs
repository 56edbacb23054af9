//! Concurrency soak: 8 writer processes on one mount, more on a second mount of the same
//! store, and a library writer (the damfs crate in another process, with saves, reloads and
//! `damfs import`), all at once, for 20 s in CI (`DAMFS_CAMPAIGN=full`: 5 minutes, 8 writers
//! on each mount; `DAMFS_SOAK_SECS=N` sets the time). On both backends (`memmap::*`, and
//! `postgres::*` on a fresh database: 10 s in CI, 5 minutes in full).
//!
//! Each writer owns its documents and changes them with real tools (see
//! `support::campaign::writer`): replacements, new documents, deletes, renames, sed -i, fsync
//! and `.save`, now and then `.prune`. While they run, every writer checks after each step
//! that it reads back exactly what it wrote, that any other document it reads (by id or by
//! position) is one whole version (texts check themselves), and that `/by-id/` lists its
//! documents exactly once and `/` lists nothing but positions and control files. At the end:
//! every writer exited 0; the store holds exactly every writer's last version of each of its
//! documents and every untouched one (no saved write lost); every tag read was written by
//! someone; both mounts list the same documents in `/` and `/by-id/`, the same as the store;
//! and `damfs export` after unmounting agrees.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use damfs::Document;

use crate::support::campaign::log::{self, Outcome};
use crate::support::campaign::texts;
use crate::support::campaign::writer::{Config, Profile};
use crate::support::campaign::{full, library, one_at_a_time, setting, spawn_child, Children};
use crate::support::place::Place;
use crate::support::*;

const BULK: usize = 200;

fn own_ids(name: &str) -> Vec<String> {
    (0..3).map(|k| format!("{name}-s{k}")).collect()
}

fn eight_writers_a_second_mount_and_a_library_writer_lose_nothing_and_read_whole_versions(
    place: &Place,
) {
    require_fuse!();
    let _heavy = one_at_a_time();
    let backend = if place.postgres {
        "PostgreSQL"
    } else {
        "memmap"
    };
    // Shorter on PostgreSQL in CI: the campaigns binary's share of CI stays small.
    let secs = setting("DAMFS_SOAK_SECS", if place.postgres { 10 } else { 20 }, 300);
    let on_b = if full() { 8 } else { 4 };
    let mut names: Vec<String> = (0..8).map(|w| format!("a{w}")).collect();
    names.extend((0..on_b).map(|w| format!("b{w}")));
    let lib_name = "L".to_string();

    let a = Mount::unmounted_at(place, 0);
    let mut start: BTreeMap<String, String> = BTreeMap::new();
    for k in 0..BULK {
        let id = format!("bulk{k}");
        start.insert(
            id.clone(),
            texts::text(&id, &format!("B{k}Z"), 1 + (k as u64 % 50)),
        );
    }
    for n in names.iter().chain([&lib_name]) {
        for (k, id) in own_ids(n).into_iter().enumerate() {
            start.insert(id.clone(), texts::text(&id, &format!("S{n}_{k}Z"), 2));
        }
    }
    {
        let mut dam = place.open(0);
        dam.extend(
            start
                .values()
                .map(|j| Document::from_json(j.clone()).unwrap()),
        )
        .unwrap();
        dam.save().unwrap();
    }
    a.mount(&[]).assert_ok();
    let b = a.second_mount(&[]);
    let work = a.dir.path().join("work");
    std::fs::create_dir(&work).unwrap();

    let began = Instant::now();
    let until = began + Duration::from_secs(secs);
    let mut children = Children(Vec::new());
    for (i, n) in names.iter().enumerate() {
        let cfg = Config {
            mnt: if n.starts_with('a') {
                a.mnt.clone()
            } else {
                b.mnt.clone()
            },
            log: work.join(format!("{n}.log")),
            name: n.clone(),
            round: 0,
            seed: 1000 + i as u64,
            profile: Profile::Mixed,
            scratch: work.clone(),
            until: Some(until),
            max_docs: 12,
            reload_acks: true,
        };
        children.0.push(spawn_child("mount-writer", cfg.to_env()));
    }
    let lib = library::Config {
        store: a.store.clone(),
        log: work.join(format!("{lib_name}.log")),
        name: lib_name.clone(),
        seed: 7,
        secs: secs as f64,
        scratch: work.clone(),
        bin: BIN.into(),
    };
    children.0.push(spawn_child("library-writer", lib.to_env()));

    let mut statuses = Vec::new();
    let all: Vec<String> = names.iter().cloned().chain([lib_name.clone()]).collect();
    for (c, n) in children.0.iter_mut().zip(&all) {
        let ended = wait_for(Duration::from_secs(secs + 120), || {
            matches!(c.try_wait(), Ok(Some(_)))
        });
        assert!(ended, "writer {n} did not finish");
        statuses.push((n.clone(), c.wait().unwrap()));
    }
    let elapsed = began.elapsed();
    let logs: BTreeMap<String, log::Parsed> = all
        .iter()
        .map(|n| (n.clone(), log::parse(&work.join(format!("{n}.log")))))
        .collect();
    let failures: Vec<String> = statuses
        .iter()
        .filter(|(_, s)| !s.success())
        .map(|(n, s)| {
            let why = logs[n].steps.iter().find_map(|st| match &st.outcome {
                Outcome::Failed(w) => Some(format!("step {} {}: {w}", st.seq, st.kind)),
                _ => None,
            });
            format!("{n} exited {s}: {why:?}")
        })
        .collect();
    assert!(failures.is_empty(), "writers failed: {failures:#?}");

    // What the store must hold: each writer's last version of its documents, the rest as
    // they were.
    let mut want: BTreeMap<String, String> = start
        .iter()
        .filter(|(i, _)| i.starts_with("bulk"))
        .map(|(i, j)| (i.clone(), j.clone()))
        .collect();
    let mut written: BTreeSet<String> =
        start.values().map(|j| texts::check(j).unwrap().1).collect();
    let (mut steps, mut reads, mut listings, mut partial) = (0, 0, 0, 0);
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for (n, p) in &logs {
        let prefix = format!("{n}-");
        let mine: BTreeMap<String, String> = start
            .iter()
            .filter(|(i, _)| i.starts_with(&prefix))
            .map(|(i, j)| (i.clone(), j.clone()))
            .collect();
        want.extend(log::final_state(&mine, &p.steps));
        for s in &p.steps {
            *kinds.entry(s.kind.clone()).or_default() += 1;
            for (_, j) in &s.effects {
                if let Some(j) = j {
                    written.insert(texts::check(j).unwrap().1);
                }
            }
        }
        let [st, r, l, pr] = p.summary.unwrap_or_else(|| panic!("{n} wrote no summary"));
        steps += st;
        reads += r;
        listings += l;
        partial += pr;
    }
    let unknown: Vec<&String> = logs
        .values()
        .flat_map(|p| p.read_tags.iter())
        .filter(|t| !written.contains(*t))
        .collect();
    assert!(
        unknown.is_empty(),
        "read versions nobody wrote: {unknown:?}"
    );

    let disk = place.contents();
    let on_disk: BTreeMap<String, String> = disk.iter().cloned().collect();
    assert_eq!(
        on_disk.len(),
        disk.len(),
        "an id appears twice in the store"
    );
    let lost: Vec<_> = want
        .iter()
        .filter(|(i, j)| on_disk.get(*i) != Some(*j))
        .map(|(i, j)| (i, j, on_disk.get(i)))
        .collect();
    let extra: Vec<_> = on_disk.keys().filter(|i| !want.contains_key(*i)).collect();
    assert!(
        lost.is_empty() && extra.is_empty(),
        "saved writes lost or changed (id, written, on disk): {lost:#?}; never written: {extra:?}"
    );

    // Both mounts show the store, by position and by id (the live view catches up).
    for m in [&a, &b] {
        let same = wait_for(Duration::from_secs(10), || m.docs_by_position() == disk);
        assert!(same, "{} does not show the store", m.mnt.display());
        let mut ids: Vec<String> = disk.iter().map(|d| d.0.clone()).collect();
        ids.sort();
        assert_eq!(m.names("by-id"), ids, "by-id/ of {}", m.mnt.display());
        assert_eq!(
            m.names("").len(),
            disk.len() + 1 + ROOT_FILES.len(),
            "/ of {}",
            m.mnt.display()
        );
    }
    b.unmount();
    assert_eq!(a.unmount_and_read(), disk, "unmounting changed the store");
    let export = damfs(["export".as_ref(), place.store.as_os_str()]);
    export.assert_ok();
    let texts_on_disk: Vec<&str> = disk.iter().map(|(_, j)| j.trim_end()).collect();
    assert_eq!(
        export.stdout.lines().collect::<Vec<_>>(),
        texts_on_disk,
        "damfs export"
    );

    eprintln!(
        "soak ({backend}): {} writers on mount a, {on_b} on mount b, 1 library writer, {:.0} s: {steps} \
         steps ({kinds:?}), {reads} reads checked, {listings} listings checked, 0 corrupt, \
         0 lost; {partial} reads of files still being written (not checked); {} documents \
         at the end",
        8,
        elapsed.as_secs_f64(),
        disk.len()
    );
}

both_backends!(
    eight_writers_a_second_mount_and_a_library_writer_lose_nothing_and_read_whole_versions
);
