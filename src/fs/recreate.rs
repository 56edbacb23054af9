//! Tools that replace a file by deleting it and creating it again — `mv` across filesystems,
//! `install`, `cp --remove-destination`, `tar -x` — must not move a document to the end
//! (or, on a positional name, delete the next one too). So a delete is held back for a
//! moment: the document leaves the mount's view at once (positions shift, its names are
//! gone, for everyone), but it stays in the store, hidden, for [`RECREATE_WINDOW`]. If the
//! same process creates the same name again within that window, the new file *reinstates*
//! the document: when it is closed with valid content, the content replaces the document at
//! its old position. Otherwise the delete is applied: when the window ends, before a save,
//! or before any other change to the namespace.

use std::time::{Duration, Instant};

use super::types::Ino;

/// How long after a delete the deleting process may create the name again and keep the
/// document's position.
pub const RECREATE_WINDOW: Duration = Duration::from_secs(1);

/// A document deleted a moment ago, still in the store, hidden from the view.
#[derive(Debug, Clone)]
pub struct RecentDelete {
    pub id: String,
    /// The directory and name it was deleted under (`/3` or `/by-id/<id>`).
    pub parent: Ino,
    pub name: String,
    /// The deleting process (thread group id).
    pub tgid: u32,
    pub deadline: Instant,
    /// The temporary file that is reinstating it, once the name was created again.
    pub claimed_by: Option<Ino>,
}

#[derive(Default, Debug)]
pub struct RecentDeletes {
    entries: Vec<RecentDelete>,
}

impl RecentDeletes {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn add(&mut self, d: RecentDelete) {
        self.entries.push(d);
    }

    /// Whether document `id` is hidden (deleted a moment ago).
    pub fn hides(&self, id: &str) -> bool {
        self.entries.iter().any(|d| d.id == id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|d| d.id.as_str())
    }

    /// The unclaimed delete that process `tgid` may undo by creating `parent/name` now.
    pub fn claimable(&self, parent: Ino, name: &str, tgid: u32, now: Instant) -> Option<&str> {
        self.entries
            .iter()
            .find(|d| {
                d.claimed_by.is_none()
                    && d.tgid == tgid
                    && d.parent == parent
                    && d.name == name
                    && now <= d.deadline
            })
            .map(|d| d.id.as_str())
    }

    pub fn claim(&mut self, id: &str, by: Ino) {
        if let Some(d) = self.entries.iter_mut().find(|d| d.id == id) {
            d.claimed_by = Some(by);
        }
    }

    /// The delete that temporary `ino` is reinstating, if any.
    pub fn claimed_by(&self, ino: Ino) -> Option<&str> {
        self.entries
            .iter()
            .find(|d| d.claimed_by == Some(ino))
            .map(|d| d.id.as_str())
    }

    /// Removes and returns the entry for `id` (it was reinstated, or is applied now).
    pub fn take(&mut self, id: &str) -> Option<RecentDelete> {
        let i = self.entries.iter().position(|d| d.id == id)?;
        Some(self.entries.remove(i))
    }

    /// Removes and returns the deletes to apply now: all unclaimed ones when `all`, else
    /// the unclaimed ones whose window has passed.
    pub fn due(&mut self, all: bool, now: Instant) -> Vec<RecentDelete> {
        let (due, keep) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|d| d.claimed_by.is_none() && (all || now > d.deadline));
        self.entries = keep;
        due
    }
}

/// The thread group (process) of a request's thread id: FUSE reports the calling thread,
/// and a multi-threaded tool may delete and create from different threads.
pub fn thread_group(pid: u32) -> u32 {
    if pid == 0 {
        return 0;
    }
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, tgid: u32, deadline: Instant) -> RecentDelete {
        RecentDelete {
            id: id.into(),
            parent: 2,
            name: id.into(),
            tgid,
            deadline,
            claimed_by: None,
        }
    }

    #[test]
    fn only_the_deleting_process_may_claim_within_the_window() {
        let now = Instant::now();
        let mut r = RecentDeletes::default();
        r.add(entry("a", 10, now + RECREATE_WINDOW));
        assert_eq!(r.claimable(2, "a", 10, now), Some("a"));
        assert_eq!(r.claimable(2, "a", 11, now), None, "another process");
        assert_eq!(r.claimable(2, "b", 10, now), None, "another name");
        assert_eq!(r.claimable(1, "a", 10, now), None, "another directory");
        assert_eq!(r.claimable(2, "a", 10, now + RECREATE_WINDOW * 2), None);
        r.claim("a", 99);
        assert_eq!(r.claimable(2, "a", 10, now), None, "claimed once");
        assert_eq!(r.claimed_by(99), Some("a"));
    }

    #[test]
    fn due_leaves_claimed_and_fresh_deletes() {
        let now = Instant::now();
        let mut r = RecentDeletes::default();
        r.add(entry("old", 1, now - Duration::from_millis(1)));
        r.add(entry("fresh", 1, now + RECREATE_WINDOW));
        r.add(entry("claimed", 1, now - Duration::from_millis(1)));
        r.claim("claimed", 5);
        let due: Vec<String> = r.due(false, now).into_iter().map(|d| d.id).collect();
        assert_eq!(due, ["old"]);
        let due: Vec<String> = r.due(true, now).into_iter().map(|d| d.id).collect();
        assert_eq!(due, ["fresh"]);
        assert!(r.hides("claimed"));
    }

    #[test]
    fn thread_group_of_this_thread_is_this_process() {
        assert_eq!(thread_group(std::process::id()), std::process::id());
        assert_eq!(thread_group(0), 0);
    }
}
