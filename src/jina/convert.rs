//! Records of an original store to damfs documents whose text is the original's
//! `to_json()`, in the original's order.

use std::fmt;
use std::io;

use prost::Message;

use super::proto::DocumentProto;
use super::reader::{BodyReader, JinaStore};
use super::to_json::{check_document, write_document, PrintNotes};
use super::wire::{message_end, strip_mismatched};
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
    let (doc, fresh) = decode(bytes)?;
    text.clear();
    let notes = write_document(&doc, fresh.as_deref(), text)?;
    check_notes(notes)?;
    if text.len() > MAX_DOC_LEN {
        return Err(Unprintable::damfs(
            "its JSON is larger than 4 GiB".to_owned(),
        ));
    }
    Ok(fresh.unwrap_or(doc.id))
}

/// What [`convert_record`] would decide, without printing: the id (`None` for a record
/// without one, which gets a fresh id) or why the record cannot be converted.
pub fn check_record(bytes: &[u8]) -> Result<Option<String>, Unprintable> {
    let (doc, fresh) = decode(bytes)?;
    check_notes(check_document(&doc)?)?;
    Ok(fresh.is_none().then_some(doc.id))
}

/// Decodes a record as the original's parser does: it ends at a top-level zero or end-group
/// tag, and fields of the wrong wire type are skipped.
pub fn decode_record(bytes: &[u8]) -> Result<DocumentProto, prost::DecodeError> {
    // prost refuses both, so a record it accepts has neither: only a refused one needs the
    // (slower) look for them.
    DocumentProto::decode(bytes).or_else(|e| {
        let read = &bytes[..message_end(bytes)];
        match strip_mismatched(read) {
            std::borrow::Cow::Owned(cleaned) => DocumentProto::decode(cleaned.as_slice()),
            std::borrow::Cow::Borrowed(_) if read.len() < bytes.len() => {
                DocumentProto::decode(read)
            }
            std::borrow::Cow::Borrowed(_) => Err(e),
        }
    })
}

fn decode(bytes: &[u8]) -> Result<(DocumentProto, Option<String>), Unprintable> {
    let doc = decode_record(bytes).map_err(|e| {
        Unprintable::original(format!("the record is not a valid DocumentProto ({e})"))
    })?;
    let fresh = doc.id.is_empty().then(fresh_id);
    let id = fresh.as_deref().unwrap_or(&doc.id);
    validate_id(id).map_err(|e| Unprintable::damfs(format!("its id is not a damfs id: {e}")))?;
    Ok((doc, fresh))
}

fn check_notes(notes: PrintNotes) -> Result<(), Unprintable> {
    if notes.non_finite {
        return Err(Unprintable::damfs(
            "an array holds NaN or Infinity, which to_json() prints as bare tokens that \
             are not JSON"
                .to_owned(),
        ));
    }
    Ok(())
}

/// The live records of a store in order (entries whose key cannot be read first), as bytes
/// or a [`Problem`]. An `Err` is a failure to read `body.bin`.
pub struct Records<'a> {
    store: &'a JinaStore,
    reader: BodyReader<'a>,
    bad_entries: usize,
    next: usize,
    /// Bytes of records read so far (for progress bars).
    pub bytes_read: u64,
    /// The header entry of the record returned last.
    pub entry: u64,
    /// Its header key (`None` for an entry whose key cannot be read).
    pub key: Option<&'a str>,
    /// Its position among the live documents (`None` for an entry whose key cannot be read).
    pub position: Option<usize>,
}

impl<'a> Records<'a> {
    pub fn new(store: &'a JinaStore) -> Self {
        Records {
            store,
            reader: store.body_reader(),
            bad_entries: 0,
            next: 0,
            bytes_read: 0,
            entry: 0,
            key: None,
            position: None,
        }
    }

    /// The problem `why` for the record returned last.
    pub fn problem(&self, why: Unprintable) -> Problem {
        Problem {
            key: self.key.map(str::to_owned),
            entry: self.entry,
            why,
        }
    }

