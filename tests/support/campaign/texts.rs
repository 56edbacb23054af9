//! Self-checking document texts for the mount campaigns.
//!
//! Every version any campaign writes is `{"id":ID,"v":TAG,"n":K,"text":"TAG TAG … "}`: the
//! text is the version's tag repeated K times. A read of a torn record, or of a mix of two
//! versions, fails [`check`]; a tag names who wrote it, so a version nobody wrote is caught
//! by comparing tags with the writers' logs. Tags end in `Z` so that no tag is a prefix of
//! another (sed replaces the tag everywhere in a text with `s/TAG/NEW/g`).

use crate::support::Rng;

/// The tag of version `seq` written by writer `writer` in round `round`.
pub fn tag(round: u64, writer: &str, seq: u64) -> String {
    format!("T{round}_{writer}_{seq}Z")
}

/// A document text of version `tag`, `n` repetitions long.
pub fn text(id: &str, tag: &str, n: u64) -> String {
    format!(
        r#"{{"id":"{id}","v":"{tag}","n":{n},"text":"{}"}}"#,
        format!("{tag} ").repeat(n as usize)
    )
}

/// A repetition count: mostly a few, sometimes many (texts of several pages).
pub fn reps(rng: &mut Rng) -> u64 {
    if rng.chance(10) {
        200 + rng.below(2000)
    } else {
        1 + rng.below(6)
    }
}

/// `json` with its id's value replaced (what a rename through the mount does).
pub fn with_id(json: &str, from: &str, to: &str) -> String {
    json.replacen(&format!(r#""id":"{from}""#), &format!(r#""id":"{to}""#), 1)
}

/// Checks that `json` is one whole version: valid JSON, an id, and a text that is its tag
/// repeated `n` times. Gives (id, tag).
pub fn check(json: &str) -> Result<(String, String), String> {
    let v: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not JSON ({e}): {json:?}"))?;
    let field = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_string)
            .ok_or_else(|| format!("no string {k:?} in {json:?}"))
    };
    let (id, tag, body) = (field("id")?, field("v")?, field("text")?);
    let n = v
        .get("n")
        .and_then(|x| x.as_u64())
        .ok_or_else(|| format!("no \"n\" in {json:?}"))?;
    if body != format!("{tag} ").repeat(n as usize) {
        return Err(format!("text is not {tag:?} x {n}: {json:?}"));
    }
    Ok((id, tag))
}
