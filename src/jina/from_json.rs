//! A damfs document (JSON) to a `DocumentProto`, for writing an original store: the inverse
//! of [`to_json`](super::to_json), checked against Jina's schema field by field.
//!
//! JSON carries no numpy dtype, so arrays (`embedding`, `blob`) follow a [`DtypeRule`]:
//! by default numbers become **float32** (what Jina users mostly have), all-boolean arrays
//! `bool` and all-string arrays unicode; [`DtypeRule::Exact`] keeps every value exactly
//! (int64 for integers, float32 where every value is a float32, float64 otherwise), which is
//! what a round trip of a store written by jina needs; [`DtypeRule::Fixed`] forces one dtype.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use prost_types::value::Kind;
use serde_json::{Map, Value};

use super::ndarray::{f64_to_half, Dtype, Elem};
use super::proto::{
    Content, DenseNdArrayProto, DocumentProto, NamedScoreProto, NdArrayContent, NdArrayProto,
};

/// How an array's dtype is chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DtypeRule {
    /// Numbers as float32 (rounded to the nearest float32); booleans `bool`; strings unicode.
    #[default]
    Float32,
    /// No value changes: bool, int64 (uint64 past its range), float32 when every number is
    /// exactly a float32, else float64; strings unicode.
    Exact,
    /// Always this dtype; a value it cannot hold is an error.
    Fixed(Dtype),
}

impl DtypeRule {
    /// `float32` (the default rule), `exact`, or a numpy dtype that every array of the field
    /// is then stored as (`float64`, `<i4`, `uint8`, `<f4`).
    pub fn parse(s: &str) -> Result<DtypeRule, String> {
        match s {
            "float32" => Ok(DtypeRule::Float32),
            "exact" => Ok(DtypeRule::Exact),
            other => Dtype::parse(other).map(DtypeRule::Fixed).map_err(|e| {
                format!(
                    "{other:?} is not a dtype rule (float32, exact, or a numpy dtype): {}",
                    e.reason
                )
            }),
        }
    }
}

/// Dtype rules per array field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArrayRules {
    pub embedding: DtypeRule,
    pub blob: DtypeRule,
}

/// A document that does not fit Jina's schema: which field and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    pub path: String,
    pub reason: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field {:?}: {}", self.path, self.reason)
    }
}

type R<T> = Result<T, SchemaError>;

fn fail<T>(path: &str, reason: impl Into<String>) -> R<T> {
    Err(SchemaError {
        path: path.to_owned(),
        reason: reason.into(),
    })
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// Builds the record of a document from its JSON object.
pub fn document_from_json(map: &Map<String, Value>, rules: &ArrayRules) -> R<DocumentProto> {
    document(map, "", rules)
}

fn document(map: &Map<String, Value>, path: &str, rules: &ArrayRules) -> R<DocumentProto> {
    let mut d = DocumentProto::default();
    let mut content_from: Option<&str> = None;
    for (key, v) in map {
        let at = join(path, key);
        if v.is_null() {
            continue; // protobuf's JSON parser: null leaves a field unset
        }
        let mut set_content = |c: Content, name: &'static str| -> R<()> {
            if let Some(first) = content_from {
                return fail(
                    &at,
                    format!("a document has only one of text, buffer and blob (also has {first})"),
                );
            }
            content_from = Some(name);
            d.content = Some(c);
            Ok(())
        };
        match key.as_str() {
            "id" => d.id = string(v, &at)?,
            "text" => set_content(Content::Text(string(v, &at)?), "text")?,
            "buffer" => set_content(Content::Buffer(bytes(v, &at)?), "buffer")?,
            "blob" => set_content(Content::Blob(array(v, &at, rules.blob)?), "blob")?,
            "chunks" => d.chunks = documents(v, &at, rules)?,
            "matches" => d.matches = documents(v, &at, rules)?,
            "weight" => d.weight = set(float(v, &at)?),
            "offset" => d.offset = set(float(v, &at)?),
            "location" => {
                let Value::Array(items) = v else {
                    return fail(&at, "must be a list of numbers");
                };
                d.location = items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| float(x, &format!("{at}[{i}]")))
                    .collect::<R<_>>()?;
            }
            "uri" => d.uri = string(v, &at)?,
            "mime_type" | "mimeType" => d.mime_type = string(v, &at)?,
            "modality" => d.modality = string(v, &at)?,
            "parent_id" | "parentId" => d.parent_id = string(v, &at)?,
            "granularity" => d.granularity = uint32(v, &at)?,
            "adjacency" => d.adjacency = uint32(v, &at)?,
            "tags" => match v {
                Value::Object(m) => d.tags = Some(structure(m)),
                _ => return fail(&at, "must be an object"),
            },
            "embedding" => d.embedding = Some(array(v, &at, rules.embedding)?),
            "scores" => d.scores = scores(v, &at)?,
            "evaluations" => d.evaluations = scores(v, &at)?,
            _ => return fail(&at, "Jina's Document has no such field"),
        }
    }
    Ok(d)
}

