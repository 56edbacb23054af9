//! Counts of the FUSE requests a mount answered, by kind (shown in `/.stats` as
//! `"requests"`), so that what each tool costs can be measured: `cat` of a warm document
//! should cost one OPEN and one RELEASE, nothing else.

use std::sync::atomic::{AtomicU64, Ordering};

/// The kinds of request counted (the adapter maps each FUSE opcode to one of these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Lookup,
    Forget,
    Getattr,
    Setattr,
    Open,
    Read,
    Write,
    Flush,
    Release,
    Fsync,
    Create,
    Unlink,
    Rename,
    Opendir,
    Readdir,
    Readdirplus,
    Releasedir,
    Statfs,
    Other,
}

const KINDS: [(Request, &str); 19] = [
    (Request::Lookup, "lookup"),
    (Request::Forget, "forget"),
    (Request::Getattr, "getattr"),
    (Request::Setattr, "setattr"),
    (Request::Open, "open"),
    (Request::Read, "read"),
    (Request::Write, "write"),
    (Request::Flush, "flush"),
    (Request::Release, "release"),
    (Request::Fsync, "fsync"),
    (Request::Create, "create"),
    (Request::Unlink, "unlink"),
    (Request::Rename, "rename"),
    (Request::Opendir, "opendir"),
    (Request::Readdir, "readdir"),
    (Request::Readdirplus, "readdirplus"),
    (Request::Releasedir, "releasedir"),
    (Request::Statfs, "statfs"),
    (Request::Other, "other"),
];

/// Lock-free counters, one per kind, plus the cache notifications sent.
#[derive(Default)]
pub struct RequestCounts {
    counts: [AtomicU64; KINDS.len()],
    epoch_bumps: AtomicU64,
    attr_invalidations: AtomicU64,
}

impl RequestCounts {
    pub fn count(&self, kind: Request) {
        self.counts[kind as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn epoch_bumped(&self) {
        self.epoch_bumps.fetch_add(1, Ordering::Relaxed);
    }

    pub fn attrs_invalidated(&self, n: usize) {
        self.attr_invalidations
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `{"lookup": 12, …, "epoch_bumps": 1, "attr_invalidations": 3}`
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for (kind, name) in KINDS {
            let n = self.counts[kind as usize].load(Ordering::Relaxed);
            m.insert(name.to_owned(), n.into());
        }
        m.insert(
            "epoch_bumps".into(),
            self.epoch_bumps.load(Ordering::Relaxed).into(),
        );
        m.insert(
            "attr_invalidations".into(),
            self.attr_invalidations.load(Ordering::Relaxed).into(),
        );
        serde_json::Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_in_enum_order() {
        for (i, (kind, _)) in KINDS.iter().enumerate() {
            assert_eq!(*kind as usize, i);
        }
    }

    #[test]
    fn counts_show_up_by_name() {
        let c = RequestCounts::default();
        c.count(Request::Open);
        c.count(Request::Open);
        c.count(Request::Release);
        c.epoch_bumped();
        let v = c.to_json();
        assert_eq!(v["open"], 2);
        assert_eq!(v["release"], 1);
        assert_eq!(v["read"], 0);
        assert_eq!(v["epoch_bumps"], 1);
    }
}
