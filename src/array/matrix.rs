//! Dense arrays: [`Matrix`] (rows of `f32`: embeddings) and [`NdArray`] (any shape of `f64`:
//! blobs), and reading an embedding out of a document's JSON text without building the rest.

use serde::Deserialize;
use serde_json::Value;

use super::error::{ArrayError, ArrayResult};

/// A row-major matrix of `f32`, one row per document.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    rows: usize,
    dim: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// A matrix from its rows laid end to end; `data.len()` must be `rows * dim`.
    pub fn new(rows: usize, dim: usize, data: Vec<f32>) -> ArrayResult<Self> {
        if rows.checked_mul(dim) != Some(data.len()) {
            return Err(ArrayError::InvalidArgument(format!(
                "a {rows} x {dim} matrix needs {} values, not {}",
                rows.saturating_mul(dim),
                data.len()
            )));
        }
        Ok(Matrix { rows, dim, data })
    }

    /// A matrix from rows of equal length.
    pub fn from_rows<R: AsRef<[f32]>>(rows: &[R]) -> ArrayResult<Self> {
        let dim = rows.first().map_or(0, |r| r.as_ref().len());
        let mut data = Vec::with_capacity(rows.len() * dim);
        for (i, row) in rows.iter().enumerate() {
            let row = row.as_ref();
            if row.len() != dim {
                return Err(ArrayError::InvalidArgument(format!(
                    "row {i} has {} values, row 0 has {dim}",
                    row.len()
                )));
            }
            data.extend_from_slice(row);
        }
        Ok(Matrix {
            rows: rows.len(),
            dim,
            data,
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    pub fn into_vec(self) -> Vec<f32> {
        self.data
    }
}

/// An n-dimensional array of `f64` (a blob), row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

impl NdArray {
    /// An array of the given shape; `data.len()` must be the product of `shape`.
    pub fn new(shape: Vec<usize>, data: Vec<f64>) -> ArrayResult<Self> {
        let size = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if size != Some(data.len()) {
            return Err(ArrayError::InvalidArgument(format!(
                "an array of shape {shape:?} needs {} values, not {}",
                size.unwrap_or(usize::MAX),
                data.len()
            )));
        }
        Ok(NdArray { shape, data })
    }

    /// Reads nested JSON lists of numbers (a scalar is a 0-dimensional array).
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let mut shape = Vec::new();
        let mut probe = value;
        while let Value::Array(items) = probe {
            shape.push(items.len());
            match items.first() {
                Some(first) => probe = first,
                None => break,
            }
        }
        let mut data = Vec::new();
        flatten_json(value, &shape, &mut data)?;
        Ok(NdArray { shape, data })
    }

    /// The array as nested JSON lists.
    pub fn to_json(&self) -> Value {
        nest_json(&self.shape, &self.data)
    }

    /// The sub-array at `i` along the first axis.
    pub fn slice_first(&self, i: usize) -> NdArray {
        let inner: usize = self.shape[1..].iter().product();
        NdArray {
            shape: self.shape[1..].to_vec(),
            data: self.data[i * inner..(i + 1) * inner].to_vec(),
        }
    }
}

fn flatten_json(value: &Value, shape: &[usize], out: &mut Vec<f64>) -> Result<(), String> {
    match (value, shape.split_first()) {
        (Value::Array(items), Some((&n, rest))) if items.len() == n => {
            items.iter().try_for_each(|v| flatten_json(v, rest, out))
        }
        (Value::Number(x), None) => {
            out.push(x.as_f64().unwrap_or(f64::NAN));
            Ok(())
        }
        _ => Err("is not a regular array of numbers (ragged, or not numbers)".into()),
    }
}

pub(crate) fn nest_json(shape: &[usize], data: &[f64]) -> Value {
    match shape.split_first() {
        None => data.first().map_or(Value::Null, |&x| Value::from(x)),
        Some((&n, rest)) => {
            let inner: usize = rest.iter().product();
            Value::Array(
                (0..n)
                    .map(|i| nest_json(rest, &data[i * inner..(i + 1) * inner]))
                    .collect(),
            )
        }
    }
}

/// An embedding as JSON: each `f32` written as the `f64` it is (the original's output).
pub fn embedding_json(row: &[f32]) -> Value {
    Value::Array(row.iter().map(|&x| Value::from(f64::from(x))).collect())
}

/// What a document's `"embedding"` field holds.
#[derive(Debug, PartialEq)]
pub enum EmbeddingField {
    /// No embedding (missing, null, or an empty list).
    Missing,
    Values(Vec<f32>),
    /// Present but not a flat list of numbers.
    Bad(String),
}

#[derive(Deserialize)]
struct OnlyEmbedding {
    #[serde(default)]
    embedding: Option<Vec<f32>>,
}

#[derive(Deserialize)]
struct AnyEmbedding {
    #[serde(default)]
    embedding: Option<Value>,
}

/// Why a list is not an embedding: its first item that is not a float32.
fn why_not_float32s(items: &[Value]) -> String {
    if items.iter().any(Value::is_array) {
        return "\"embedding\" is nested; it must be a flat list of numbers".into();
    }
    for item in items {
        match item {
            Value::Number(n) if n.as_f64().is_some_and(|x| x.abs() > f64::from(f32::MAX)) => {
                return format!(
                    "\"embedding\" holds {n}, beyond float32's range (embeddings are float32)"
                )
            }
            Value::Number(_) => {}
            other => return format!("\"embedding\" holds {other}, not a number"),
        }
    }
    "\"embedding\" is not a list of numbers".into()
}

/// Reads the `"embedding"` of a document's JSON text; every other field is skipped.
pub fn parse_embedding(json: &[u8]) -> EmbeddingField {
    match serde_json::from_slice::<OnlyEmbedding>(json) {
        Ok(OnlyEmbedding { embedding: None }) => EmbeddingField::Missing,
        Ok(OnlyEmbedding { embedding: Some(v) }) if v.is_empty() => EmbeddingField::Missing,
        Ok(OnlyEmbedding { embedding: Some(v) }) => EmbeddingField::Values(v),
        Err(_) => match serde_json::from_slice::<AnyEmbedding>(json) {
            Ok(AnyEmbedding { embedding: None }) => EmbeddingField::Missing,
            Ok(AnyEmbedding {
                embedding: Some(Value::Array(items)),
            }) => EmbeddingField::Bad(why_not_float32s(&items)),
            Ok(_) => EmbeddingField::Bad("\"embedding\" is not a list of numbers".into()),
            Err(e) => EmbeddingField::Bad(format!("not valid JSON: {e}")),
        },
    }
}
