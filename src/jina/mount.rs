//! What `damfs mount JINA_DIR MNT --read-only` serves: the original store converted into a
//! private temporary damfs store, which the daemon mounts read-only (so it is exactly as fast
//! as any read-only mount). Nothing is written into JINA_DIR.
//!
//! The copy lives in `$TMPDIR` (default `/tmp`) as `damfs-jina-<pid>-<random>/`, mode 0700,
//! and is removed when the daemon exits (an `atexit` hook, so every exit path but SIGKILL;
//! copies left by killed daemons are removed by the next conversion).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use log::{info, warn};

use super::convert::Stream;
use super::plan::Plan;
use super::reader::{is_original_store, JinaStore};
use crate::{DocumentArrayMemmap, Options};

const PREFIX: &str = "damfs-jina-";

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
    if let Err(e) = convert_copy(store, &copy) {
        let _ = std::fs::remove_dir_all(&copy);
        return Err(e);
    }
    Ok(copy)
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

static COPIES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn remove_copies() {
    if let Ok(copies) = COPIES.lock() {
        for dir in copies.iter() {
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
    if let Ok(mut copies) = COPIES.lock() {
        if copies.is_empty() {
            // SAFETY: registers a plain function with no arguments to run at exit.
            unsafe { libc::atexit(remove_copies) };
        }
        copies.push(dir.clone());
    }
    Ok(dir)
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
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
