//! The search's inner loop for x86-64 with AVX2 and FMA: dot products of 16 queries at a
//! time against the right-hand rows, turned into distances and compared with each query's
//! current k-th best in registers, so no distance matrix is ever stored.
//!
//! Queries are packed once, 16 to a block with their `j`-th components side by side (two
//! 8-wide vectors); each right-hand row is read straight from the batch and broadcast.
//! Six rows at a time keep twelve independent accumulators in flight. Distances use the
//! same `f32` operations in the same order as the portable path in `distance.rs`.

use super::distance::{Best, Metric, Neighbour};

/// Queries per block: two 8-wide AVX vectors.
pub const LANES: usize = 16;

/// The queries, packed for the kernel: block `b` holds components `0..dim` of queries
/// `16b..16b+16`, 16 floats per component (missing queries are zero).
pub struct Packed {
    dim: usize,
    data: Vec<f32>,
    stats: Vec<f32>,
}

impl Packed {
    pub fn new(queries: &[f32], stats: &[f32], dim: usize) -> Packed {
        let nq = stats.len();
        let blocks = nq.div_ceil(LANES);
        let mut data = vec![0f32; blocks * dim * LANES];
        for q in 0..nq {
            let (b, lane) = (q / LANES, q % LANES);
            for j in 0..dim {
                data[(b * dim + j) * LANES + lane] = queries[q * dim + j];
            }
        }
        let mut padded = stats.to_vec();
        padded.resize(blocks * LANES, 0.0);
        Packed {
            dim,
            data,
            stats: padded,
        }
    }

    pub fn blocks(&self) -> usize {
        self.stats.len() / LANES
    }
}

