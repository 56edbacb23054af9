//! `visualize`: the embeddings projected onto their first two principal components (the
//! original's `plot_embeddings` with `method='pca'`), drawn as a scatter plot into a PNG.
//!
//! The drawing has no text at all (the original hides the axes too), so no font library
//! is needed: plotters' bitmap backend encodes the PNG in pure Rust. With a colour field,
//! each distinct value gets its own colour, in first-seen order; the legend is returned
//! (and printed by `damfs visualize`) instead of drawn.

use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

use super::attributes::attribute;
use super::cache;
use super::error::{ArrayError, ArrayResult};
use super::matrix::Matrix;
use super::sampling::Groups;
use crate::DocumentArrayMemmap;

/// The covariance times a vector.
type CovarianceTimes<'a> = dyn Fn(&[f64]) -> Vec<f64> + 'a;

/// Widest embeddings whose `d × d` covariance is built (128 MiB of `f64` at 4,096).
const MAX_COVARIANCE_DIM: usize = 4096;

/// The two principal axes of the rows of `m` (eigenvectors of the covariance with the
/// largest eigenvalues), found by power iteration with deflation, in `f64`.
pub fn principal_axes(m: &Matrix) -> [Vec<f64>; 2] {
    let (n, d) = (m.rows(), m.dim());
    let mut mean = vec![0f64; d];
    for i in 0..n {
        for (acc, &x) in mean.iter_mut().zip(m.row(i)) {
            *acc += f64::from(x);
        }
    }
    mean.iter_mut().for_each(|x| *x /= n.max(1) as f64);
    // The covariance times a vector: from the d × d matrix while it is smaller than the rows
    // and fits in memory; else through the rows themselves (C^T (C v)), which for a few very
    // wide embeddings costs n × d a step instead of d × d (3.2 GB at d = 20,000).
    let apply: Box<CovarianceTimes<'_>> = if d <= n && d <= MAX_COVARIANCE_DIM {
        let cov = covariance(m, &mean);
        Box::new(move |v: &[f64]| {
            (0..d)
                .map(|a| (0..d).map(|b| cov[a * d + b] * v[b]).sum())
                .collect()
        })
    } else {
        let mean = mean.clone();
        Box::new(move |v: &[f64]| {
            let mut out = vec![0f64; d];
            for i in 0..n {
                let row = m.row(i);
                let s: f64 = row
                    .iter()
                    .zip(&mean)
                    .zip(v)
                    .map(|((&x, mu), vb)| (f64::from(x) - mu) * vb)
                    .sum();
                for ((o, &x), mu) in out.iter_mut().zip(row).zip(&mean) {
                    *o += s * (f64::from(x) - mu);
                }
            }
            out
        })
    };
    let first = dominant(&*apply, d, None);
    let second = dominant(&*apply, d, Some(&first));
    [first, second]
}

/// The (unscaled) covariance `sum of c c^T` over the centred rows, `d × d`.
fn covariance(m: &Matrix, mean: &[f64]) -> Vec<f64> {
    let d = m.dim();
    let mut cov = vec![0f64; d * d];
    let mut centered = vec![0f64; d];
    for i in 0..m.rows() {
        for ((c, &x), mu) in centered.iter_mut().zip(m.row(i)).zip(mean) {
            *c = f64::from(x) - mu;
        }
        for a in 0..d {
            let ca = centered[a];
            for b in a..d {
                cov[a * d + b] += ca * centered[b];
            }
        }
    }
    for a in 0..d {
        for b in 0..a {
            cov[a * d + b] = cov[b * d + a];
        }
    }
    cov
}

/// The dominant eigenvector of the symmetric operator `apply` (the covariance times a
/// vector), orthogonal to `not` if given.
fn dominant(apply: &CovarianceTimes<'_>, d: usize, not: Option<&[f64]>) -> Vec<f64> {
    // A fixed, non-degenerate start keeps the result reproducible.
    let mut v: Vec<f64> = (0..d).map(|i| 1.0 + (i as f64 * 0.618).fract()).collect();
    for _ in 0..500 {
        if let Some(u) = not {
            let dot: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= dot * b);
        }
        let mut next = apply(&v);
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            break;
        }
        next.iter_mut().for_each(|x| *x /= norm);
        let change: f64 = next.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
        v = next;
        if change < 1e-12 {
            break;
        }
    }
    // Make the sign reproducible: the largest component is positive.
    let big = v
        .iter()
        .copied()
        .fold(0f64, |m, x| if x.abs() > m.abs() { x } else { m });
    if big < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    v
}

/// Each row projected onto the two principal axes (as the original, without centring).
pub fn pca_2d(m: &Matrix) -> Vec<(f64, f64)> {
    let [a, b] = principal_axes(m);
    (0..m.rows())
        .map(|i| {
            let row = m.row(i);
            let x = row.iter().zip(&a).map(|(&r, w)| f64::from(r) * w).sum();
            let y = row.iter().zip(&b).map(|(&r, w)| f64::from(r) * w).sum();
            (x, y)
        })
        .collect()
}

