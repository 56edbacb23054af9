//! Bulk field access: `get_attributes(fields)` and `get_attributes_with_docs(fields)`.
//!
//! A field is a top-level key of the document (`text`, `embedding`, `tags`, or any other),
//! `content` (the `text`, `blob` or `buffer`, whichever the document has), or a path into
//! nested objects with `__` between the parts, as the original's `dunder_get`: `tags__a`
//! is `tags["a"]`, `tags__a__b` is `tags["a"]["b"]`, and a part that is a number indexes a
//! list (`chunks__0__text`). A key that literally contains `__` wins over the path, as an
//! attribute does in the original. A missing field is `null` (the original's `None`).

use serde_json::{Map, Value};

use super::error::ArrayResult;
use crate::{Document, DocumentArrayMemmap};

/// One field of a parsed document (see the module docs).
pub fn attribute(doc: &Map<String, Value>, field: &str) -> Value {
    if let Some(v) = doc.get(field) {
        return v.clone();
    }
    if field == "content" {
        return ["text", "blob", "buffer"]
            .iter()
            .find_map(|k| doc.get(*k).filter(|v| !v.is_null()))
            .cloned()
            .unwrap_or(Value::Null);
    }
    if !field.contains("__") {
        return Value::Null;
    }
    let mut parts = field.split("__");
    let first = parts.next().unwrap_or_default();
    let mut current = match doc.get(first) {
        Some(v) => v,
        None => return Value::Null,
    };
    for part in parts {
        let next = match current {
            Value::Object(map) => map.get(part),
            Value::Array(items) => part.parse::<i64>().ok().and_then(|i| {
                // Python's negative indexes count from the end.
                let i = if i < 0 { i + items.len() as i64 } else { i };
                usize::try_from(i).ok().and_then(|i| items.get(i))
            }),
            _ => None,
        };
        match next {
            Some(v) => current = v,
            None => return Value::Null,
        }
    }
    current.clone()
}

/// The values of `fields` of one document, in the order of `fields`.
pub fn document_attributes(doc: &Document, fields: &[&str]) -> ArrayResult<Vec<Value>> {
    let map = doc.to_map()?;
    Ok(fields.iter().map(|f| attribute(&map, f)).collect())
}

/// One column per field, each with one value per document, in store order (the original's
/// `get_attributes(*fields)`, which unboxes a single field: take `columns[0]` then).
pub fn get_attributes(dam: &DocumentArrayMemmap, fields: &[&str]) -> ArrayResult<Vec<Vec<Value>>> {
    Ok(collect(dam, fields, false)?.0)
}

/// The columns of [`get_attributes`] together with the documents they came from.
pub fn get_attributes_with_docs(
    dam: &DocumentArrayMemmap,
    fields: &[&str],
) -> ArrayResult<(Vec<Vec<Value>>, Vec<Document>)> {
    collect(dam, fields, true)
}

fn collect(
    dam: &DocumentArrayMemmap,
    fields: &[&str],
    keep_docs: bool,
) -> ArrayResult<(Vec<Vec<Value>>, Vec<Document>)> {
    let mut columns: Vec<Vec<Value>> = fields
        .iter()
        .map(|_| Vec::with_capacity(dam.len()))
        .collect();
    let mut docs = Vec::new();
    for doc in dam.iter() {
        let doc = doc?;
        for (column, value) in columns.iter_mut().zip(document_attributes(&doc, fields)?) {
            column.push(value);
        }
        if keep_docs {
            docs.push(doc);
        }
    }
    Ok((columns, docs))
}
