//! The documents a mount shows: the store's, minus those deleted a moment ago that are
//! still held back for their deleting process (see `recreate`). With nothing held back —
//! almost always — the view is the store itself and costs nothing.

use std::time::Instant;

use super::*;

/// Positions and ids as the mount shows them.
pub(super) struct View<'a> {
    store: &'a Store,
    /// Store positions of the hidden documents, ascending.
    hidden: Vec<usize>,
}

impl<'a> View<'a> {
    pub(super) fn of(st: &'a State) -> Self {
        let mut hidden: Vec<usize> = if st.recent_deletes.is_empty() {
            Vec::new()
        } else {
            st.recent_deletes
                .ids()
                .filter_map(|id| st.store.position_of(id))
                .collect()
        };
        hidden.sort_unstable();
        View {
            store: &st.store,
            hidden,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.store.len() - self.hidden.len()
    }

    /// The id shown at position `pos`.
    pub(super) fn id_at(&self, pos: usize) -> Option<&'a str> {
        let mut at = pos;
        for &h in &self.hidden {
            if h <= at {
                at += 1;
            } else {
                break;
            }
        }
        self.store.id_at(at)
    }
}

impl State {
    /// Whether the mount shows document `id`.
    pub(super) fn shows(&self, id: &str) -> bool {
        self.store.contains(id) && !self.recent_deletes.hides(id)
    }

    /// Applies held-back deletes: every unclaimed one when `all` (before a save or any
    /// other change to the namespace), else those whose window has passed. The view does
    /// not change (they were hidden already) unless a delete fails: then the document is
    /// shown again, and the kernel must look names up again.
    pub(super) fn apply_recent_deletes(&mut self, all: bool) {
        if self.recent_deletes.is_empty() {
            return;
        }
        for d in self.recent_deletes.due(all, Instant::now()) {
            self.apply_delete(&d.id);
        }
    }

    /// Deletes a held-back document from the store for good.
    pub(super) fn apply_delete(&mut self, id: &str) {
        if !self.store.contains(id) {
            return; // another writer deleted or renamed it meanwhile
        }
        if let Err(e) = self.store.delete_by_id(id) {
            log::error!("/by-id/{id}: deleting it failed, so it is shown again: {e}");
            self.names_changed();
        }
    }
}

impl State {
    /// Documents were added at the end, from position `from` on: temporaries named like
    /// their positions (a tool's probe such as vim's `4913`, made when the store was
    /// shorter) give way. They are removed, and cached names are looked up again, so the
    /// names show the documents.
    pub(super) fn shadow_temps_from(&mut self, from: usize) {
        let len = View::of(self).len();
        let shadowed: Vec<(Ino, String)> = self
            .nodes
            .temps_in(ROOT_INO)
            .into_iter()
            .filter(|(_, name)| {
                matches!(classify_root(name), RootName::Position(p) if p >= from && p < len)
            })
            .collect();
        for (t, name) in shadowed {
            log::warn!(
                "/{name}: a temporary file of that name gives way to the document now there"
            );
            self.nodes.unlink_temp(t);
            self.names_changed();
        }
    }

    /// A document was added at the end (see `shadow_temps_from`).
    pub(super) fn shadow_temp_at_end(&mut self) {
        let len = View::of(self).len();
        self.shadow_temps_from(len.saturating_sub(1));
    }
}
