//! The first pass of a conversion: every record checked (decoded, and everything printing
//! could fail on) without printing, and the ids that would clash found, so that a conversion
//! can refuse before it writes anything, or know what to leave out.
//!
//! Header keys are unique already (the original's rule), so only ids that differ from their
//! header key (a truncated key, an odd store) can repeat one: only those are kept.

use std::collections::HashSet;
use std::io;

use super::convert::{check_record, Records};
use super::reader::JinaStore;
use super::{Problem, Unprintable};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Checked {
    /// Cannot be converted, or not reached.
    Bad,
    /// Its id is its header key (the usual case).
    SameAsKey,
    /// Its id differs from its header key.
    Other,
    /// No id: it gets a fresh one, which clashes with nothing.
    Fresh,
}

/// What the first pass found.
pub struct Plan {
    /// The records that cannot be converted, in header-entry order.
    pub problems: Vec<Problem>,
    /// Checking stopped at the limit: there may be more.
    pub truncated: bool,
    state: Vec<Checked>,
    /// Ids that differ from their header key, with their header entry and position.
    other_ids: hashbrown::HashMap<String, (u64, usize)>,
}

impl Plan {
    /// Checks every record of `store`, stopping after `limit` problems if given; `progress`
    /// gets the bytes read so far.
    pub fn make(
        store: &JinaStore,
        limit: Option<usize>,
        progress: &dyn Fn(u64),
    ) -> io::Result<Plan> {
        let mut plan = Plan {
            problems: Vec::new(),
            truncated: false,
            state: vec![Checked::Bad; store.len()],
            other_ids: hashbrown::HashMap::new(),
        };
        let mut records = Records::new(store);
        let mut n = 0u64;
        while let Some(item) = records.next() {
            let checked = match item? {
                Ok(bytes) => check_record(bytes).map_err(|why| records.problem(why)),
                Err(p) => Err(p),
            };
            match (checked, records.position) {
                (Ok(None), Some(pos)) => plan.state[pos] = Checked::Fresh,
                (Ok(Some(id)), Some(pos)) if Some(id.as_str()) == records.key => {
                    plan.state[pos] = Checked::SameAsKey
                }
                (Ok(Some(id)), Some(pos)) => match plan.other_ids.get(&id) {
                    Some(&(first, _)) => {
                        let p = records.problem(also_the_id_of(&id, first));
                        plan.problems.push(p);
                    }
                    None => {
                        plan.other_ids.insert(id, (records.entry, pos));
                        plan.state[pos] = Checked::Other;
                    }
                },
                (Ok(_), None) => {}
                (Err(p), _) => plan.problems.push(p),
            }
            n += 1;
            if n % 1024 == 0 {
                progress(records.bytes_read);
            }
            if limit.is_some_and(|l| plan.problems.len() >= l) {
                plan.truncated = true;
                break;
            }
        }
        // An id that differs from its key may be another document's key and id.
        let mut clashes = Vec::new();
        for (id, &(entry, at)) in &plan.other_ids {
            if let Some(pos) = store.position_of_key(id) {
                if plan.state[pos] == Checked::SameAsKey {
                    clashes.push(Problem {
                        key: Some(store.live()[at].key.to_string()),
                        entry,
                        why: also_the_id_of(id, store.live()[pos].entry),
                    });
                }
            }
        }
        plan.problems.extend(clashes);
        plan.problems.sort_by_key(|p| p.entry);
        Ok(plan)
    }

    /// The header entries of the records to leave out.
    pub fn skipped_entries(&self) -> HashSet<u64> {
        self.problems.iter().map(|p| p.entry).collect()
    }

    /// The ids (and header entries) the conversion will add, but for fresh ones, for
    /// checking against a store that already has documents.
    pub fn ids<'a>(&'a self, store: &'a JinaStore) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        let skipped = self.skipped_entries();
        let same = store
            .live()
            .iter()
            .zip(&self.state)
            .filter(|(_, s)| **s == Checked::SameAsKey)
            .map(|(l, _)| (&*l.key, l.entry));
        let other = self
            .other_ids
            .iter()
            .map(|(id, &(entry, _))| (id.as_str(), entry))
            .filter(move |(_, entry)| !skipped.contains(entry));
        same.chain(other)
    }
}

fn also_the_id_of(id: &str, entry: u64) -> Unprintable {
    Unprintable::damfs(format!(
        "its id {id:?} is also the id of the document at header entry {entry}"
    ))
}