/// Whether this CPU can run the kernel.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Compares the queries of block `block` (whose `Best`s are `best`, at most 16) with every
/// row of `rows` (row-major, `dim` wide; `ystats` their norms or squared norms), numbered
/// from `offset`. Does nothing unless [`available`].
#[allow(clippy::too_many_arguments)]
pub fn scan_block(
    metric: Metric,
    track_range: bool,
    packed: &Packed,
    block: usize,
    rows: &[f32],
    ystats: &[f32],
    offset: usize,
    best: &mut [Best],
) {
    assert!(best.len() <= LANES && block < packed.blocks());
    assert_eq!(rows.len(), ystats.len() * packed.dim);
    #[cfg(target_arch = "x86_64")]
    if available() {
        // SAFETY: the CPU has AVX2 and FMA (checked above); every index below is inside
        // the slices whose lengths were just asserted.
        unsafe {
            x86::scan(
                metric,
                track_range,
                packed,
                block,
                rows,
                ystats,
                offset,
                best,
            )
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Best, Metric, Neighbour, Packed, LANES};

    const EPS: f32 = 1e-7;
    /// Rows per step: 6 rows × 2 vectors = 12 accumulators (with the 2 query vectors and
    /// the broadcast, 15 of the 16 AVX registers), enough to hide the FMA latency.
    const ROWS: usize = 6;

    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn scan(
        metric: Metric,
        track_range: bool,
        packed: &Packed,
        block: usize,
        rows: &[f32],
        ystats: &[f32],
        offset: usize,
        best: &mut [Best],
    ) {
        let dim = packed.dim;
        let q = &packed.data[block * dim * LANES..(block + 1) * dim * LANES];
        let xs = &packed.stats[block * LANES..(block + 1) * LANES];
        let mut state = State {
            x: [
                _mm256_loadu_ps(xs.as_ptr()),
                _mm256_loadu_ps(xs.as_ptr().add(8)),
            ],
            bounds: [f32::NEG_INFINITY; LANES],
            lo: [f32::INFINITY; LANES],
            hi: [f32::NEG_INFINITY; LANES],
            metric,
            track_range,
        };
        for (lane, b) in best.iter().enumerate() {
            state.bounds[lane] = b.bound();
            state.lo[lane] = b.min;
            state.hi[lane] = b.max;
        }
        let n = ystats.len();
        let mut r = 0;
        while r + ROWS <= n {
            let dots = dots::<ROWS>(q, rows, r, dim);
            for (i, d) in dots.iter().enumerate() {
                state.select(*d, ystats[r + i], offset + r + i, best);
            }
            r += ROWS;
        }
        while r < n {
            let dots = dots::<1>(q, rows, r, dim);
            state.select(dots[0], ystats[r], offset + r, best);
            r += 1;
        }
        if track_range {
            for (lane, b) in best.iter_mut().enumerate() {
                b.min = state.lo[lane];
                b.max = state.hi[lane];
            }
        }
    }

    /// Dot products of the block's 16 queries with rows `r..r + R`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn dots<const R: usize>(
        q: &[f32],
        rows: &[f32],
        r: usize,
        dim: usize,
    ) -> [[__m256; 2]; R] {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        let qp = q.as_ptr();
        let yp = rows.as_ptr().add(r * dim);
        for j in 0..dim {
            let q0 = _mm256_loadu_ps(qp.add(j * LANES));
            let q1 = _mm256_loadu_ps(qp.add(j * LANES + 8));
            for (i, a) in acc.iter_mut().enumerate() {
                let y = _mm256_broadcast_ss(&*yp.add(i * dim + j));
                a[0] = _mm256_fmadd_ps(q0, y, a[0]);
                a[1] = _mm256_fmadd_ps(q1, y, a[1]);
            }
        }
        acc
    }

    struct State {
        x: [__m256; 2],
        bounds: [f32; LANES],
        lo: [f32; LANES],
        hi: [f32; LANES],
        metric: Metric,
        track_range: bool,
    }

    impl State {
        /// Distances of one right-hand row to the 16 queries; offers the ones within a
        /// query's bound (rare once the heaps are full) to its `Best`.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn select(&mut self, dot: [__m256; 2], ystat: f32, row: usize, best: &mut [Best]) {
            let y = _mm256_set1_ps(ystat);
            for (half, (&dot, &x)) in dot.iter().zip(&self.x).enumerate() {
                let d = match self.metric {
                    Metric::Cosine => {
                        let eps = _mm256_set1_ps(EPS);
                        let ratio = _mm256_div_ps(
                            _mm256_add_ps(dot, eps),
                            _mm256_add_ps(_mm256_mul_ps(x, y), eps),
                        );
                        let clamped = _mm256_min_ps(
                            _mm256_max_ps(ratio, _mm256_set1_ps(-1.0)),
                            _mm256_set1_ps(1.0),
                        );
                        _mm256_sub_ps(_mm256_set1_ps(1.0), clamped)
                    }
                    Metric::SqEuclidean | Metric::Euclidean => {
                        let sq = _mm256_sub_ps(
                            _mm256_add_ps(x, y),
                            _mm256_mul_ps(_mm256_set1_ps(2.0), dot),
                        );
                        let sq = _mm256_max_ps(sq, _mm256_setzero_ps());
                        if self.metric == Metric::Euclidean {
                            _mm256_sqrt_ps(sq)
                        } else {
                            sq
                        }
                    }
                };
                let base = half * 8;
                if self.track_range {
                    let lo = _mm256_loadu_ps(self.lo.as_ptr().add(base));
                    let hi = _mm256_loadu_ps(self.hi.as_ptr().add(base));
                    _mm256_storeu_ps(self.lo.as_mut_ptr().add(base), _mm256_min_ps(lo, d));
                    _mm256_storeu_ps(self.hi.as_mut_ptr().add(base), _mm256_max_ps(hi, d));
                }
                let bound = _mm256_loadu_ps(self.bounds.as_ptr().add(base));
                let mut hits = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(d, bound)) as u32;
                if hits == 0 {
                    continue;
                }
                let mut ds = [0f32; 8];
                _mm256_storeu_ps(ds.as_mut_ptr(), d);
                while hits != 0 {
                    let lane = hits.trailing_zeros() as usize;
                    hits &= hits - 1;
                    if let Some(b) = best.get_mut(base + lane) {
                        b.offer(Neighbour {
                            dist: ds[lane],
                            row,
                        });
                        self.bounds[base + lane] = b.bound();
                    }
                }
            }
        }
    }
}
