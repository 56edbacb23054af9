//! Nearest neighbours by brute force, streamed: the right-hand matrix is read in batches,
//! each query keeps only its best `k` so far, so memory is one batch and the query matrix
//! whatever the size of the right-hand side. On x86-64 with AVX2 and FMA the batch goes
//! through the fused kernel of `kernel.rs` (no distance matrix at all); elsewhere it is
//! multiplied with the queries in tiles of 128 rows (`matrixmultiply`'s SGEMM, which was
//! as fast here but needs a tile per thread).
//!
//! Distances follow the original's numpy formulas in `f32`: cosine is
//! `1 - clip((x·y + 1e-7) / (|x||y| + 1e-7), -1, 1)`, sqeuclidean `|x|² + |y|² - 2x·y`
//! and euclidean its square root (both floored at 0, where rounding could make the
//! original's slightly negative or NaN).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::str::FromStr;

use super::error::{ArrayError, ArrayResult};
use super::kernel::{self, Packed, LANES};
use super::matrix::Matrix;

/// A distance metric (smaller is closer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    Cosine,
    Euclidean,
    SqEuclidean,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Euclidean => "euclidean",
            Metric::SqEuclidean => "sqeuclidean",
        }
    }

    /// What is kept per row for this metric: the norm (cosine) or the squared norm.
    fn row_stat(self, row: &[f32]) -> f32 {
        let sq: f32 = row.iter().map(|x| x * x).sum();
        match self {
            Metric::Cosine => sq.sqrt(),
            Metric::Euclidean | Metric::SqEuclidean => sq,
        }
    }
}

impl FromStr for Metric {
    type Err = ArrayError;

    fn from_str(s: &str) -> ArrayResult<Self> {
        match s {
            "cosine" => Ok(Metric::Cosine),
            "euclidean" => Ok(Metric::Euclidean),
            "sqeuclidean" => Ok(Metric::SqEuclidean),
            other => Err(ArrayError::InvalidArgument(format!(
                "unknown metric {other:?} (use cosine, euclidean or sqeuclidean)"
            ))),
        }
    }
}

/// One candidate: a distance and the right-hand row it belongs to. Ordered by distance,
/// then by row, so ties go to the earlier document and results are reproducible.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbour {
    pub dist: f32,
    pub row: usize,
}

impl Eq for Neighbour {}

impl Ord for Neighbour {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.row.cmp(&other.row))
    }
}

impl PartialOrd for Neighbour {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The best `k` of one query so far, and the range of every distance seen (for min-max
/// normalisation, which the original bases on the whole row).
#[derive(Clone)]
pub struct Best {
    k: usize,
    heap: BinaryHeap<Neighbour>,
    pub min: f32,
    pub max: f32,
}

impl Best {
    fn new(k: usize) -> Self {
        Best {
            k,
            heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1),
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
        }
    }

    #[inline]
    pub(crate) fn offer(&mut self, n: Neighbour) {
        if self.heap.len() < self.k {
            self.heap.push(n);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if n < *worst {
                *worst = n;
            }
        }
    }

    /// The worst distance still kept, once `k` are kept: anything not below it is out.
    #[inline]
    pub(crate) fn bound(&self) -> f32 {
        if self.heap.len() < self.k {
            f32::INFINITY
        } else {
            self.heap.peek().map_or(f32::INFINITY, |n| n.dist)
        }
    }

    /// The neighbours kept, closest first.
    pub fn into_sorted(self) -> Vec<Neighbour> {
        self.heap.into_sorted_vec()
    }
}

/// Right-hand rows per tile: the SGEMM output of one thread is `queries × TILE` floats.
const TILE: usize = 128;

/// Streams the right-hand side through [`Search::feed`] batch by batch.
pub struct Search<'q> {
    metric: Metric,
    queries: &'q Matrix,
    query_stats: Vec<f32>,
    best: Vec<Best>,
    seen: usize,
    threads: usize,
    track_range: bool,
    tiles: Vec<Vec<f32>>,
    /// The queries packed for the AVX2 kernel, when the CPU has it.
    packed: Option<Packed>,
}

/// A thread's SGEMM output buffer, and whether distance ranges are wanted.
struct Tiles<'t> {
    tile: &'t mut [f32],
    track_range: bool,
}

impl<'q> Search<'q> {
    /// A search keeping the best `k` of each query (`k` of at least 1).
    /// `track_range`: also record each query's smallest and largest distance.
    pub fn new(queries: &'q Matrix, metric: Metric, k: usize, track_range: bool) -> Self {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(queries.rows().div_ceil(64).max(1));
        let query_stats: Vec<f32> = (0..queries.rows())
            .map(|i| metric.row_stat(queries.row(i)))
            .collect();
        let packed = kernel::available()
            .then(|| Packed::new(queries.as_slice(), &query_stats, queries.dim()));
        Search {
            metric,
            queries,
            query_stats,
            best: vec![Best::new(k.max(1)); queries.rows()],
            seen: 0,
            threads,
            track_range,
            tiles: Vec::new(),
            packed,
        }
    }

    /// Uses the portable path (SGEMM tiles) even where the AVX2 kernel runs.
    pub fn portable(mut self) -> Self {
        self.packed = None;
        self
    }