/// A distinct colour for group `i` of `n`: evenly spaced hues (the original's `rainbow`).
fn colour(i: usize, n: usize) -> RGBColor {
    let h = if n <= 1 {
        0.0
    } else {
        i as f64 / n as f64 * 300.0
    };
    let x = 1.0 - ((h / 60.0) % 2.0 - 1.0).abs();
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    let c = |v: f64| (v * 220.0) as u8;
    RGBColor(c(r), c(g), c(b))
}

/// One entry of the legend: a value of the colour field and its colour, `#rrggbb`.
#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    pub value: Value,
    pub colour: String,
    pub count: usize,
}

/// Draws the 2-D PCA projection of the store's embeddings into a `size × size` PNG at
/// `output`, coloured by the field `color_by` (`tags__label`, …) when given. Returns the
/// legend (empty without `color_by`).
pub fn visualize(
    dam: &mut DocumentArrayMemmap,
    output: &Path,
    color_by: Option<&str>,
    size: u32,
) -> ArrayResult<Vec<LegendEntry>> {
    visualize_with_progress(dam, output, color_by, size, None)
}

/// The largest plot side: its `size × size` RGB image is held in memory (192 MiB at 8192).
pub const MAX_PLOT_SIZE: u32 = 8192;

/// Extensions the image encoder writes (PNG is what the README promises; the others work).
const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// [`visualize`], advancing `progress` while the embeddings cache is (re)built.
pub fn visualize_with_progress(
    dam: &mut DocumentArrayMemmap,
    output: &Path,
    color_by: Option<&str>,
    size: u32,
    progress: Option<&indicatif::ProgressBar>,
) -> ArrayResult<Vec<LegendEntry>> {
    check_output(output, size)?;
    let cache = cache::load(dam, progress)?;
    // Embeddings that are there but unreadable are named, not taken for no embeddings.
    cache.check_readable(dam)?;
    if cache.is_empty() {
        return Err(ArrayError::InvalidArgument(
            "there is nothing to plot: no document has an embedding".into(),
        ));
    }
    cache.check_complete(dam)?;
    let points = pca_2d(&cache.into_matrix()?);
    let mut groups: Groups<usize> = Groups::default();
    let mut group_of = Vec::with_capacity(points.len());
    if let Some(field) = color_by {
        for doc in dam.iter() {
            let value = attribute(&doc?.to_map()?, field);
            let (group, count) = groups.entry(value, |_| Ok(0))?;
            *count += 1;
            group_of.push(group);
        }
    }
    let legend: Vec<LegendEntry> = groups
        .groups
        .iter()
        .enumerate()
        .map(|(i, (value, count))| {
            let c = colour(i, groups.groups.len());
            LegendEntry {
                value: value.clone(),
                colour: format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2),
                count: *count,
            }
        })
        .collect();
    draw(output, size, &points, |i| match group_of.get(i).copied() {
        Some(g) => colour(g, legend.len()),
        None => RGBColor(31, 119, 180),
    })
    .map_err(|e| ArrayError::Plot(format!("{}: {e}", output.display())))?;
    Ok(legend)
}

/// Refuses before any work what the drawing backend would fail on unclearly (or panic on:
/// a side whose pixel count overflows): the size, the extension, an unwritable path.
fn check_output(output: &Path, size: u32) -> ArrayResult<()> {
    if !(1..=MAX_PLOT_SIZE).contains(&size) {
        return Err(ArrayError::InvalidArgument(format!(
            "the plot size must be 1 to {MAX_PLOT_SIZE} pixels, not {size}"
        )));
    }
    if output.is_dir() {
        return Err(ArrayError::InvalidArgument(format!(
            "{}: is a directory, not a file to write the plot to",
            output.display()
        )));
    }
    let known = output
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
    if !known {
        return Err(ArrayError::InvalidArgument(format!(
            "{}: the plot is a PNG image: name the output file *.png",
            output.display()
        )));
    }
    // The backend's own error for a missing directory is a debug dump of nested enums.
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Err(e) = std::fs::metadata(parent) {
            return Err(ArrayError::io(output.display().to_string(), e));
        }
    }
    Ok(())
}

fn draw(
    output: &Path,
    size: u32,
    points: &[(f64, f64)],
    colour_of: impl Fn(usize) -> RGBColor,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::new(output, (size, size)).into_drawing_area();
    root.fill(&WHITE)?;
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    let margin = f64::from(size) * 0.05;
    let span = f64::from(size) - 2.0 * margin;
    let scale = |v: f64, lo: f64, hi: f64| {
        if hi > lo {
            margin + (v - lo) / (hi - lo) * span
        } else {
            f64::from(size) / 2.0
        }
    };
    let radius = if points.len() > 10_000 { 1 } else { 3 };
    for (i, &(x, y)) in points.iter().enumerate() {
        let px = scale(x, x0, x1) as i32;
        let py = (f64::from(size) - scale(y, y0, y1)) as i32;
        root.draw(&Circle::new(
            (px, py),
            radius,
            colour_of(i).mix(0.6).filled(),
        ))?;
    }
    root.present()?;
    Ok(())
}
