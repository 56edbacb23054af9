//! A `DocumentProto` printed as the original's `Document.to_json()`:
//! `MessageToJson(pb, preserving_proto_field_name=True, sort_keys=True)` with numpy arrays
//! as nested lists.
//!
//! What is printed follows the C++ protobuf's `ListFields`: scalars that are not zero
//! (floats compared bit for bit, so `-0.0` shows), non-empty strings and repeated fields,
//! message fields that are present (an empty `tags` prints `{}`), and the member of the
//! `content` oneof that is set, even when empty (`"text": ""`).

use std::borrow::Cow;

use base64::Engine;
use prost_types::value::Kind;

use super::ndarray::DenseView;
use super::proto::{Content, DocumentProto, NamedScoreProto, NdArrayProto};
use super::pyfloat::shortest_float32;
use super::pyjson::{write_value, Py};
use super::Unprintable;

/// What printing found out besides the text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrintNotes {
    /// An array holds NaN or an infinity: printed as a bare `NaN`/`Infinity`, so the text is
    /// not JSON.
    pub non_finite: bool,
}

/// Appends `doc.to_json()` to `out`. `id` replaces the document's id (the original gives a
/// record without one a fresh id each time it reads it).
pub fn write_document(
    doc: &DocumentProto,
    id: Option<&str>,
    out: &mut String,
) -> Result<PrintNotes, Unprintable> {
    let mut notes = PrintNotes::default();
    let mut value = document(doc, "", &mut notes)?;
    if let (Some(id), Py::Dict(fields)) = (id, &mut value) {
        fields.retain(|(k, _)| k != "id");
        fields.push((Cow::Borrowed("id"), Py::str(id)));
    }
    write_value(&value, 0, out);
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
        array(a, &field(path, "blob"), notes)?;
    }
    if let Some(e) = &d.embedding {
        array(e, &field(path, "embedding"), notes)?;
    }
    for (name, docs) in [("chunks", &d.chunks), ("matches", &d.matches)] {
        for (i, c) in docs.iter().enumerate() {
            check_arrays(c, &format!("{}[{i}]", field(path, name)), notes)?;
        }
    }
    Ok(())
}

fn document<'a>(
    d: &'a DocumentProto,
    path: &str,
    notes: &mut PrintNotes,
) -> Result<Py<'a>, Unprintable> {
    let mut f: Vec<(Cow<'a, str>, Py<'a>)> = Vec::with_capacity(8);
    let mut put = |k: &'static str, v: Py<'a>| f.push((Cow::Borrowed(k), v));
    if d.adjacency != 0 {
        put("adjacency", Py::Int(d.adjacency.into()));
    }
    match &d.content {
        Some(Content::Buffer(b)) => put(
            "buffer",
            Py::Str(base64::engine::general_purpose::STANDARD.encode(b).into()),
        ),
        Some(Content::Text(t)) => put("text", Py::str(t)),
        Some(Content::Blob(a)) => put("blob", array(a, &field(path, "blob"), notes)?),
        None => {}
    }
    if !d.chunks.is_empty() {
        put(
            "chunks",
            documents(&d.chunks, &field(path, "chunks"), notes)?,
        );
    }
    if let Some(e) = &d.embedding {
        put("embedding", array(e, &field(path, "embedding"), notes)?);
    }
    if !d.evaluations.is_empty() {
        put("evaluations", scores(&d.evaluations));
    }
    if d.granularity != 0 {
        put("granularity", Py::Int(d.granularity.into()));
    }
    if !d.id.is_empty() {
        put("id", Py::str(&d.id));
    }
    if !d.location.is_empty() {
        put(
            "location",
            Py::List(d.location.iter().map(|&x| float(x)).collect()),
        );
    }
    if !d.matches.is_empty() {
        put(
            "matches",
            documents(&d.matches, &field(path, "matches"), notes)?,
        );
    }
    for (name, v) in [
        ("mime_type", &d.mime_type),
        ("modality", &d.modality),
        ("parent_id", &d.parent_id),
        ("uri", &d.uri),
    ] {
        if !v.is_empty() {
            put(name, Py::str(v));
        }
    }
    if let Some(x) = set_float(d.offset) {
        put("offset", float(x));
    }
    if !d.scores.is_empty() {
        put("scores", scores(&d.scores));
    }
    if let Some(t) = &d.tags {
        put("tags", structure(t));
    }
    if let Some(x) = set_float(d.weight) {
        put("weight", float(x));
    }
    Ok(Py::Dict(f))
}