fn documents(v: &Value, path: &str, rules: &ArrayRules) -> R<Vec<DocumentProto>> {
    let Value::Array(items) = v else {
        return fail(path, "must be a list of documents");
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("{path}[{i}]");
            match item {
                Value::Object(m) => document(m, &at, rules),
                _ => fail(&at, "must be an object (a document)"),
            }
        })
        .collect()
}

fn string(v: &Value, path: &str) -> R<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => fail(path, "must be a string"),
    }
}

fn bytes(v: &Value, path: &str) -> R<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let s = string(v, path)?;
    let unpadded = s.trim_end_matches('=');
    let padded = format!("{unpadded}{}", "=".repeat((4 - unpadded.len() % 4) % 4));
    STANDARD
        .decode(&padded)
        .or_else(|_| URL_SAFE.decode(&padded))
        .or_else(|_| fail(path, "must be base64"))
}

/// A proto3 float is written only when its bits are not zero (`-0.0` is kept).
fn set(x: f32) -> Option<f32> {
    (x.to_bits() != 0).then_some(x)
}

fn float(v: &Value, path: &str) -> R<f32> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .map(|x| x as f32)
            .ok_or(())
            .or_else(|()| fail(path, "is not a number")),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f32::NAN),
            "Infinity" => Ok(f32::INFINITY),
            "-Infinity" => Ok(f32::NEG_INFINITY),
            _ => fail(path, "must be a number"),
        },
        _ => fail(path, "must be a number"),
    }
}

fn uint32(v: &Value, path: &str) -> R<u32> {
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|x| x.fract() == 0.0 && *x >= 0.0)
                .map(|x| x as u64)
        }),
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok())
        .map_or_else(|| fail(path, "must be an integer from 0 to 4294967295"), Ok)
}

fn structure(m: &Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: m
            .iter()
            .map(|(k, v)| (k.clone(), struct_value(v)))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn struct_value(v: &Value) -> prost_types::Value {
    let kind = match v {
        Value::Null => Kind::NullValue(0),
        Value::Bool(b) => Kind::BoolValue(*b),
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Kind::StringValue(s.clone()),
        Value::Array(items) => Kind::ListValue(prost_types::ListValue {
            values: items.iter().map(struct_value).collect(),
        }),
        Value::Object(m) => Kind::StructValue(structure(m)),
    };
    prost_types::Value { kind: Some(kind) }
}

fn scores(v: &Value, path: &str) -> R<BTreeMap<String, NamedScoreProto>> {
    let Value::Object(m) = v else {
        return fail(path, "must be an object of named scores");
    };
    m.iter()
        .map(|(name, s)| Ok((name.clone(), score(s, &join(path, name))?)))
        .collect()
}

fn score(v: &Value, path: &str) -> R<NamedScoreProto> {
    let Value::Object(m) = v else {
        return fail(path, "must be an object (a named score)");
    };
    let mut s = NamedScoreProto::default();
    for (key, v) in m {
        let at = join(path, key);
        if v.is_null() {
            continue;
        }
        match key.as_str() {
            "value" => s.value = set(float(v, &at)?),
            "op_name" | "opName" => s.op_name = string(v, &at)?,
            "description" => s.description = string(v, &at)?,
            "ref_id" | "refId" => s.ref_id = string(v, &at)?,
            "operands" => {
                let Value::Array(items) = v else {
                    return fail(&at, "must be a list of named scores");
                };
                s.operands = items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| score(x, &format!("{at}[{i}]")))
                    .collect::<R<_>>()?;
            }
            _ => return fail(&at, "Jina's NamedScore has no such field"),
        }
    }
    Ok(s)
}

/// The leaves of a (rectangular) nested list and its shape.
fn flatten<'v>(v: &'v Value, path: &str) -> R<(Vec<usize>, Vec<&'v Value>)> {
    let mut shape = Vec::new();
    let mut level = v;
    while let Value::Array(items) = level {
        shape.push(items.len());
        match items.first() {
            Some(first) => level = first,
            None => break,
        }
    }
    let mut leaves = Vec::new();
    collect(v, &shape, 0, path, &mut leaves)?;
    Ok((shape, leaves))
}

