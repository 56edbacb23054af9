//! The inode table: which inode numbers the kernel knows, and what each one is.
//!
//! Documents get a stable inode number derived from their id (FNV-1a, so the same document
//! has the same number in every mount), shared by `/<i>` and `/by-id/<id>`. Only nodes the
//! kernel holds (looked up, not yet forgotten, or open) are in the table: a store of a
//! million documents costs nothing here until they are listed.

use hashbrown::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::types::Ino;

/// Numbers below this are fixed (root, by-id, control files) or temporaries.
const DOC_INO_BASE: u64 = 1 << 62;
const FIRST_TEMP_INO: u64 = 1 << 10;

/// A tool's temporary file, kept in memory.
pub struct Temp {
    /// Directory and name, or `None` once unlinked (open handles may still use it).
    pub place: Option<(Ino, String)>,
    pub data: Vec<u8>,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub atime: SystemTime,
    pub mtime: SystemTime,
    pub ctime: SystemTime,
    /// Created in `/by-id/` under a name that is not a tool's temporary: becomes a new
    /// document when closed with valid JSON (see `Filesystem::flush`).
    pub candidate: bool,
    /// The last attempt to make this candidate a document failed (it is removed when the
    /// last handle closes, so a failed `cp bad.json /by-id/x` leaves nothing behind).
    pub rejected: bool,
}

pub enum NodeKind {
    /// A document, by id. Several inodes may name one document for a while (an inode
    /// renamed onto a document becomes an alias of it until the kernel forgets it).
    Doc(String),
    Temp(Temp),
    /// A document deleted while the kernel still holds its inode, with its last text if a
    /// file was open on it then (an open file stays readable after `rm`, as POSIX says).
    Gone(Option<Arc<[u8]>>),
}

pub struct Node {
    pub kind: NodeKind,
    pub nlookup: u64,
    pub open: u32,
}

#[derive(Default)]
pub struct Nodes {
    nodes: HashMap<Ino, Node>,
    /// The canonical inode of each document id in the table.
    doc_ino: HashMap<String, Ino>,
    /// Inodes that alias a document whose canonical inode is another one.
    aliases: Vec<Ino>,
    /// Temporary files by (directory, name).
    temp_names: HashMap<(Ino, String), Ino>,
    next_temp: u64,
    pub temp_bytes: u64,
}

