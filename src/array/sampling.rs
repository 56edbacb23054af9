//! `sample`, `shuffle`, `split` and `batch`: new in-memory arrays drawn from a store.
//!
//! With a seed, `sample` and `shuffle` draw exactly as the original does with
//! `random.seed(seed)` (Python's Mersenne Twister and `random.sample`), so the same seed
//! picks the same documents in the same order in both.

use std::collections::HashMap;

use serde_json::Value;

use super::attributes::attribute;
use super::error::{ArrayError, ArrayResult};
use super::pyrandom::PyRandom;
use crate::{Document, DocumentArrayMemmap};

/// The document at position `pos`, read without touching the pool.
pub(crate) fn read_at(dam: &DocumentArrayMemmap, pos: usize) -> ArrayResult<Document> {
    let id = dam.id_at(pos).ok_or(crate::Error::IndexOutOfRange {
        index: pos as isize,
        len: dam.len(),
    })?;
    let text = dam.with_json(id, |bytes| String::from_utf8_lossy(bytes).into_owned())?;
    Ok(Document::from_json_for_id(text, id)?)
}

fn rng(seed: Option<u64>) -> PyRandom {
    seed.map_or_else(PyRandom::from_entropy, PyRandom::new)
}

/// `k` distinct documents drawn at random without replacement, in drawing order. More
/// than the store holds is an error.
pub fn sample(
    dam: &DocumentArrayMemmap,
    k: usize,
    seed: Option<u64>,
) -> ArrayResult<Vec<Document>> {
    sample_positions(dam.len(), k, seed)?
        .into_iter()
        .map(|p| read_at(dam, p))
        .collect()
}

/// The positions [`sample`] draws.
pub fn sample_positions(len: usize, k: usize, seed: Option<u64>) -> ArrayResult<Vec<usize>> {
    if k > len {
        return Err(ArrayError::SampleTooLarge { k, len });
    }
    Ok(rng(seed).sample(len, k))
}

/// Every document, in a random order (the original's `sample(len, seed)`).
pub fn shuffle(dam: &DocumentArrayMemmap, seed: Option<u64>) -> ArrayResult<Vec<Document>> {
    sample(dam, dam.len(), seed)
}

/// The value `split` groups a document by: `tags[tag]`, or, for a tag with `__`, the path
/// below `tags` (`null` when it is missing, as the original's `dunder_get`). `None` leaves
/// the document out.
pub(crate) fn split_key(doc: &Document, tag: &str) -> ArrayResult<Option<Value>> {
    let tags = match doc.to_map()?.shift_remove("tags") {
        Some(Value::Object(tags)) => tags,
        _ if tag.contains("__") => return Ok(Some(Value::Null)),
        _ => return Ok(None),
    };
    if tag.contains("__") {
        return Ok(Some(attribute(&tags, tag)));
    }
    Ok(tags.get(tag).cloned())
}

/// Groups [`split`] builds as it goes: values in first-seen order.
pub struct Groups<T> {
    index: HashMap<String, usize>,
    pub groups: Vec<(Value, T)>,
}

impl<T> Default for Groups<T> {
    fn default() -> Self {
        Groups {
            index: HashMap::new(),
            groups: Vec::new(),
        }
    }
}

impl<T> Groups<T> {
    /// The group of `value`, made with `new` the first time the value is seen.
    pub fn entry(
        &mut self,
        value: Value,
        new: impl FnOnce(&Value) -> ArrayResult<T>,
    ) -> ArrayResult<(usize, &mut T)> {
        let key = value.to_string();
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let group = new(&value)?;
                self.groups.push((value, group));
                self.index.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        Ok((i, &mut self.groups[i].1))
    }
}

/// The documents grouped by the value of the tag `tag`, groups in first-seen order and
/// documents in store order. Documents without the tag are left out.
pub fn split(dam: &DocumentArrayMemmap, tag: &str) -> ArrayResult<Vec<(Value, Vec<Document>)>> {
    let mut groups = Groups::default();
    for doc in dam.iter() {
        let doc = doc?;
        if let Some(value) = split_key(&doc, tag)? {
            groups.entry(value, |_| Ok(Vec::new()))?.1.push(doc);
        }
    }
    Ok(groups.groups)
}

/// Iterator of [`batch`].
pub struct Batches<'a> {
    dam: &'a DocumentArrayMemmap,
    order: Vec<usize>,
    size: usize,
    next: usize,
}

impl Iterator for Batches<'_> {
    type Item = ArrayResult<Vec<Document>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.order.len() {
            return None;
        }
        let end = (self.next + self.size).min(self.order.len());
        let batch = self.order[self.next..end]
            .iter()
            .map(|&p| read_at(self.dam, p))
            .collect();
        self.next = end;
        Some(batch)
    }
}

/// The documents in batches of `size` (the last one may be smaller), in store order or,
/// with `shuffle`, in a random order.
pub fn batch(dam: &DocumentArrayMemmap, size: usize, shuffle: bool) -> ArrayResult<Batches<'_>> {
    batch_with(dam, size, shuffle.then(PyRandom::from_entropy))
}

/// [`batch`] shuffled with a seed (as `random.seed(seed)` then the original's `batch`).
pub fn batch_seeded(dam: &DocumentArrayMemmap, size: usize, seed: u64) -> ArrayResult<Batches<'_>> {
    batch_with(dam, size, Some(PyRandom::new(seed)))
}

fn batch_with(
    dam: &DocumentArrayMemmap,
    size: usize,
    rng: Option<PyRandom>,
) -> ArrayResult<Batches<'_>> {
    if size == 0 {
        return Err(ArrayError::InvalidArgument(
            "batch size must be a positive integer".into(),
        ));
    }
    let mut order: Vec<usize> = (0..dam.len()).collect();
    if let Some(mut rng) = rng {
        rng.shuffle(&mut order);
    }
    Ok(Batches {
        dam,
        order,
        size,
        next: 0,
    })
}