fn collect<'v>(
    v: &'v Value,
    shape: &[usize],
    dim: usize,
    path: &str,
    out: &mut Vec<&'v Value>,
) -> R<()> {
    match (v, shape.get(dim)) {
        (Value::Array(items), Some(&n)) if items.len() == n => {
            for item in items {
                collect(item, shape, dim + 1, path, out)?;
            }
            Ok(())
        }
        (Value::Array(_), _) | (_, Some(_)) => fail(
            path,
            "is not a rectangular array (rows of different lengths)",
        ),
        (Value::Object(_) | Value::Null, None) => fail(
            path,
            "holds something that is not a number, boolean or string",
        ),
        (leaf, None) => {
            out.push(leaf);
            Ok(())
        }
    }
}

fn array(v: &Value, path: &str, rule: DtypeRule) -> R<NdArrayProto> {
    let (shape, leaves) = flatten(v, path)?;
    let shape: Vec<u32> = shape
        .iter()
        .map(|&n| u32::try_from(n))
        .collect::<Result<_, _>>()
        .or_else(|_| fail(path, "is too large"))?;
    let dtype = choose(&leaves, path, rule)?;
    let mut buffer = Vec::with_capacity(leaves.len() * dtype.itemsize());
    for (i, leaf) in leaves.iter().enumerate() {
        encode(leaf, dtype, &mut buffer).map_err(|reason| SchemaError {
            path: path.to_owned(),
            reason: format!("element {i}: {reason} (dtype {})", dtype.numpy_str()),
        })?;
    }
    Ok(NdArrayProto {
        content: Some(NdArrayContent::Dense(DenseNdArrayProto {
            buffer,
            shape,
            dtype: dtype.numpy_str(),
        })),
        cls_name: "numpy".to_owned(),
        parameters: None,
    })
}

const FLOAT32: Dtype = Dtype {
    elem: Elem::Float { size: 4 },
    big_endian: false,
};

fn choose(leaves: &[&Value], path: &str, rule: DtypeRule) -> R<Dtype> {
    if let DtypeRule::Fixed(d) = rule {
        return Ok(d);
    }
    let all = |f: fn(&Value) -> bool| leaves.iter().all(|v| f(v));
    if !leaves.is_empty() && all(Value::is_boolean) {
        return Ok(Dtype {
            elem: Elem::Bool,
            big_endian: false,
        });
    }
    if !leaves.is_empty() && all(Value::is_string) {
        let chars = leaves
            .iter()
            .filter_map(|v| v.as_str())
            .map(|s| s.chars().count())
            .max()
            .unwrap_or(1)
            .max(1);
        return Ok(Dtype {
            elem: Elem::Unicode { chars },
            big_endian: false,
        });
    }
    if leaves.iter().any(|v| v.is_string()) {
        return fail(path, "mixes strings with numbers");
    }
    if rule == DtypeRule::Float32 {
        return Ok(FLOAT32);
    }
    let int = |signed| Dtype {
        elem: Elem::Int { signed, size: 8 },
        big_endian: false,
    };
    let numbers = leaves.iter().filter_map(|v| v.as_number());
    if all(|v| v.is_boolean() || v.is_i64() || v.is_u64()) && !leaves.is_empty() {
        return Ok(if all(|v| v.is_boolean() || v.is_i64()) {
            int(true)
        } else {
            int(false)
        });
    }
    let float32_exact = numbers
        .filter_map(|n| n.as_f64())
        .all(|x| f64::from(x as f32) == x);
    Ok(if float32_exact && !leaves.is_empty() {
        FLOAT32
    } else {
        Dtype {
            elem: Elem::Float { size: 8 },
            big_endian: false,
        }
    })
}