    /// Takes in the next `rows` right-hand rows (`batch` holds them end to end).
    pub fn feed(&mut self, batch: &[f32]) -> ArrayResult<()> {
        let dim = self.queries.dim();
        if dim == 0 || batch.len() % dim != 0 {
            return Err(ArrayError::InvalidArgument(format!(
                "the right-hand embeddings have another length than the queries' ({dim})"
            )));
        }
        let rows = batch.len() / dim;
        let stats: Vec<f32> = batch
            .chunks_exact(dim)
            .map(|r| self.metric.row_stat(r))
            .collect();
        if let Some(packed) = &self.packed {
            let fused = Fused {
                metric: self.metric,
                track_range: self.track_range,
                offset: self.seen,
                threads: self.threads,
            };
            fused.feed(&mut self.best, packed, batch, &stats, dim);
            self.seen += rows;
            return Ok(());
        }
        let per_thread = self.queries.rows().div_ceil(self.threads);
        let (metric, queries, offset) = (self.metric, self.queries, self.seen);
        let track_range = self.track_range;
        let query_stats = &self.query_stats;
        let stats = &stats;
        if self.tiles.is_empty() {
            // One tile per thread, kept for every batch (no allocation per batch).
            self.tiles = vec![vec![0f32; per_thread * TILE]; self.threads];
        }
        std::thread::scope(|scope| {
            let chunks = self.best.chunks_mut(per_thread).zip(self.tiles.iter_mut());
            for (chunk, (best, tile)) in chunks.enumerate() {
                let first = chunk * per_thread;
                scope.spawn(move || {
                    let q = &queries.as_slice()[first * dim..(first + best.len()) * dim];
                    let qs = &query_stats[first..first + best.len()];
                    let t = Tiles { tile, track_range };
                    scan(metric, q, qs, best, batch, stats, dim, offset, t);
                });
            }
        });
        self.seen += rows;
        Ok(())
    }

    /// The best neighbours of every query, closest first.
    pub fn finish(self) -> Vec<Best> {
        self.best
    }
}

/// The AVX2 path's settings for one batch.
struct Fused {
    metric: Metric,
    track_range: bool,
    offset: usize,
    threads: usize,
}

impl Fused {
    /// Each thread takes whole blocks of 16 queries; rows are taken in groups that stay in
    /// the L2 cache while every block of the thread passes over them.
    fn feed(&self, best: &mut [Best], packed: &Packed, batch: &[f32], stats: &[f32], dim: usize) {
        const GROUP: usize = 256;
        let per_thread = packed.blocks().div_ceil(self.threads) * LANES;
        let rows = stats.len();
        std::thread::scope(|scope| {
            for (chunk, best) in best.chunks_mut(per_thread).enumerate() {
                let first_block = chunk * per_thread / LANES;
                scope.spawn(move || {
                    for start in (0..rows).step_by(GROUP) {
                        let end = (start + GROUP).min(rows);
                        let y = &batch[start * dim..end * dim];
                        for (i, b) in best.chunks_mut(LANES).enumerate() {
                            kernel::scan_block(
                                self.metric,
                                self.track_range,
                                packed,
                                first_block + i,
                                y,
                                &stats[start..end],
                                self.offset + start,
                                b,
                            );
                        }
                    }
                });
            }
        });
    }
}

/// One thread's share: its queries against every tile of the batch.
#[allow(clippy::too_many_arguments)]
fn scan(
    metric: Metric,
    q: &[f32],
    qs: &[f32],
    best: &mut [Best],
    batch: &[f32],
    stats: &[f32],
    dim: usize,
    offset: usize,
    Tiles { tile, track_range }: Tiles<'_>,
) {
    let nq = best.len();
    let rows = stats.len();
    for start in (0..rows).step_by(TILE) {
        let n = TILE.min(rows - start);
        let y = &batch[start * dim..(start + n) * dim];
        // SAFETY: the strides describe q (nq × dim, row-major), yᵀ (dim × n: row-major y
        // read by columns) and tile (nq × n with row stride TILE), all inside their slices.
        unsafe {
            matrixmultiply::sgemm(
                nq,
                dim,
                n,
                1.0,
                q.as_ptr(),
                dim as isize,
                1,
                y.as_ptr(),
                1,
                dim as isize,
                0.0,
                tile.as_mut_ptr(),
                TILE as isize,
                1,
            );
        }
        let ys = &stats[start..start + n];
        for (i, b) in best.iter_mut().enumerate() {
            let row = &mut tile[i * TILE..i * TILE + n];
            let x = qs[i];
            // Distances in place, one metric per loop so each loop vectorises.
            match metric {
                Metric::Cosine => fill(row, ys, |dot, y| {
                    1.0 - ((dot + EPS) / (x * y + EPS)).clamp(-1.0, 1.0)
                }),
                Metric::SqEuclidean => fill(row, ys, |dot, y| (x + y - 2.0 * dot).max(0.0)),
                Metric::Euclidean => fill(row, ys, |dot, y| (x + y - 2.0 * dot).max(0.0).sqrt()),
            }
            if track_range {
                let (lo, hi) = row
                    .iter()
                    .fold((b.min, b.max), |(lo, hi), &d| (lo.min(d), hi.max(d)));
                b.min = lo;
                b.max = hi;
            }
            let mut bound = b.bound();
            for (j, &d) in row.iter().enumerate() {
                if d <= bound {
                    b.offer(Neighbour {
                        dist: d,
                        row: offset + start + j,
                    });
                    bound = b.bound();
                }
            }
        }
    }
}

const EPS: f32 = 1e-7;

#[inline(always)]
fn fill(row: &mut [f32], ys: &[f32], f: impl Fn(f32, f32) -> f32) {
    for (t, &y) in row.iter_mut().zip(ys) {
        *t = f(*t, y);
    }
}

/// The original's min-max normalisation of a distance into `[a, b]` given the row's range.
pub fn normalize(d: f32, (a, b): (f32, f32), (min, max): (f32, f32)) -> f32 {
    let r = (b - a) * (d - min) / (max - min + 1e-7) + a;
    r.clamp(a.min(b), a.max(b))
}
