//! `match`: for each left-hand document, its nearest right-hand documents by embedding,
//! written into its `matches` the way the original writes them.
//!
//! Each match is a copy of the right-hand document (or `{"id": …}` with `only_id`) with
//! `scores` set to `{metric_name: {"value": distance}}`, `adjacency` one more than the
//! query's and `granularity` the query's; a copy of a document that is also on the left has
//! its own `matches` removed (so matching a store against itself never nests matches).
//! With `exclude_self`, a right-hand document with the query's id is skipped (and one more
//! is searched for so `limit` can still be reached). With `normalization: (a, b)` every
//! distance is mapped from the query's whole range of distances into `[a, b]`. An empty
//! side changes nothing. Previous matches of a query are replaced.
//!
//! The right-hand side is streamed from its embeddings cache in batches of `batch_size`
//! rows; unlike the original's `batch_size`, it changes memory, never results.

use std::collections::HashSet;

use indicatif::ProgressBar;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::cache::{self, Embeddings};
use super::distance::{normalize, Metric, Search};
use super::error::{ArrayError, ArrayResult};
use super::matrix::{parse_embedding, EmbeddingField, Matrix};
use crate::{Document, DocumentArrayMemmap};

/// Options of `match`, with the original's defaults (cosine, 20 matches).
#[derive(Clone, Debug)]
pub struct MatchOptions {
    pub metric: Metric,
    /// Matches per query; `None` keeps every right-hand document.
    pub limit: Option<usize>,
    /// Map distances from each query's range into `[a, b]` (`(1, 0)`: closest is 1).
    pub normalization: Option<(f32, f32)>,
    /// The key of the score (the metric's name by default).
    pub metric_name: Option<String>,
    pub exclude_self: bool,
    /// Matches hold only the id (and the score).
    pub only_id: bool,
    /// Right-hand rows read at once (memory: `batch_size × dim × 4` bytes).
    pub batch_size: usize,
    /// Advanced by the number of right-hand rows compared, then left documents written.
    pub progress: Option<ProgressBar>,
}

impl Default for MatchOptions {
    fn default() -> Self {
        MatchOptions {
            metric: Metric::Cosine,
            limit: Some(20),
            normalization: None,
            metric_name: None,
            exclude_self: false,
            only_id: false,
            batch_size: DEFAULT_BATCH,
            progress: None,
        }
    }
}

/// Default right-hand batch: 32,768 rows (16 MiB of 128-dim embeddings).
pub const DEFAULT_BATCH: usize = 1 << 15;

impl MatchOptions {
    fn check(&self) -> ArrayResult<()> {
        if self.limit == Some(0) {
            return Err(ArrayError::InvalidArgument(
                "`limit` must be larger than 0".into(),
            ));
        }
        if self.batch_size == 0 {
            return Err(ArrayError::InvalidArgument(
                "`batch_size` must be larger than 0".into(),
            ));
        }
        Ok(())
    }

    fn name(&self) -> &str {
        self.metric_name.as_deref().unwrap_or(self.metric.name())
    }
}

/// The nearest right-hand rows of each query and their scores, closest first, before
/// `exclude_self` and `limit` are applied (at most `limit + 1` with `exclude_self`).
pub fn nearest(
    queries: &Matrix,
    right: &Embeddings,
    opts: &MatchOptions,
) -> ArrayResult<Vec<Vec<(usize, f32)>>> {
    opts.check()?;
    if right.rows() == 0 || queries.rows() == 0 {
        return Ok(vec![Vec::new(); queries.rows()]);
    }
    if right.dim() != queries.dim() {
        return Err(ArrayError::InvalidArgument(format!(
            "the left-hand embeddings have {} values, the right-hand ones {}",
            queries.dim(),
            right.dim()
        )));
    }
    let k = match opts.limit {
        None => right.rows(),
        Some(l) => (l + usize::from(opts.exclude_self)).min(right.rows()),
    };
    let mut search = Search::new(queries, opts.metric, k, opts.normalization.is_some());
    if let Some(p) = &opts.progress {
        p.set_length(right.rows() as u64);
        p.set_position(0);
        p.set_message("matching");
    }
    let mut batch = Vec::new();
    let mut start = 0;
    while start < right.rows() {
        right.read_rows(start, opts.batch_size, &mut batch)?;
        search.feed(&batch)?;
        start += opts.batch_size;
        if let Some(p) = &opts.progress {
            p.inc(
                opts.batch_size
                    .min(right.rows() - (start - opts.batch_size)) as u64,
            );
        }
    }
    Ok(search
        .finish()
        .into_iter()
        .map(|best| {
            let range = (best.min, best.max);
            best.into_sorted()
                .into_iter()
                .map(|n| {
                    let d = match opts.normalization {
                        Some(ab) => normalize(n.dist, ab, range),
                        None => n.dist,
                    };
                    (n.row, d)
                })
                .collect()
        })
        .collect())
}