fn encode(v: &Value, dtype: Dtype, out: &mut Vec<u8>) -> Result<(), String> {
    let big = dtype.big_endian;
    let mut put = |le: &[u8]| {
        if big {
            out.extend(le.iter().rev());
        } else {
            out.extend_from_slice(le);
        }
    };
    match (dtype.elem, v) {
        (Elem::Bool, Value::Bool(b)) => put(&[u8::from(*b)]),
        (Elem::Bool, _) => return Err(format!("{v} is not a boolean")),
        (Elem::Float { size }, Value::Bool(_) | Value::Number(_)) => {
            let x = match v {
                Value::Bool(b) => f64::from(u8::from(*b)),
                _ => v.as_f64().unwrap_or(f64::NAN),
            };
            // Rounding is the rule; overflowing to infinity would change the value's kind.
            let fits = match size {
                2 => x.abs() < 65520.0,
                4 => (x as f32).is_finite(),
                _ => true,
            };
            if !fits {
                return Err(format!("{v} is out of range"));
            }
            match size {
                2 => put(&f64_to_half(x).to_le_bytes()),
                4 => put(&(x as f32).to_le_bytes()),
                _ => put(&x.to_le_bytes()),
            }
        }
        (Elem::Int { signed, size }, Value::Number(_) | Value::Bool(_)) => {
            let n: i128 = match v {
                Value::Bool(b) => i128::from(u8::from(*b)),
                _ => match (v.as_i64(), v.as_u64(), v.as_f64()) {
                    (Some(i), _, _) => i128::from(i),
                    (_, Some(u), _) => i128::from(u),
                    (_, _, Some(x)) if x.fract() == 0.0 && x.abs() < 1.8e19 => x as i128,
                    _ => return Err(format!("{v} is not an integer")),
                },
            };
            let bits = 8 * u32::from(size);
            let (lo, hi) = if signed {
                (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
            } else {
                (0, (1i128 << bits) - 1)
            };
            if n < lo || n > hi {
                return Err(format!("{v} is out of range"));
            }
            put(&n.to_le_bytes()[..size as usize]);
        }
        (Elem::Unicode { chars }, Value::String(s)) => {
            let n = s.chars().count();
            if n > chars {
                return Err(format!("{v} is longer than {chars} characters"));
            }
            for c in s.chars() {
                put(&(c as u32).to_le_bytes());
            }
            for _ in n..chars {
                put(&[0, 0, 0, 0]);
            }
        }
        _ => return Err(format!("{v} does not fit")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(doc: &str, rules: ArrayRules) -> Result<DenseNdArrayProto, SchemaError> {
        let v: Value = serde_json::from_str(doc).unwrap();
        let d = document_from_json(v.as_object().unwrap(), &rules)?;
        match d.embedding.and_then(|e| e.content) {
            Some(NdArrayContent::Dense(d)) => Ok(d),
            _ => panic!("no dense embedding"),
        }
    }

    fn rule(s: &str) -> ArrayRules {
        ArrayRules {
            embedding: DtypeRule::parse(s).unwrap(),
            blob: DtypeRule::Float32,
        }
    }

    #[test]
    fn the_exact_rule_keeps_every_value() {
        let d = dense(r#"{"embedding": [[1, 2], [3, -4]]}"#, rule("exact")).unwrap();
        assert_eq!(
            (d.dtype.as_str(), d.shape.as_slice()),
            ("<i8", &[2u32, 2][..])
        );
        let d = dense(
            r#"{"embedding": [0.5, 0.10000000149011612]}"#,
            rule("exact"),
        )
        .unwrap();
        assert_eq!(d.dtype, "<f4");
        let d = dense(r#"{"embedding": [0.1]}"#, rule("exact")).unwrap();
        assert_eq!(d.dtype, "<f8");
        assert_eq!(d.buffer, 0.1f64.to_le_bytes());
        let d = dense(r#"{"embedding": 3.5}"#, rule("exact")).unwrap();
        assert!(d.shape.is_empty());
    }

    #[test]
    fn forced_dtypes_check_every_value() {
        let d = dense(r#"{"embedding": [1, 255]}"#, rule("uint8")).unwrap();
        assert_eq!(
            (d.dtype.as_str(), d.buffer.as_slice()),
            ("|u1", &[1u8, 255][..])
        );
        let d = dense(r#"{"embedding": [1.5]}"#, rule(">f4")).unwrap();
        assert_eq!(d.buffer, 1.5f32.to_be_bytes());
        let e = dense(r#"{"embedding": [256]}"#, rule("uint8")).unwrap_err();
        assert!(e.reason.contains("out of range"), "{e}");
        let e = dense(r#"{"embedding": [1.5]}"#, rule("int32")).unwrap_err();
        assert!(e.reason.contains("not an integer"), "{e}");
        let e = dense(r#"{"embedding": [1e300]}"#, rule("float32")).unwrap_err();
        assert!(e.reason.contains("out of range"), "{e}");
        let d = dense(r#"{"embedding": ["ab", "c"]}"#, rule("float32")).unwrap();
        assert_eq!((d.dtype.as_str(), d.buffer.len()), ("<U2", 16));
    }
}
