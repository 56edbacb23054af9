//! A document: one JSON object with a string `"id"`, kept as the exact text it was given.
//!
//! The text is never re-formatted: what a user writes is what the store keeps and what the
//! mount serves back, byte for byte. The only change damfs ever makes to a text is to add
//! an `"id"` (as the first key) when it has none, or to rewrite the id's value on a rename.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Longest id in bytes: an id must be usable as a file name.
pub const MAX_ID_LEN: usize = 255;

/// One JSON document. Cloning is cheap (the id and text are shared, immutable strings):
/// the buffer pool and the caller can hold the same document without copying it.
#[derive(Clone, PartialEq, Eq)]
pub struct Document {
    id: Arc<str>,
    json: Arc<str>,
}

impl Document {
    /// [`Error::IdMismatch`] unless this document has the id `expected` (a replacement by id
    /// must carry the id it replaces).
    pub(crate) fn expect_id(&self, expected: &str) -> Result<()> {
        if self.id() != expected {
            return Err(Error::IdMismatch {
                expected: expected.to_owned(),
                found: self.id().to_owned(),
            });
        }
        Ok(())
    }

    /// Runs an edit on a copy (what both backends' `update` do): the copy if its text
    /// changed, `None` if not. An edit that changes the id is refused.
    pub(crate) fn edited<R>(
        &self,
        f: impl FnOnce(&mut Document) -> R,
    ) -> Result<(R, Option<Self>)> {
        let mut doc = self.clone();
        let r = f(&mut doc);
        doc.expect_id(self.id())?;
        let changed = doc.json() != self.json();
        Ok((r, changed.then_some(doc)))
    }

    /// Parses a JSON object. A missing `"id"` gets a fresh 32-hex-char id, added as the first
    /// key; everything else is kept byte for byte.
    pub fn from_json(text: impl Into<String>) -> Result<Self> {
        Self::from_json_str(&text.into())
    }

    /// [`Document::from_json`] for borrowed text (no intermediate `String`).
    pub(crate) fn from_json_str(text: &str) -> Result<Self> {
        match scan(text)? {
            Some((id, _)) => Ok(Document {
                id: Arc::from(&*id),
                json: text.into(),
            }),
            None => Ok(Self::insert_id(text, &fresh_id())),
        }
    }

    /// Parses a JSON object that is to be stored under `id`: its `"id"`, if present, must be
    /// `id`; if absent, `id` is added as the first key.
    pub fn from_json_for_id(text: impl Into<String>, id: &str) -> Result<Self> {
        validate_id(id)?;
        let text = text.into();
        match scan(&text)? {
            Some((found, _)) if found == id => Ok(Document {
                id: id.into(),
                json: text.as_str().into(),
            }),
            Some((found, _)) => Err(Error::IdMismatch {
                expected: id.to_owned(),
                found: found.into_owned(),
            }),
            None => Ok(Self::insert_id(&text, id)),
        }
    }

    /// Builds a document from a JSON value, which must be an object (a missing id is added).
    pub fn from_value(value: Value) -> Result<Self> {
        match value {
            Value::Object(map) => Self::from_map(map),
            other => Err(Error::InvalidDocument(format!(
                "a document must be a JSON object, not {}",
                kind_of(&other)
            ))),
        }
    }

    /// Builds a document from the fields of a JSON object (a missing id is added first).
    pub fn from_map(map: Map<String, Value>) -> Result<Self> {
        match map.get("id") {
            Some(Value::String(id)) => {
                validate_id(id)?;
                let id = id.clone();
                Ok(Document {
                    id: id.into(),
                    json: Value::Object(map).to_string().into(),
                })
            }
            Some(other) => Err(Error::InvalidDocument(format!(
                "\"id\" must be a string, not {}",
                kind_of(other)
            ))),
            None => {
                let id = fresh_id();
                let mut with_id = Map::with_capacity(map.len() + 1);
                with_id.insert("id".into(), Value::String(id.clone()));
                with_id.extend(map);
                Ok(Document {
                    id: id.into(),
                    json: Value::Object(with_id).to_string().into(),
                })
            }
        }
    }