/// Matches every document of `left` against `right` (two different stores) and writes the
/// matches into `left`, which is then saved.
pub fn match_stores(
    left: &mut DocumentArrayMemmap,
    right: &mut DocumentArrayMemmap,
    opts: &MatchOptions,
) -> ArrayResult<()> {
    opts.check()?;
    if left.is_empty() || right.is_empty() {
        return Ok(());
    }
    let queries = complete_matrix(left)?;
    let right_cache = cache::open_with_progress(right, opts.progress.as_ref())?;
    right_cache.check_complete(right)?;
    let found = nearest(&queries, &right_cache, opts)?;
    write_into_store(left, found, opts, right)
}

/// Matches every document of a store against the store itself and writes the matches.
pub fn match_self(dam: &mut DocumentArrayMemmap, opts: &MatchOptions) -> ArrayResult<()> {
    opts.check()?;
    if dam.is_empty() {
        return Ok(());
    }
    // The queries are the whole matrix anyway: load it once and stream batches from it.
    let cache = cache::load(dam, opts.progress.as_ref())?;
    cache.check_complete(dam)?;
    let queries = cache.to_matrix()?;
    let found = nearest(&queries, &cache, opts)?;
    drop(cache);
    // Positions of the right-hand side are those of this view; ids are taken before any write.
    let ids: Vec<String> = dam.ids().map(str::to_owned).collect();
    if let Some(p) = &opts.progress {
        p.set_length(dam.len() as u64);
        p.set_position(0);
    }
    for (pos, neighbours) in found.into_iter().enumerate() {
        let query = dam.with_json(&ids[pos], |b| String::from_utf8_lossy(b).into_owned())?;
        let mut matches = Vec::new();
        let plan = plan_matches(&ids[pos], &neighbours, opts, |row| Ok(ids[row].clone()))?;
        let ctx = QueryContext::of(&query)?;
        for (row, score) in plan {
            let id = &ids[row];
            matches.push(dam.with_json(id, |b| match_json(b, id, true, &ctx, opts, score))??);
        }
        let doc = with_matches_doc(&query, &ids[pos], &matches)?;
        dam.set_by_id(&ids[pos], doc)?;
        if let Some(p) = &opts.progress {
            p.inc(1);
        }
    }
    dam.save()?;
    Ok(())
}

/// Matches query documents (not in a store: a JSON Lines file) against `right`; returns
/// the queries with their matches.
pub fn match_queries(
    queries: Vec<Document>,
    right: &mut DocumentArrayMemmap,
    opts: &MatchOptions,
) -> ArrayResult<Vec<Document>> {
    let mut out = Vec::with_capacity(queries.len());
    match_queries_each(queries, right, opts, |doc| {
        out.push(doc);
        Ok(())
    })?;
    Ok(out)
}