fn field(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn documents<'a>(
    docs: &'a [DocumentProto],
    path: &str,
    notes: &mut PrintNotes,
) -> Result<Py<'a>, Unprintable> {
    let mut list = Vec::with_capacity(docs.len());
    for (i, d) in docs.iter().enumerate() {
        list.push(document(d, &format!("{path}[{i}]"), notes)?);
    }
    Ok(Py::List(list))
}

fn array<'a>(
    a: &'a NdArrayProto,
    path: &str,
    notes: &mut PrintNotes,
) -> Result<Py<'a>, Unprintable> {
    let (view, non_finite) = DenseView::new(a).map_err(|e| e.at(path))?;
    notes.non_finite |= non_finite;
    Ok(Py::Array(view))
}

/// A proto3 float counts as set when its bits are not all zero.
fn set_float(x: Option<f32>) -> Option<f32> {
    x.filter(|v| v.to_bits() != 0)
}

/// A proto `float` field: rounded by `ToShortestFloat`; NaN and infinities as strings.
fn float<'a>(x: f32) -> Py<'a> {
    if x.is_nan() {
        Py::str("NaN")
    } else if x.is_infinite() {
        Py::str(if x > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        Py::Float(shortest_float32(x))
    }
}

fn scores(map: &std::collections::BTreeMap<String, NamedScoreProto>) -> Py<'_> {
    Py::Dict(
        map.iter()
            .map(|(k, s)| (Cow::Borrowed(k.as_str()), score(s)))
            .collect(),
    )
}

fn score(s: &NamedScoreProto) -> Py<'_> {
    let mut f: Vec<(Cow<'_, str>, Py<'_>)> = Vec::new();
    if !s.description.is_empty() {
        f.push(("description".into(), Py::str(&s.description)));
    }
    if !s.op_name.is_empty() {
        f.push(("op_name".into(), Py::str(&s.op_name)));
    }
    if !s.operands.is_empty() {
        f.push((
            "operands".into(),
            Py::List(s.operands.iter().map(score).collect()),
        ));
    }
    if !s.ref_id.is_empty() {
        f.push(("ref_id".into(), Py::str(&s.ref_id)));
    }
    if let Some(x) = set_float(s.value) {
        f.push(("value".into(), float(x)));
    }
    Py::Dict(f)
}

/// `google.protobuf.Struct`: numbers are doubles (`1` prints `1.0`), NaN and infinities are
/// strings.
fn structure(s: &prost_types::Struct) -> Py<'_> {
    Py::Dict(
        s.fields
            .iter()
            .map(|(k, v)| (Cow::Borrowed(k.as_str()), struct_value(v)))
            .collect(),
    )
}

fn struct_value(v: &prost_types::Value) -> Py<'_> {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Py::Null,
        Some(Kind::NumberValue(x)) if x.is_nan() => Py::str("NaN"),
        Some(Kind::NumberValue(x)) if x.is_infinite() => {
            Py::str(if *x > 0.0 { "Infinity" } else { "-Infinity" })
        }
        Some(Kind::NumberValue(x)) => Py::Float(*x),
        Some(Kind::StringValue(s)) => Py::str(s),
        Some(Kind::BoolValue(b)) => Py::Bool(*b),
        Some(Kind::StructValue(s)) => structure(s),
        Some(Kind::ListValue(l)) => Py::List(l.values.iter().map(struct_value).collect()),
    }
}
