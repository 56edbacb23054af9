//! What the store's two kill -9 tests share (tests/store/crash.rs and the campaign
//! tests/campaigns/store_crash_campaign.rs): the model of a store's contents, the texts the
//! writers write, and the check of a store found after a kill.

use std::collections::HashSet;

use super::Rng;

/// A store's documents, `(id, json)` in order.
pub type Model = Vec<(String, String)>;

/// A text for operation `n`: mostly short, one in five 500–3,500 bytes (so writes cross
/// pages and pool evictions write real amounts).
pub fn text(rng: &mut Rng, n: u64) -> String {
    let len = if rng.chance(20) {
        500 + rng.below(3000)
    } else {
        rng.below(40)
    };
    let mut s = format!("t{n}-");
    while (s.len() as u64) < len {
        s.push_str(&format!("{:x}", rng.next_u64()));
    }
    s
}

/// With a pool, the state on disk may mix changes made after the last save. Every document
/// the later operations did not touch must be there unchanged, in order; every document there
/// must have a content it had at or after the last save; no id twice. `states[i]` is the model
/// after operation `i` (`states[ack]` the last saved one) and `touched[i]` the ids it touched.
pub fn check_mixed(
    states: &[Model],
    touched: &[HashSet<String>],
    ack: usize,
    found: &Model,
    what: &str,
) {
    let later: HashSet<&String> = touched[ack + 1..].iter().flatten().collect();
    let untouched: Vec<&(String, String)> = states[ack]
        .iter()
        .filter(|(id, _)| !later.contains(id))
        .collect();
    let found_untouched: Vec<&(String, String)> = found
        .iter()
        .filter(|(id, _)| untouched.iter().any(|(u, _)| u == id))
        .collect();
    assert_eq!(
        found_untouched, untouched,
        "{what}: saved documents changed"
    );
    let mut seen = HashSet::new();
    for (id, json) in found {
        assert!(seen.insert(id), "{what}: {id} twice");
        assert!(
            states[ack..]
                .iter()
                .any(|s| s.iter().any(|(i, j)| i == id && j == json)),
            "{what}: {id} has a content it never had after the last save: {json}"
        );
    }
}