/// [`match_queries`], handing each query with its matches to `sink` in order instead of
/// collecting them (so only one query's matches are in memory at a time).
pub fn match_queries_each(
    queries: Vec<Document>,
    right: &mut DocumentArrayMemmap,
    opts: &MatchOptions,
    mut sink: impl FnMut(Document) -> ArrayResult<()>,
) -> ArrayResult<()> {
    opts.check()?;
    if queries.is_empty() || right.is_empty() {
        return queries.into_iter().try_for_each(sink);
    }
    let matrix = query_matrix(&queries)?;
    let right_cache = cache::open_with_progress(right, opts.progress.as_ref())?;
    right_cache.check_complete(right)?;
    let found = nearest(&matrix, &right_cache, opts)?;
    drop(matrix);
    let left_ids: HashSet<String> = queries.iter().map(|q| q.id().to_owned()).collect();
    for (query, neighbours) in queries.into_iter().zip(found) {
        let plan = plan_matches(query.id(), &neighbours, opts, |row| right_id(right, row))?;
        let ctx = QueryContext::of(query.json())?;
        let mut matches = Vec::with_capacity(plan.len());
        for (row, score) in plan {
            let id = right_id(right, row)?;
            let in_left = left_ids.contains(id.as_str());
            let m = right.with_json(&id, |b| match_json(b, &id, in_left, &ctx, opts, score))??;
            matches.push(m);
        }
        sink(with_matches_doc(query.json(), query.id(), &matches)?)?;
    }
    Ok(())
}

fn right_id(right: &DocumentArrayMemmap, row: usize) -> ArrayResult<String> {
    right
        .id_at(row)
        .map(str::to_owned)
        .ok_or_else(|| ArrayError::InvalidArgument(format!("no right-hand document at {row}")))
}

/// The embeddings of every document of a store, failing when one has none.
fn complete_matrix(dam: &mut DocumentArrayMemmap) -> ArrayResult<Matrix> {
    let cache = cache::load(dam, None)?;
    cache.check_complete(dam)?;
    cache.into_matrix()
}

/// The embeddings of query documents, in order.
pub fn query_matrix(queries: &[Document]) -> ArrayResult<Matrix> {
    let mut data = Vec::new();
    let mut dim = None;
    for q in queries {
        match parse_embedding(q.json().as_bytes()) {
            EmbeddingField::Values(v) => {
                let d = *dim.get_or_insert(v.len());
                if v.len() != d {
                    return Err(ArrayError::bad_field(
                        q.id(),
                        format!(
                            "its embedding has {} values, the first query's has {d}",
                            v.len()
                        ),
                    ));
                }
                data.extend(v);
            }
            EmbeddingField::Missing => {
                return Err(ArrayError::bad_field(q.id(), "has no embedding"))
            }
            EmbeddingField::Bad(why) => return Err(ArrayError::bad_field(q.id(), why)),
        }
    }
    Matrix::new(queries.len(), dim.unwrap_or(0), data)
}

/// Which neighbours become matches: `exclude_self` drops the query's own id, and at most
/// `limit` are kept (the original's loop).
fn plan_matches(
    query_id: &str,
    neighbours: &[(usize, f32)],
    opts: &MatchOptions,
    id_of: impl Fn(usize) -> ArrayResult<String>,
) -> ArrayResult<Vec<(usize, f32)>> {
    let limit = opts.limit.unwrap_or(usize::MAX);
    let mut kept = Vec::new();
    for &(row, score) in neighbours {
        if kept.len() >= limit {
            break;
        }
        if opts.exclude_self && id_of(row)? == query_id {
            continue;
        }
        kept.push((row, score));
    }
    Ok(kept)
}

/// Writes each left document's matches (`found`: rows of `right`), then saves `left`.
fn write_into_store(
    left: &mut DocumentArrayMemmap,
    found: Vec<Vec<(usize, f32)>>,
    opts: &MatchOptions,
    right: &DocumentArrayMemmap,
) -> ArrayResult<()> {
    let ids: Vec<String> = left.ids().map(str::to_owned).collect();
    if let Some(p) = &opts.progress {
        p.set_length(ids.len() as u64);
        p.set_position(0);
    }
    let id_of = |row: usize| right_id(right, row);
    for (pos, neighbours) in found.into_iter().enumerate() {
        let query = left.with_json(&ids[pos], |b| String::from_utf8_lossy(b).into_owned())?;
        let ctx = QueryContext::of(&query)?;
        let mut matches = Vec::new();
        for (row, score) in plan_matches(&ids[pos], &neighbours, opts, id_of)? {
            let id = id_of(row)?;
            let in_left = left.contains(&id);
            let text =
                right.with_json(&id, |b| match_json(b, &id, in_left, &ctx, opts, score))??;
            matches.push(text);
        }
        let doc = with_matches_doc(&query, &ids[pos], &matches)?;
        left.set_by_id(&ids[pos], doc)?;
        if let Some(p) = &opts.progress {
            p.inc(1);
        }
    }
    left.save()?;
    Ok(())
}

