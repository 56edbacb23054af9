//! Records of an original store to damfs documents whose text is the original's
//! `to_json()`, in the original's order.

use std::fmt;
use std::io;

use prost::Message;

use super::proto::DocumentProto;
use super::reader::{BodyReader, JinaStore};
use super::to_json::write_document;
use super::Unprintable;
use crate::store::MAX_DOC_LEN;
use crate::{fresh_id, validate_id, Document};

/// A record that cannot be converted, with where it is and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The header key (the id, maybe truncated), if the entry has a readable one.
    pub key: Option<String>,
    /// The header entry (0-based) that holds the record.
    pub entry: u64,
    pub why: Unprintable,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(
                f,
                "document {key:?} (header entry {}): {}",
                self.entry, self.why
            ),
            None => write!(f, "header entry {}: {}", self.entry, self.why),
        }
    }
}

/// Decodes one record and prints it into `text` (cleared first). A record without an id gets
/// a fresh one, as the original gives it on every read. Returns the document's id.
pub fn convert_record(bytes: &[u8], text: &mut String) -> Result<String, Unprintable> {
    let doc = DocumentProto::decode(bytes).map_err(|e| {
        Unprintable::original(format!("the record is not a valid DocumentProto ({e})"))
    })?;
    let fresh = doc.id.is_empty().then(fresh_id);
    let id = fresh.clone().unwrap_or_else(|| doc.id.clone());
    validate_id(&id).map_err(|e| Unprintable::damfs(format!("its id is not a damfs id: {e}")))?;
    text.clear();
    let notes = write_document(&doc, fresh.as_deref(), text)?;
    if notes.non_finite {
        return Err(Unprintable::damfs(
            "an array holds NaN or Infinity, which to_json() prints as bare tokens that \
             are not JSON"
                .to_owned(),
        ));
    }
    if text.len() > MAX_DOC_LEN {
        return Err(Unprintable::damfs(
            "its JSON is larger than 4 GiB".to_owned(),
        ));
    }
    Ok(id)
}

/// Every live record of a store, in order, as a document or a [`Problem`]; entries whose key
/// cannot be read come first. An `Err` item is a failure to read `body.bin`.
pub struct Documents<'a> {
    store: &'a JinaStore,
    reader: BodyReader<'a>,
    bad_entries: usize,
    next: usize,
    text: String,
    /// Bytes of records read so far (for progress bars).
    pub bytes_read: u64,
    /// The header entry of the item returned last.
    pub entry: u64,
}

impl<'a> Documents<'a> {
    pub fn new(store: &'a JinaStore) -> Self {
        Documents {
            store,
            reader: store.body_reader(),
            bad_entries: 0,
            next: 0,
            text: String::new(),
            bytes_read: 0,
            entry: 0,
        }
    }
}

impl Iterator for Documents<'_> {
    type Item = io::Result<Result<Document, Problem>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(bad) = self.store.bad_entries().get(self.bad_entries) {
            self.bad_entries += 1;
            self.entry = bad.entry;
            return Some(Ok(Err(Problem {
                key: None,
                entry: bad.entry,
                why: Unprintable::original(bad.reason.clone()),
            })));
        }
        let live = self.store.live().get(self.next)?;
        self.next += 1;
        self.entry = live.entry;
        let problem = |why: Unprintable| Problem {
            key: Some(live.key.to_string()),
            entry: live.entry,
            why,
        };
        let bytes = match self.reader.record(live) {
            Err(e) => return Some(Err(e)),
            Ok(Err(why)) => return Some(Ok(Err(problem(why)))),
            Ok(Ok(b)) => b,
        };
        self.bytes_read += bytes.len() as u64;
        Some(Ok(match convert_record(bytes, &mut self.text) {
            Ok(id) => {
                debug_assert!(serde_json::from_str::<serde_json::Value>(&self.text).is_ok());
                Ok(Document::from_trusted(&id, &self.text))
            }
            Err(why) => Err(problem(why)),
        }))
    }
}