pub fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The inode number a document gets when nothing else has it (the table probes past
/// collisions, so a node's real number may differ; plain readdir uses this one).
pub fn doc_ino_of(id: &str) -> Ino {
    DOC_INO_BASE | (fnv1a(id) & (DOC_INO_BASE - 1))
}

impl Nodes {
    pub fn new() -> Self {
        Nodes {
            next_temp: FIRST_TEMP_INO,
            ..Default::default()
        }
    }

    pub fn get(&self, ino: Ino) -> Option<&Node> {
        self.nodes.get(&ino)
    }

    pub fn get_mut(&mut self, ino: Ino) -> Option<&mut Node> {
        self.nodes.get_mut(&ino)
    }

    pub fn doc_ino(&self, id: &str) -> Option<Ino> {
        self.doc_ino.get(id).copied()
    }

    /// The canonical inode of document `id`, added to the table if needed.
    pub fn doc(&mut self, id: &str) -> Ino {
        if let Some(&ino) = self.doc_ino.get(id) {
            return ino;
        }
        let mut ino = doc_ino_of(id);
        while self.nodes.contains_key(&ino) {
            ino = DOC_INO_BASE | (ino.wrapping_add(1) & (DOC_INO_BASE - 1));
        }
        self.nodes.insert(
            ino,
            Node {
                kind: NodeKind::Doc(id.to_owned()),
                nlookup: 0,
                open: 0,
            },
        );
        self.doc_ino.insert(id.to_owned(), ino);
        ino
    }

    /// Every inode (canonical and aliases) that names document `id`.
    pub fn inodes_of(&self, id: &str) -> Vec<Ino> {
        let mut v: Vec<Ino> = self.doc_ino.get(id).copied().into_iter().collect();
        for &a in &self.aliases {
            if matches!(self.nodes.get(&a), Some(Node { kind: NodeKind::Doc(d), .. }) if d == id) {
                v.push(a);
            }
        }
        v
    }

    /// The document `id` no longer exists: its inodes become `Gone`.
    pub fn doc_deleted(&mut self, id: &str) -> Vec<Ino> {
        let inos = self.inodes_of(id);
        for ino in &inos {
            if let Some(n) = self.nodes.get_mut(ino) {
                n.kind = NodeKind::Gone(None);
            }
        }
        self.doc_ino.remove(id);
        self.aliases.retain(|a| !inos.contains(a));
        for ino in &inos {
            self.collect(*ino);
        }
        inos
    }

    /// Whether a file is open on any inode of document `id`.
    pub fn is_open(&self, id: &str) -> bool {
        self.inodes_of(id)
            .iter()
            .any(|i| self.nodes.get(i).is_some_and(|n| n.open > 0))
    }

    /// Gives the `Gone` inodes in `inos` the text their open files keep reading.
    pub fn keep_text(&mut self, inos: &[Ino], text: Arc<[u8]>) {
        for ino in inos {
            if let Some(n) = self.nodes.get_mut(ino) {
                if matches!(n.kind, NodeKind::Gone(_)) && n.open > 0 {
                    n.kind = NodeKind::Gone(Some(text.clone()));
                }
            }
        }
    }

    /// Document `from` is now called `to`: its inodes follow it.
    pub fn doc_renamed(&mut self, from: &str, to: &str) -> Vec<Ino> {
        let inos = self.inodes_of(from);
        for ino in &inos {
            if let Some(n) = self.nodes.get_mut(ino) {
                n.kind = NodeKind::Doc(to.to_owned());
            }
        }
        if let Some(ino) = self.doc_ino.remove(from) {
            self.doc_ino.insert(to.to_owned(), ino);
        }
        inos
    }

    /// Inode `ino` now names document `id`: as its canonical inode if it has none, or as
    /// an alias.
    pub fn make_doc(&mut self, ino: Ino, id: &str) {
        if let Some(Node {
            kind: NodeKind::Temp(t),
            ..
        }) = self.nodes.get(&ino)
        {
            self.temp_bytes -= t.data.len() as u64;
            if let Some(place) = t.place.clone() {
                self.temp_names.remove(&place);
            }
        }
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.kind = NodeKind::Doc(id.to_owned());
        }
        match self.doc_ino.get(id) {
            Some(&c) if c != ino => self.aliases.push(ino),
            Some(_) => {}
            None => {
                self.doc_ino.insert(id.to_owned(), ino);
            }
        }
    }

    /// Makes `ino` the canonical inode of `id` (after `mv a b` onto an existing `b`, the
    /// kernel binds `b` to `a`'s inode). The previous canonical inode becomes `Gone`.
    pub fn take_over(&mut self, ino: Ino, id: &str) -> Option<Ino> {
        let old = self
            .doc_ino
            .insert(id.to_owned(), ino)
            .filter(|&o| o != ino);
        if let Some(o) = old {
            if let Some(n) = self.nodes.get_mut(&o) {
                n.kind = NodeKind::Gone(None);
            }
            self.collect(o);
        }
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.kind = NodeKind::Doc(id.to_owned());
        }
        self.aliases.retain(|&a| a != ino);
        old
    }

    pub fn temp(&self, parent: Ino, name: &str) -> Option<Ino> {
        self.temp_names.get(&(parent, name.to_owned())).copied()
    }

    /// Temporary files of a directory, in inode order (stable for readdir).
    pub fn temps_in(&self, parent: Ino) -> Vec<(Ino, String)> {
        let mut v: Vec<(Ino, String)> = self
            .temp_names
            .iter()
            .filter(|((p, _), _)| *p == parent)
            .map(|((_, n), &i)| (i, n.clone()))
            .collect();
        v.sort();
        v
    }

    pub fn temp_count(&self) -> usize {
        self.temp_names.len()
    }

    pub fn add_temp(&mut self, temp: Temp) -> Ino {
        let ino = self.next_temp;
        self.next_temp += 1;
        if let Some(place) = temp.place.clone() {
            self.temp_names.insert(place, ino);
        }
        self.temp_bytes += temp.data.len() as u64;
        self.nodes.insert(
            ino,
            Node {
                kind: NodeKind::Temp(temp),
                nlookup: 0,
                open: 0,
            },
        );
        ino
    }

    /// Moves a temporary to a new place (replacing any temporary there).
    pub fn move_temp(&mut self, ino: Ino, to: (Ino, String)) {
        if let Some(other) = self.temp_names.get(&to).copied() {
            if other != ino {
                self.unlink_temp(other);
            }
        }
        if let Some(Node {
            kind: NodeKind::Temp(t),
            ..
        }) = self.nodes.get_mut(&ino)
        {
            if let Some(old) = t.place.take() {
                self.temp_names.remove(&old);
            }
            t.place = Some(to.clone());
            self.temp_names.insert(to, ino);
        }
    }

    /// Removes a temporary's name; its data goes when nothing uses it any more.
    pub fn unlink_temp(&mut self, ino: Ino) {
        if let Some(Node {
            kind: NodeKind::Temp(t),
            ..
        }) = self.nodes.get_mut(&ino)
        {
            if let Some(place) = t.place.take() {
                self.temp_names.remove(&place);
            }
        }
        self.collect(ino);
    }

    /// Resizes a temporary's data, keeping the total count right.
    pub fn temp_data_changed(&mut self, before: usize, after: usize) {
        self.temp_bytes = self.temp_bytes + after as u64 - before as u64;
    }

    pub fn looked_up(&mut self, ino: Ino) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.nlookup += 1;
        }
    }

    pub fn forget(&mut self, ino: Ino, n: u64) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.nlookup = node.nlookup.saturating_sub(n);
        }
        self.collect(ino);
    }

    pub fn opened(&mut self, ino: Ino) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.open += 1;
        }
    }

    pub fn closed(&mut self, ino: Ino) {
        if let Some(n) = self.nodes.get_mut(&ino) {
            n.open = n.open.saturating_sub(1);
        }
        self.collect(ino);
    }

    /// Drops a node nobody refers to any more (a named temporary stays: it is a file).
    fn collect(&mut self, ino: Ino) {
        let Some(n) = self.nodes.get(&ino) else {
            return;
        };
        if n.nlookup > 0 || n.open > 0 {
            return;
        }
        match &n.kind {
            NodeKind::Temp(t) if t.place.is_some() => return,
            NodeKind::Temp(t) => self.temp_bytes -= t.data.len() as u64,
            NodeKind::Doc(id) => {
                if self.doc_ino.get(id) == Some(&ino) {
                    self.doc_ino.remove(id);
                }
            }
            NodeKind::Gone(_) => {}
        }
        self.aliases.retain(|&a| a != ino);
        self.nodes.remove(&ino);
    }

    /// Inode `ino` no longer stands for `id` (moved onto another document): drop the
    /// id's canonical mapping if it pointed there, and turn the id's aliases to `Gone`.
    pub fn forget_id(&mut self, id: &str, ino: Ino) {
        if self.doc_ino.get(id) == Some(&ino) {
            self.doc_ino.remove(id);
        }
        self.doc_deleted(id);
    }

    /// Every document inode in the table with its id.
    pub fn all_docs(&self) -> Vec<(String, Ino)> {
        let mut v: Vec<(String, Ino)> = Vec::new();
        for (ino, n) in &self.nodes {
            if let NodeKind::Doc(id) = &n.kind {
                v.push((id.clone(), *ino));
            }
        }
        v
    }
}
