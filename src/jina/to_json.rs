//! A `DocumentProto` printed as the original's `Document.to_json()`:
//! `MessageToJson(pb, preserving_proto_field_name=True, sort_keys=True)` with numpy arrays
//! as nested lists.
//!
//! What is printed follows the C++ protobuf's `ListFields`: scalars that are not zero
//! (floats compared bit for bit, so `-0.0` shows), non-empty strings and repeated fields,
//! message fields that are present (an empty `tags` prints `{}`), and the member of the
//! `content` oneof that is set, even when empty (`"text": ""`).
//!
//! The text is written straight out, with no tree in between: a message's fields are
//! written in sorted order by hand, and maps and `Struct`s are `BTreeMap`s, whose order is
//! Python's `sort_keys` order (code points). Only arrays can fail, part-way; the caller then
//! drops the partial text.

use std::collections::BTreeMap;
use std::fmt::Write;

use base64::Engine;
use prost_types::value::Kind;

use super::ndarray::DenseView;
use super::proto::{Content, DocumentProto, NamedScoreProto, NdArrayProto};
use super::pyfloat::shortest_float32;
use super::pyjson::{newline, write_float, write_str};
use super::Unprintable;

/// What printing found out besides the text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrintNotes {
    /// An array holds NaN or an infinity: printed as a bare `NaN`/`Infinity`, so the text is
    /// not JSON.
    pub non_finite: bool,
}

/// Appends `doc.to_json()` to `out`. `id` replaces the document's id (the original gives a
/// record without one a fresh id each time it reads it). On error `out` holds part of the
/// text.
pub fn write_document(
    doc: &DocumentProto,
    id: Option<&str>,
    out: &mut String,
) -> Result<PrintNotes, Unprintable> {
    let mut notes = PrintNotes::default();
    document(doc, id, "", 0, out, &mut notes)?;
    Ok(notes)
}

/// Checks that `doc.to_json()` would print, without printing it (what printing would find
/// out, or why it cannot).
pub fn check_document(doc: &DocumentProto) -> Result<PrintNotes, Unprintable> {
    let mut notes = PrintNotes::default();
    check_arrays(doc, "", &mut notes)?;
    Ok(notes)
}

/// Only arrays can fail to print: checks them (at every level) without building the text.
fn check_arrays(d: &DocumentProto, path: &str, notes: &mut PrintNotes) -> Result<(), Unprintable> {
    if let Some(Content::Blob(a)) = &d.content {
        array(a, path, "blob", notes)?;
    }
    if let Some(e) = &d.embedding {
        array(e, path, "embedding", notes)?;
    }
    for (name, docs) in [("chunks", &d.chunks), ("matches", &d.matches)] {
        for (i, c) in docs.iter().enumerate() {
            check_arrays(c, &format!("{}[{i}]", field(path, name)), notes)?;
        }
    }
    Ok(())
}

/// A JSON object being written: `{`, then each key on its own line, then `}` (`{}` if none).
struct Obj<'o> {
    out: &'o mut String,
    depth: usize,
    any: bool,
}

impl<'o> Obj<'o> {
    fn new(out: &'o mut String, depth: usize) -> Self {
        out.push('{');
        Obj {
            out,
            depth,
            any: false,
        }
    }

    /// Writes the next key and gives the output for its value.
    fn key(&mut self, k: &str) -> &mut String {
        if self.any {
            self.out.push(',');
        }
        self.any = true;
        newline(self.depth + 1, self.out);
        write_str(k, self.out);
        self.out.push_str(": ");
        self.out
    }

    fn end(self) {
        if self.any {
            newline(self.depth, self.out);
        }
        self.out.push('}');
    }
}

/// `[`, the items on their own lines, `]` (`[]` if none).
fn list<T>(
    items: &[T],
    depth: usize,
    out: &mut String,
    mut item: impl FnMut(&T, usize, &mut String) -> Result<(), Unprintable>,
) -> Result<(), Unprintable> {
    out.push('[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(depth + 1, out);
        item(x, i, out)?;
    }
    if !items.is_empty() {
        newline(depth, out);
    }
    out.push(']');
    Ok(())
}

