//! The original's protobuf records (`docarray.proto` of docarray 0.0.4 / jina 2.6.4), written
//! as `prost` derive structs so that no `protoc` runs at build time.
//!
//! Scalars the printer must know were *present* (proto3 floats: `-0.0` is printed, `0.0` is
//! not) are `optional` here: the wire format is the same, and `None`/`Some(0.0)` keep the
//! difference that a plain `f32` would lose.

use std::collections::BTreeMap;

/// `docarray.DocumentProto`. Unknown fields (jina 2.0's `graph = 27`) are skipped.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct DocumentProto {
    #[prost(string, tag = "1")]
    pub id: String,
    #[prost(oneof = "Content", tags = "3, 12, 13")]
    pub content: Option<Content>,
    #[prost(message, repeated, tag = "4")]
    pub chunks: Vec<DocumentProto>,
    #[prost(float, optional, tag = "5")]
    pub weight: Option<f32>,
    #[prost(message, repeated, tag = "8")]
    pub matches: Vec<DocumentProto>,
    #[prost(string, tag = "9")]
    pub uri: String,
    #[prost(string, tag = "10")]
    pub mime_type: String,
    #[prost(message, optional, tag = "11")]
    pub tags: Option<prost_types::Struct>,
    #[prost(uint32, tag = "14")]
    pub granularity: u32,
    #[prost(string, tag = "16")]
    pub parent_id: String,
    #[prost(float, repeated, tag = "17")]
    pub location: Vec<f32>,
    #[prost(float, optional, tag = "18")]
    pub offset: Option<f32>,
    #[prost(message, optional, tag = "19")]
    pub embedding: Option<NdArrayProto>,
    #[prost(string, tag = "21")]
    pub modality: String,
    #[prost(uint32, tag = "22")]
    pub adjacency: u32,
    #[prost(btree_map = "string, message", tag = "28")]
    pub scores: BTreeMap<String, NamedScoreProto>,
    #[prost(btree_map = "string, message", tag = "29")]
    pub evaluations: BTreeMap<String, NamedScoreProto>,
}

/// The `content` oneof of a document.
#[derive(Clone, PartialEq, ::prost::Oneof)]
pub enum Content {
    #[prost(bytes, tag = "3")]
    Buffer(Vec<u8>),
    #[prost(message, tag = "12")]
    Blob(NdArrayProto),
    #[prost(string, tag = "13")]
    Text(String),
}

/// `docarray.NdArrayProto`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct NdArrayProto {
    #[prost(oneof = "NdArrayContent", tags = "1, 2")]
    pub content: Option<NdArrayContent>,
    #[prost(string, tag = "3")]
    pub cls_name: String,
    #[prost(message, optional, tag = "4")]
    pub parameters: Option<prost_types::Struct>,
}

#[derive(Clone, PartialEq, ::prost::Oneof)]
pub enum NdArrayContent {
    #[prost(message, tag = "1")]
    Dense(DenseNdArrayProto),
    #[prost(message, tag = "2")]
    Sparse(SparseNdArrayProto),
}

/// `docarray.DenseNdArrayProto`: raw bytes, a shape and numpy's `dtype.str` (`<f4`).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct DenseNdArrayProto {
    #[prost(bytes = "vec", tag = "1")]
    pub buffer: Vec<u8>,
    #[prost(uint32, repeated, tag = "2")]
    pub shape: Vec<u32>,
    #[prost(string, tag = "3")]
    pub dtype: String,
}

/// `docarray.SparseNdArrayProto` (only decoded: the original cannot print it without scipy,
/// torch or tensorflow).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SparseNdArrayProto {
    #[prost(message, optional, tag = "1")]
    pub indices: Option<DenseNdArrayProto>,
    #[prost(message, optional, tag = "2")]
    pub values: Option<DenseNdArrayProto>,
    #[prost(uint32, repeated, tag = "3")]
    pub shape: Vec<u32>,
}

/// `docarray.NamedScoreProto`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct NamedScoreProto {
    #[prost(float, optional, tag = "1")]
    pub value: Option<f32>,
    #[prost(string, tag = "2")]
    pub op_name: String,
    #[prost(string, tag = "3")]
    pub description: String,
    #[prost(message, repeated, tag = "4")]
    pub operands: Vec<NamedScoreProto>,
    #[prost(string, tag = "5")]
    pub ref_id: String,
}
