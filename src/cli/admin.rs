//! `damfs export`, `stat`, `prune` and `clear`.

use std::io::Write;
use std::path::Path;

use super::*;

/// `damfs export STORE`: every document as one line of JSON, in order, into what `create`
/// makes once the store is open (a store that cannot be opened leaves an output file as it
/// was). Returns how many.
pub fn export<W: Write>(
    store: &Path,
    create: impl FnOnce() -> CliResult<W>,
    out_name: &str,
) -> CliResult<usize> {
    let dam = open_read_only(store)?;
    let mut out = create()?;
    let write_err = |e| CliError::io(format!("writing {out_name}"), e);
    let mut n = 0;
    let mut compacted = Vec::new();
    for id in dam.ids() {
        let written = dam
            .with_json(id, |text| {
                // A stored text may span lines (pretty-printed); a JSON Lines record may not.
                if text.iter().any(|&b| b == b'\n' || b == b'\r') {
                    compacted.clear();
                    compact_json(text, &mut compacted);
                    out.write_all(&compacted)?;
                } else {
                    out.write_all(text)?;
                }
                out.write_all(b"\n")
            })
            .map_err(|e| CliError::store(format!("reading document {id:?}"), e))?;
        written.map_err(write_err)?;
        n += 1;
    }
    out.flush().map_err(write_err)?;
    Ok(n)
}

pub use crate::document::compact_json;

// ---- stat, prune, clear ------------------------------------------------------------------

/// `damfs stat STORE`: the store's figures as a JSON object.
pub fn stat(store: &Path) -> CliResult<serde_json::Value> {
    let dam = open_read_only(store)?;
    let s = dam.stats();
    Ok(serde_json::json!({
        "length": s.length,
        "bytes": s.bytes,
        "garbage_bytes": s.garbage_bytes,
        "format_version": s.format_version,
        "generation": s.generation,
        "index_bytes": s.index_bytes,
        "body_bytes": s.body_bytes,
        "table_bytes": s.table_bytes,
    }))
}

/// What `prune` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneReport {
    pub length: usize,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// `damfs prune STORE`.
pub fn prune(store: &Path) -> CliResult<PruneReport> {
    let mut dam = open_writable(store, true)?;
    let bytes_before = dam.stats().bytes;
    dam.prune()
        .map_err(|e| CliError::store(format!("prune {}", show(store)), e))?;
    let s = dam.stats();
    Ok(PruneReport {
        length: s.length,
        bytes_before,
        bytes_after: s.bytes,
    })
}

/// `damfs clear STORE`: returns how many documents were removed.
pub fn clear(store: &Path) -> CliResult<usize> {
    let mut dam = open_writable(store, true)?;
    let n = dam.len();
    dam.clear()
        .map_err(|e| CliError::store(format!("clear {}", show(store)), e))?;
    Ok(n)
}