/// A document's top-level fields with their values unparsed (numbers keep their bytes).
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    fields.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(V)
    }
}

fn fields_of<'a>(json: &'a [u8], id: &str) -> ArrayResult<Fields<'a>> {
    // From bytes: serde_json checks the UTF-8 as it scans, so there is one pass, not two.
    serde_json::from_slice(json)
        .map_err(|e| ArrayError::bad_field(id, format!("not a JSON object: {e}")))
}

fn push_field(out: &mut String, key: &str, raw: &str) {
    if !out.ends_with('{') {
        out.push(',');
    }
    out.push_str(&serde_json::Value::from(key).to_string());
    out.push(':');
    out.push_str(raw);
}

/// The query's `adjacency` and `granularity`, which its matches derive theirs from.
struct QueryContext {
    adjacency: i64,
    granularity: Option<String>,
}

impl QueryContext {
    fn of(query: &str) -> ArrayResult<QueryContext> {
        let fields = fields_of(query.as_bytes(), "query")?;
        let mut ctx = QueryContext {
            adjacency: 0,
            granularity: None,
        };
        for (k, v) in &fields.0 {
            match k.as_str() {
                "adjacency" => {
                    ctx.adjacency = v.get().trim().parse::<f64>().map_or(0, |a| a as i64)
                }
                "granularity" if !matches!(v.get().trim(), "0" | "0.0" | "null") => {
                    ctx.granularity = Some(v.get().to_owned());
                }
                _ => {}
            }
        }
        Ok(ctx)
    }
}

/// A score as JSON: the shortest text that reads back as the same `f32` (what protobuf's
/// JSON printer writes for a float field).
fn score_json(v: f32) -> String {
    if !v.is_finite() {
        return "null".into();
    }
    let s = format!("{v}");
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// The JSON text of one match: the right-hand document (or only its id), with scores,
/// adjacency and granularity set, and its matches removed when it is also on the left.
fn match_json(
    right: &[u8],
    id: &str,
    drop_matches: bool,
    ctx: &QueryContext,
    opts: &MatchOptions,
    score: f32,
) -> ArrayResult<String> {
    let mut out = String::with_capacity(right.len() + 64);
    out.push('{');
    if opts.only_id {
        push_field(&mut out, "id", &serde_json::Value::from(id).to_string());
    } else {
        for (k, v) in fields_of(right, id)?.0 {
            let replaced = matches!(k.as_str(), "scores" | "adjacency" | "granularity");
            if replaced || (drop_matches && k == "matches") {
                continue;
            }
            push_field(&mut out, &k, v.get());
        }
    }
    push_field(&mut out, "adjacency", &(ctx.adjacency + 1).to_string());
    if let Some(g) = &ctx.granularity {
        push_field(&mut out, "granularity", g);
    }
    let scores = format!(
        "{{{}:{{\"value\":{}}}}}",
        serde_json::Value::from(opts.name()),
        score_json(score)
    );
    push_field(&mut out, "scores", &scores);
    out.push('}');
    Ok(out)
}

/// The query document with its new matches. The text is built from the query's own fields
/// (its id among them) and valid JSON values only, so it is not scanned again.
fn with_matches_doc(query: &str, id: &str, matches: &[String]) -> ArrayResult<Document> {
    Ok(Document::from_trusted(id, &with_matches(query, matches)?))
}

/// The query's text with `matches` set to the given match texts (in place if it had some).
fn with_matches(query: &str, matches: &[String]) -> ArrayResult<String> {
    let list = format!("[{}]", matches.join(","));
    let fields = fields_of(query.as_bytes(), "query")?;
    let mut out = String::with_capacity(query.len() + list.len() + 16);
    out.push('{');
    let mut placed = false;
    for (k, v) in &fields.0 {
        if k == "matches" {
            if !placed {
                push_field(&mut out, k, &list);
                placed = true;
            }
        } else {
            push_field(&mut out, k, v.get());
        }
    }
    if !placed {
        push_field(&mut out, "matches", &list);
    }
    out.push('}');
    Ok(out)
}