    /// A document with a fresh id and a `"text"` field, as Jina's `Document(text=...)`.
    pub fn with_text(text: &str) -> Self {
        let id = fresh_id();
        let json = format!(
            "{{\"id\":\"{id}\",\"text\":{}}}",
            Value::String(text.to_owned())
        );
        Document {
            id: id.into(),
            json: json.into(),
        }
    }

    /// A document whose id and text are already known to be valid and to agree
    /// (read back from the store, whose records were validated when written).
    pub(crate) fn from_trusted(id: &str, json: &str) -> Self {
        Document {
            id: id.into(),
            json: json.into(),
        }
    }

    /// The document's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The document's JSON text, exactly as stored.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The JSON text, consuming the document.
    pub fn into_json(self) -> String {
        self.json.to_string()
    }

    /// The document parsed into its fields (key order kept). Fails for the rare valid
    /// document serde_json cannot build as a value (numbers beyond f64, nesting deeper than
    /// 128): such a document is kept and served verbatim, but not edited field by field.
    pub fn to_map(&self) -> Result<Map<String, Value>> {
        match serde_json::from_str::<Value>(&self.json) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Error::InvalidDocument("not a JSON object".into())),
            Err(e) => Err(Error::InvalidDocument(format!(
                "document {:?} cannot be edited field by field: {e}",
                self.id
            ))),
        }
    }

    /// One field's value, parsed. Only that field is built; the others are skipped.
    pub fn get(&self, field: &str) -> Option<Value> {
        let mut de = serde_json::Deserializer::from_str(&self.json);
        let scan = ObjectScan {
            base: &self.json,
            key: field,
        };
        de::Deserializer::deserialize_any(&mut de, scan)
            .ok()
            .flatten()
            .map(|(v, _)| v.into_value())
    }

    /// The `"text"` field, if it is a string.
    pub fn text(&self) -> Option<String> {
        match self.get("text") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// Sets one field (re-serialising the document compactly, key order kept).
    /// The id cannot be changed this way: use [`Document::with_id`].
    pub fn set(&mut self, field: &str, value: impl Into<Value>) -> Result<()> {
        if field == "id" {
            return Err(Error::InvalidDocument(
                "the id cannot be set as a field; use Document::with_id".into(),
            ));
        }
        let mut map = self.to_map()?;
        map.insert(field.to_owned(), value.into());
        self.json = Value::Object(map).to_string().into();
        Ok(())
    }

    /// Removes one field (not the id). Returns its old value (`None` if there was none, or
    /// if the document cannot be edited field by field: see [`Document::to_map`]).
    pub fn remove(&mut self, field: &str) -> Option<Value> {
        if field == "id" {
            return None;
        }
        let mut map = self.to_map().ok()?;
        let old = map.shift_remove(field);
        if old.is_some() {
            self.json = Value::Object(map).to_string().into();
        }
        old
    }

    /// The same document under another id: only the id's value changes in the text.
    pub fn with_id(&self, new_id: &str) -> Result<Document> {
        validate_id(new_id)?;
        let quoted = Value::String(new_id.to_owned()).to_string();
        let json = match scan(&self.json)? {
            Some((_, span)) => {
                let mut s = String::with_capacity(self.json.len() + quoted.len());
                s.push_str(&self.json[..span.start]);
                s.push_str(&quoted);
                s.push_str(&self.json[span.end..]);
                s
            }
            None => return Ok(Self::insert_id(&self.json, new_id)),
        };
        Ok(Document {
            id: new_id.into(),
            json: json.into(),
        })
    }

    /// Adds `"id": id` as the first key of a valid object text that has no id.
    fn insert_id(text: &str, id: &str) -> Document {
        let brace = text.len() - text.trim_start().len();
        let rest = &text[brace + 1..];
        let empty = rest.trim_start().starts_with('}');
        let mut json = String::with_capacity(text.len() + id.len() + 8);
        json.push_str(&text[..=brace]);
        json.push_str("\"id\":");
        push_json_string(&mut json, id);
        if !empty {
            json.push(',');
        }
        json.push_str(rest);
        Document {
            id: id.into(),
            json: json.into(),
        }
    }
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("id", &self.id)
            .field("json", &self.json)
            .finish()
    }
}

