//! What `damfs mount JINA_DIR MNT --read-only` serves: the original store converted into a
//! private temporary damfs store, which the daemon mounts read-only (so it is exactly as fast
//! as any read-only mount). Nothing is written into JINA_DIR.
//!
//! The copy lives in `$TMPDIR` (default `/tmp`) as `damfs-jina-<pid>-<random>/store`, mode 0700,
//! and is removed when the daemon exits (an `atexit` hook, so every exit path but SIGKILL;
//! copies left by killed daemons are removed by the next conversion). The daemon holds an
//! exclusive `flock` on the copy's `.alive` file for as long as it lives, so a copy is stale
//! exactly when nobody holds that lock — which also holds for daemons in other pid
//! namespaces (containers) that share `$TMPDIR`, where a pid says nothing.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use log::{info, warn};

use super::convert::Stream;
use super::plan::Plan;
use super::reader::{is_original_store, JinaStore};
use crate::{DocumentArrayMemmap, Options};

const PREFIX: &str = "damfs-jina-";
/// Locked by the process that serves the copy, for its whole life.
const ALIVE: &str = ".alive";

/// The store directory the daemon should open for `store`: `store` itself, or, for an
/// original store, a converted private copy (read-only mounts only).
pub fn store_to_serve(store: &Path, read_only: bool) -> Result<PathBuf, String> {
    if !is_original_store(store) {
        return Ok(store.to_owned());
    }
    let shown = store.display();
    if !read_only {
        return Err(format!(
            "{shown} is a Jina DocumentArrayMemmap store (header.bin + body.bin), which damfs \
             mounts only with --read-only. To change its documents, import it into a damfs \
             store and mount that: `damfs import NEW_STORE {shown}` then \
             `damfs mount NEW_STORE MOUNTPOINT`"
        ));
    }
    remove_stale_copies();
    let copy = private_dir().map_err(|e| {
        format!(
            "creating a private copy of {shown} in {} ($TMPDIR): {e}",
            std::env::temp_dir().display()
        )
    })?;
    // The store in a folder of its own: a damfs store directory holds only its files.
    let served = copy.join("store");
    if let Err(e) = convert_copy(store, &served) {
        let _ = std::fs::remove_dir_all(&copy);
        return Err(e);
    }
    Ok(served)
}

/// Converts every document that can be (the others are logged and left out).
fn convert_copy(store: &Path, copy: &Path) -> Result<(), String> {
    let shown = store.display();
    let jina = JinaStore::open(store).map_err(|e| format!("opening {shown}: {e}"))?;
    let plan = Plan::make(&jina, None, &|_| {}).map_err(|e| format!("converting {shown}: {e}"))?;
    for p in &plan.problems {
        warn!("{shown}: skipped {p}");
    }
    let skip = plan.skipped_entries();
    let skipped = skip.len();
    drop(plan);
    let opts = Options {
        buffer_pool_size: 0,
        read_only: false,
    };
    let mut dam = DocumentArrayMemmap::open_with(copy, opts)
        .map_err(|e| format!("creating the converted copy in {}: {e}", copy.display()))?;
    let mut stream = Stream::new(&jina, skip, true);
    let added = dam.extend(&mut stream);
    if let Some(e) = stream.failure {
        return Err(format!("converting {shown}: {e}"));
    }
    added
        .and_then(|()| dam.save())
        .map_err(|e| format!("converting {shown}: {e}"))?;
    info!(
        "{shown}: serving {} documents of the Jina store (converted into {}){}",
        dam.len(),
        copy.display(),
        if skipped > 0 {
            format!("; skipped {skipped} that could not be converted (see above)")
        } else {
            String::new()
        }
    );
    Ok(())
}

/// This process's copies, and the open (locked) `.alive` file of each.
static COPIES: Mutex<Vec<(PathBuf, File)>> = Mutex::new(Vec::new());

extern "C" fn remove_copies() {
    if let Ok(copies) = COPIES.lock() {
        for (dir, _alive) in copies.iter() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A new directory only this user can enter, removed when the process exits.
fn private_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = std::env::temp_dir().join(format!(
        "{PREFIX}{}-{}",
        std::process::id(),
        &crate::fresh_id()[..12]
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    let alive = File::create(dir.join(ALIVE)).and_then(|f| {
        lock(&f, false)?;
        Ok(f)
    });
    let alive = match alive {
        Ok(f) => f,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    if let Ok(mut copies) = COPIES.lock() {
        if copies.is_empty() {
            // SAFETY: registers a plain function with no arguments to run at exit.
            unsafe { libc::atexit(remove_copies) };
        }
        copies.push((dir.clone(), alive));
    }
    Ok(dir)
}

/// An exclusive `flock` on `f`; with `try_only`, fails with EWOULDBLOCK instead of waiting.
fn lock(f: &File, try_only: bool) -> std::io::Result<()> {
    let op = libc::LOCK_EX | if try_only { libc::LOCK_NB } else { 0 };
    // SAFETY: flock on a descriptor this File owns.
    if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether the copy in `dir` still has a process serving it.
fn in_use(dir: &Path, creator_pid: u32) -> bool {
    match File::open(dir.join(ALIVE)) {
        // Nobody holds the lock: its daemon is gone (the lock dies with the process).
        Ok(f) => lock(&f, true).is_err(),
        // No lock file: a copy being made this very moment, or one made by an older damfs.
        Err(_) => Path::new(&format!("/proc/{creator_pid}")).exists(),
    }
}

/// Removes copies whose daemon is gone (killed with SIGKILL).
fn remove_stale_copies() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !in_use(&entry.path(), pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