fn document(
    d: &DocumentProto,
    id: Option<&str>,
    path: &str,
    depth: usize,
    out: &mut String,
    notes: &mut PrintNotes,
) -> Result<(), Unprintable> {
    let mut o = Obj::new(out, depth);
    let inner = depth + 1;
    if d.adjacency != 0 {
        let _ = write!(o.key("adjacency"), "{}", d.adjacency);
    }
    match &d.content {
        Some(Content::Blob(a)) => write_array(a, path, "blob", inner, o.key("blob"), notes)?,
        Some(Content::Buffer(b)) => {
            let out = o.key("buffer");
            out.push('"');
            base64::engine::general_purpose::STANDARD.encode_string(b, out);
            out.push('"');
        }
        _ => {}
    }
    if !d.chunks.is_empty() {
        let at = field(path, "chunks");
        list(&d.chunks, inner, o.key("chunks"), |c, i, out| {
            document(c, None, &format!("{at}[{i}]"), inner + 1, out, notes)
        })?;
    }
    if let Some(e) = &d.embedding {
        write_array(e, path, "embedding", inner, o.key("embedding"), notes)?;
    }
    if !d.evaluations.is_empty() {
        scores(&d.evaluations, inner, o.key("evaluations"));
    }
    if d.granularity != 0 {
        let _ = write!(o.key("granularity"), "{}", d.granularity);
    }
    match id {
        Some(id) => write_str(id, o.key("id")),
        None if !d.id.is_empty() => write_str(&d.id, o.key("id")),
        None => {}
    }
    if !d.location.is_empty() {
        let _ = list(&d.location, inner, o.key("location"), |&x, _, out| {
            float(x, out);
            Ok(())
        });
    }
    if !d.matches.is_empty() {
        let at = field(path, "matches");
        list(&d.matches, inner, o.key("matches"), |m, i, out| {
            document(m, None, &format!("{at}[{i}]"), inner + 1, out, notes)
        })?;
    }
    for (name, v) in [("mime_type", &d.mime_type), ("modality", &d.modality)] {
        if !v.is_empty() {
            write_str(v, o.key(name));
        }
    }
    if let Some(x) = set_float(d.offset) {
        float(x, o.key("offset"));
    }
    if !d.parent_id.is_empty() {
        write_str(&d.parent_id, o.key("parent_id"));
    }
    if !d.scores.is_empty() {
        scores(&d.scores, inner, o.key("scores"));
    }
    if let Some(t) = &d.tags {
        structure(t, inner, o.key("tags"));
    }
    if let Some(Content::Text(t)) = &d.content {
        write_str(t, o.key("text"));
    }
    if !d.uri.is_empty() {
        write_str(&d.uri, o.key("uri"));
    }
    if let Some(x) = set_float(d.weight) {
        float(x, o.key("weight"));
    }
    o.end();
    Ok(())
}

fn field(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Checks array field `name` of the document at `path` (the path is made only for an
/// error).
fn array<'a>(
    a: &'a NdArrayProto,
    path: &str,
    name: &str,
    notes: &mut PrintNotes,
) -> Result<DenseView<'a>, Unprintable> {
    let (view, non_finite) = DenseView::new(a).map_err(|e| e.at(&field(path, name)))?;
    notes.non_finite |= non_finite;
    Ok(view)
}

fn write_array(
    a: &NdArrayProto,
    path: &str,
    name: &str,
    depth: usize,
    out: &mut String,
    notes: &mut PrintNotes,
) -> Result<(), Unprintable> {
    array(a, path, name, notes)?.write(depth, out);
    Ok(())
}

/// A proto3 float counts as set when its bits are not all zero.
fn set_float(x: Option<f32>) -> Option<f32> {
    x.filter(|v| v.to_bits() != 0)
}

/// A proto `float` field: rounded by `ToShortestFloat`; NaN and infinities as strings.
fn float(x: f32, out: &mut String) {
    if x.is_nan() {
        out.push_str("\"NaN\"");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        });
    } else {
        write_float(shortest_float32(x), out);
    }
}

fn scores(map: &BTreeMap<String, NamedScoreProto>, depth: usize, out: &mut String) {
    let mut o = Obj::new(out, depth);
    for (name, s) in map {
        score(s, depth + 1, o.key(name));
    }
    o.end();
}

fn score(s: &NamedScoreProto, depth: usize, out: &mut String) {
    let mut o = Obj::new(out, depth);
    if !s.description.is_empty() {
        write_str(&s.description, o.key("description"));
    }
    if !s.op_name.is_empty() {
        write_str(&s.op_name, o.key("op_name"));
    }
    if !s.operands.is_empty() {
        let _ = list(&s.operands, depth + 1, o.key("operands"), |x, _, out| {
            score(x, depth + 2, out);
            Ok(())
        });
    }
    if !s.ref_id.is_empty() {
        write_str(&s.ref_id, o.key("ref_id"));
    }
    if let Some(x) = set_float(s.value) {
        float(x, o.key("value"));
    }
    o.end();
}

/// `google.protobuf.Struct`: numbers are doubles (`1` prints `1.0`), NaN and infinities are
/// strings.
fn structure(s: &prost_types::Struct, depth: usize, out: &mut String) {
    let mut o = Obj::new(out, depth);
    for (k, v) in &s.fields {
        struct_value(v, depth + 1, o.key(k));
    }
    o.end();
}

fn struct_value(v: &prost_types::Value, depth: usize, out: &mut String) {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => out.push_str("null"),
        Some(Kind::NumberValue(x)) if x.is_nan() => out.push_str("\"NaN\""),
        Some(Kind::NumberValue(x)) if x.is_infinite() => out.push_str(if *x > 0.0 {
            "\"Infinity\""
        } else {
            "\"-Infinity\""
        }),
        Some(Kind::NumberValue(x)) => write_float(*x, out),
        Some(Kind::StringValue(s)) => write_str(s, out),
        Some(Kind::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Kind::StructValue(s)) => structure(s, depth, out),
        Some(Kind::ListValue(l)) => {
            let _ = list(&l.values, depth, out, |x, _, out| {
                struct_value(x, depth + 1, out);
                Ok(())
            });
        }
    }
}
