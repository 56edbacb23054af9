//! The array API of the original's `DocumentArrayMemmap`, on a store:
//! traversal paths ([`paths`]), bulk field access ([`attributes`]), `sample`, `shuffle`,
//! `split` and `batch` ([`sampling`]), the `embeddings`/`blobs`/`texts`/`buffers` getters
//! and setters ([`content`]), nearest-neighbour `match` ([`matching`], computed by
//! [`distance`]), and `visualize` ([`visualize`]). Embeddings are read from a binary
//! matrix kept next to the store ([`cache`]), never by parsing every document's JSON
//! again. The `damfs` subcommands for all of this are in [`cli`].
//!
//! ```no_run
//! use damfs::array::{self, MatchOptions, Metric};
//! use damfs::DocumentArrayMemmap;
//! # fn main() -> damfs::array::ArrayResult<()> {
//! let mut queries = DocumentArrayMemmap::open("./queries")?;
//! let mut index = DocumentArrayMemmap::open("./index")?;
//! let opts = MatchOptions { metric: Metric::Cosine, limit: Some(10), ..Default::default() };
//! array::match_stores(&mut queries, &mut index, &opts)?;
//! let chunks = array::traverse_flat(&index, "c")?.into_docs()?;
//! let texts = array::get_attributes(&index, &["text", "tags__lang"])?;
//! let picked = array::sample(&index, 5, Some(1))?;
//! # let _ = (chunks, texts, picked); Ok(()) }
//! ```

pub mod attributes;
pub mod cache;
pub mod cli;
pub mod content;
pub mod distance;
pub mod error;
pub mod kernel;
pub mod matching;
pub mod matrix;
pub mod paths;
pub mod pyrandom;
pub mod sampling;
pub mod visualize;

pub use attributes::{attribute, get_attributes, get_attributes_with_docs};
pub use cache::{Embeddings, CACHE_FILE};
pub use content::{
    blobs, buffers, embeddings, embeddings_range, set_blobs, set_buffers, set_embeddings, set_tags,
    set_texts, tags, texts,
};
pub use distance::Metric;
pub use error::{ArrayError, ArrayResult};
pub use matching::{match_queries, match_queries_each, match_self, match_stores, MatchOptions};
pub use matrix::{Matrix, NdArray};
pub use paths::{
    flatten, parse_paths, traverse, traverse_filtered, traverse_flat, traverse_flat_filtered,
    traverse_flat_per_path, Flat, Leaf,
};
pub use sampling::{batch, batch_seeded, sample, shuffle, split};
pub use visualize::{pca_2d, visualize, visualize_with_progress, LegendEntry};