impl fmt::Display for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.json)
    }
}

/// Checks the id rules: 1..=255 bytes of UTF-8, no `/` or NUL, not `.`/`..`, no leading `.`.
pub fn validate_id(id: &str) -> Result<()> {
    let reason = if id.is_empty() {
        "an id cannot be empty"
    } else if id.len() > MAX_ID_LEN {
        "an id is at most 255 bytes"
    } else if id.contains('/') {
        "an id cannot contain '/'"
    } else if id.contains('\0') {
        "an id cannot contain NUL"
    } else if id.starts_with('.') {
        "an id cannot start with '.'"
    } else {
        return Ok(());
    };
    Err(Error::InvalidId {
        id: id.to_owned(),
        reason,
    })
}

/// A fresh random id: 32 lowercase hex characters, like Jina's `uuid1().hex`.
pub fn fresh_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Appends `s` as a JSON string, escaped exactly as serde_json escapes it.
fn push_json_string(out: &mut String, s: &str) {
    // serde_json escapes only `"`, `\` and control characters; ids (fresh ones are hex)
    // rarely have any, and then need no serializer.
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&Value::String(s.to_owned()).to_string());
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks that `text` is one JSON object whose `"id"`, if any, is valid, without building a
/// document (no fresh id is drawn, nothing is copied): gives the id it has.
pub fn check_json(text: &str) -> Result<Option<Cow<'_, str>>> {
    Ok(scan(text)?.map(|(id, _)| id))
}

/// Validates `text` as one JSON object and finds its top-level `"id"`: the id and the byte
/// span of its value. Cheap: values other than the id are skipped, not built.
fn scan(text: &str) -> Result<Option<(Cow<'_, str>, Range<usize>)>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let found = de::Deserializer::deserialize_any(
        &mut de,
        ObjectScan {
            base: text,
            key: "id",
        },
    )
    .and_then(|found| de.end().map(|()| found))
    .map_err(|e| Error::InvalidDocument(e.to_string()))?;
    match found {
        Some((Found::Plain(id), span)) => {
            validate_id(id)?;
            Ok(Some((Cow::Borrowed(id), span)))
        }
        Some((Found::Value(Value::String(id)), span)) => {
            validate_id(&id)?;
            Ok(Some((Cow::Owned(id), span)))
        }
        Some((Found::Value(other), _)) => Err(Error::InvalidDocument(format!(
            "\"id\" must be a string, not {}",
            kind_of(&other)
        ))),
        None => Ok(None),
    }
}

/// The value of the member an [`ObjectScan`] looks for.
enum Found<'a> {
    /// A string without escapes: its text, borrowed from the document (nothing built).
    Plain(&'a str),
    Value(Value),
}

impl Found<'_> {
    fn into_value(self) -> Value {
        match self {
            Found::Plain(s) => Value::String(s.to_owned()),
            Found::Value(v) => v,
        }
    }
}

/// Visits the top-level value, which must be an object, keeping only the member `key`
/// (its value and the byte span of the value in `base`).
struct ObjectScan<'a, 'k> {
    base: &'a str,
    key: &'k str,
}

impl<'de> Visitor<'de> for ObjectScan<'de, '_> {
    type Value = Option<(Found<'de>, Range<usize>)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_key) = map.next_key_seed(KeyIs(self.key))? {
            if !is_key {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if found.is_some() {
                return Err(de::Error::custom(format!(
                    "the key {:?} appears twice",
                    self.key
                )));
            }
            let raw: &'de RawValue = map.next_value()?;
            let start = raw.get().as_ptr() as usize - self.base.as_ptr() as usize;
            // Most ids are plain strings: take them as they are, without a second parser.
            let text: &'de str = raw.get();
            let value = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                Some(plain) if !plain.contains('\\') => Found::Plain(plain),
                _ => Found::Value(serde_json::from_str(text).map_err(de::Error::custom)?),
            };
            found = Some((value, start..start + raw.get().len()));
        }
        Ok(found)
    }
}

