//! Open file handles. A document handle buffers its writes; the buffer is validated and
//! committed when the handle is flushed (close) or fsynced — never in release, whose errors
//! nobody sees.

use hashbrown::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::bulk::AllLinesCursor;
use super::types::Ino;

pub enum HandleKind {
    /// A document. `buf` holds the handle's version of the content from its first write (or
    /// from O_TRUNC) on; `dirty` says it has changes not yet committed.
    Doc {
        buf: Option<Vec<u8>>,
        dirty: bool,
    },
    /// A document opened for reading on a read-write mount: the text as it was at open,
    /// and when that version was made. Every read of the handle is served from it (with
    /// direct I/O), so a reader sees one whole version even while writers replace the
    /// document — never a mix, never the zero or overgrown size the kernel briefly
    /// believes while a writer has it open.
    Reader {
        text: Arc<[u8]>,
        mtime: SystemTime,
    },
    /// A temporary file: the data lives in the node, shared by all handles.
    Temp {
        wrote: bool,
    },
    /// `/.stats`: the text as it was when opened.
    Stats {
        text: Vec<u8>,
    },
    /// A control file (`/.reload` …), and whether this handle ran it.
    Control {
        ran: bool,
    },
    /// A reader of `/.all.jsonl`, with where it is in the stream.
    AllLines(AllLinesCursor),
    /// A writer of `/.append.jsonl`: what it wrote, appended at close.
    Append {
        buf: Vec<u8>,
    },
    Dir,
}

pub struct Handle {
    pub ino: Ino,
    pub kind: HandleKind,
}

#[derive(Default)]
pub struct Handles {
    map: HashMap<u64, Handle>,
    next: u64,
}

impl Handles {
    pub fn insert(&mut self, handle: Handle) -> u64 {
        self.next += 1;
        self.map.insert(self.next, handle);
        self.next
    }

    pub fn get(&self, fh: u64) -> Option<&Handle> {
        self.map.get(&fh)
    }

    pub fn get_mut(&mut self, fh: u64) -> Option<&mut Handle> {
        self.map.get_mut(&fh)
    }

    pub fn remove(&mut self, fh: u64) -> Option<Handle> {
        self.map.remove(&fh)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether any handle is open on inode `ino`.
    pub fn is_open(&self, ino: Ino) -> bool {
        self.map.values().any(|h| h.ino == ino)
    }

    /// Whether a document handle on inode `ino` has writes not committed yet.
    pub fn has_uncommitted_writes(&self, ino: Ino) -> bool {
        self.map
            .values()
            .any(|h| h.ino == ino && matches!(h.kind, HandleKind::Doc { dirty: true, .. }))
    }

    /// Turns handles of a temporary that became document `ino` into (clean) document handles.
    pub fn temp_became_doc(&mut self, ino: Ino) {
        for h in self.map.values_mut() {
            if h.ino == ino && matches!(h.kind, HandleKind::Temp { .. }) {
                h.kind = HandleKind::Doc {
                    buf: None,
                    dirty: false,
                };
            }
        }
    }
}