    #[allow(clippy::should_implement_trait)] // it lends its bytes: not an Iterator
    pub fn next(&mut self) -> Option<io::Result<Result<&[u8], Problem>>> {
        if let Some(bad) = self.store.bad_entries().get(self.bad_entries) {
            self.bad_entries += 1;
            self.entry = bad.entry;
            self.key = None;
            self.position = None;
            return Some(Ok(Err(
                self.problem(Unprintable::original(bad.reason.clone()))
            )));
        }
        let live = self.store.live().get(self.next)?;
        self.position = Some(self.next);
        self.next += 1;
        self.entry = live.entry;
        self.key = Some(&live.key);
        match self.reader.record(live) {
            Err(e) => Some(Err(e)),
            Ok(Err(why)) => Some(Ok(Err(Problem {
                key: Some(live.key.to_string()),
                entry: live.entry,
                why,
            }))),
            Ok(Ok(bytes)) => {
                self.bytes_read += bytes.len() as u64;
                Some(Ok(Ok(bytes)))
            }
        }
    }
}

/// Every live record of a store, in order, as a damfs document (its text the original's
/// `to_json()`) or a [`Problem`]. An `Err` item is a failure to read `body.bin`.
pub struct Documents<'a> {
    pub records: Records<'a>,
    text: String,
}

impl<'a> Documents<'a> {
    pub fn new(store: &'a JinaStore) -> Self {
        Documents {
            records: Records::new(store),
            text: String::new(),
        }
    }
}

impl Iterator for Documents<'_> {
    type Item = io::Result<Result<Document, Problem>>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = match self.records.next()? {
            Err(e) => return Some(Err(e)),
            Ok(Err(p)) => return Some(Ok(Err(p))),
            Ok(Ok(b)) => b,
        };
        let converted = convert_record(bytes, &mut self.text);
        Some(Ok(match converted {
            Ok(id) => {
                debug_assert!(serde_json::from_str::<serde_json::Value>(&self.text).is_ok());
                Ok(Document::from_trusted(&id, &self.text))
            }
            Err(why) => Err(self.records.problem(why)),
        }))
    }
}

/// The second pass of a conversion: the documents to add, for one streaming `extend`. Records
/// in `skip` (what the check pass left out) are passed over. A record that fails now although
/// the check passed (the store changed in between) stops the stream with `failure` set, or
/// with `lenient` is logged and passed over; so does a failure to read.
pub struct Stream<'a> {
    docs: Documents<'a>,
    skip: std::collections::HashSet<u64>,
    lenient: bool,
    /// Documents still expected (for `size_hint`, so that the store sizes its table once).
    remaining: usize,
    /// Why the stream stopped early.
    pub failure: Option<String>,
    progress: Option<&'a dyn Fn(u64)>,
    count: u64,
}

impl<'a> Stream<'a> {
    pub fn new(store: &'a JinaStore, skip: std::collections::HashSet<u64>, lenient: bool) -> Self {
        let remaining = store.len().saturating_sub(skip.len());
        Stream {
            docs: Documents::new(store),
            skip,
            lenient,
            remaining,
            failure: None,
            progress: None,
            count: 0,
        }
    }

    /// Calls `f` with the bytes read so far, every 1024 documents.
    pub fn with_progress(mut self, f: &'a dyn Fn(u64)) -> Self {
        self.progress = Some(f);
        self
    }
}

impl Iterator for Stream<'_> {
    type Item = Document;

    fn next(&mut self) -> Option<Document> {
        if self.failure.is_some() {
            return None;
        }
        self.count += 1;
        if let Some(f) = self.progress.filter(|_| self.count % 1024 == 0) {
            f(self.docs.records.bytes_read);
        }
        loop {
            match self.docs.next()? {
                Err(e) => {
                    self.failure = Some(e.to_string());
                    return None;
                }
                Ok(_) if self.skip.contains(&self.docs.records.entry) => {}
                Ok(Ok(doc)) => {
                    self.remaining = self.remaining.saturating_sub(1);
                    return Some(doc);
                }
                Ok(Err(p)) if self.lenient => log::warn!("skipped {p}"),
                Ok(Err(p)) => {
                    self.failure = Some(format!("the store changed while it was read ({p})"));
                    return None;
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Exact unless the store changed since the check pass (then only a reservation is
        // off).
        (self.remaining, None)
    }
}