/// Deserializes an object key to "is it this key?" without allocating.
struct KeyIs<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

/// Removes the whitespace outside strings of a valid JSON text (to make a pretty-printed
/// document one JSON Lines record). Unlike re-serialising with serde_json this keeps every
/// token byte for byte (numbers are not rounded through f64).
pub fn compact_json(text: &[u8], out: &mut Vec<u8>) {
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
            out.push(b);
            in_string = b == b'"';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_text_byte_for_byte() {
        let text = "{ \"id\" : \"a\",\n  \"text\": \"x\" }\n";
        let d = Document::from_json(text).unwrap();
        assert_eq!(d.id(), "a");
        assert_eq!(d.json(), text);
    }

    #[test]
    fn adds_a_missing_id_first() {
        let d = Document::from_json("{\"text\": \"x\"}").unwrap();
        assert_eq!(d.id().len(), 32);
        assert_eq!(
            d.json(),
            format!("{{\"id\":\"{}\",\"text\": \"x\"}}", d.id())
        );
        let e = Document::from_json_for_id("  { }", "k").unwrap();
        assert_eq!(e.json(), "  {\"id\":\"k\" }");
        assert_eq!(Document::from_json(e.json()).unwrap(), e);
    }

    #[test]
    fn added_ids_are_escaped_as_serde_json_escapes_them() {
        for id in [
            "plain",
            "a\"b",
            "back\\slash",
            "tab\there",
            "\u{1}x",
            "é\u{7f}",
        ] {
            let d = Document::from_json_for_id("{}", id).unwrap();
            let expected = format!("{{\"id\":{}}}", Value::String(id.to_owned()));
            assert_eq!(d.json(), expected);
            assert_eq!(Document::from_json(d.json()).unwrap().id(), id);
        }
    }

    #[test]
    fn rejects_what_is_not_one_object() {
        for bad in [
            "",
            "[]",
            "1",
            "\"s\"",
            "{",
            "{}{}",
            "{} x",
            "{\"id\": 1}",
            "{\"id\": \"\"}",
            "{\"id\": \"a/b\"}",
            "{\"id\": \".x\"}",
            "{\"id\":\"a\",\"id\":\"a\"}",
        ] {
            assert!(Document::from_json(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Document::from_json("{\"id\":\"a\"}\n").is_ok());
    }

    #[test]
    fn id_rules() {
        assert!(validate_id(&"x".repeat(255)).is_ok());
        assert!(validate_id(&"x".repeat(256)).is_err());
        assert!(validate_id("..").is_err());
        assert!(validate_id("ünï😀").is_ok());
        assert!(validate_id("a\0b").is_err());
    }

    #[test]
    fn with_id_rewrites_only_the_id() {
        let d = Document::from_json("{\"text\":1, \"id\" : \"a\" }").unwrap();
        let e = d.with_id("bb").unwrap();
        assert_eq!(e.json(), "{\"text\":1, \"id\" : \"bb\" }");
        assert_eq!(e.id(), "bb");
    }

    #[test]
    fn a_document_serde_cannot_build_is_kept_but_not_edited() {
        let text = "{\"id\":\"a\",\"x\":1e400}";
        let mut d = Document::from_json(text).unwrap();
        assert!(d.set("text", "t").is_err());
        assert_eq!(d.remove("x"), None);
        assert_eq!(d.json(), text, "nothing dropped");
    }

    #[test]
    fn mismatched_id_is_refused() {
        assert!(matches!(
            Document::from_json_for_id("{\"id\":\"a\"}", "b"),
            Err(Error::IdMismatch { .. })
        ));
    }

    #[test]
    fn set_and_get_fields() {
        let mut d = Document::with_text("hello");
        assert_eq!(d.text().as_deref(), Some("hello"));
        d.set("text", "goodbye").unwrap();
        assert_eq!(d.text().as_deref(), Some("goodbye"));
        assert!(d.json().starts_with("{\"id\""));
        assert!(d.set("id", "x").is_err());
    }
}
