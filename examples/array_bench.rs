//! The array API's side of `scripts/bench_array.py`: times one operation in a fresh process
//! and prints its figures as one JSON object.
//!
//! ```text
//! array_bench embeddings STORE
//! array_bench match STORE QUERIES.jsonl K [BATCH]
//! ```
//!
//! `match` reports the time of the search itself (queries already parsed, the store open),
//! the peak RSS growth during it (VmHWM after resetting it through /proc/self/clear_refs,
//! minus the RSS before), one right-hand batch's and the query matrix's bytes, and the top
//! ids of every query.

use std::time::Instant;

use damfs::array::matching::{nearest, query_matrix, MatchOptions, DEFAULT_BATCH};
use damfs::array::{self, cache};
use damfs::{Document, DocumentArrayMemmap, Options};

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds used so far by the whole process (every thread).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let ro = Options {
        buffer_pool_size: 0,
        read_only: false,
    };
    match args.get(1).map(String::as_str) {
        Some("embeddings") => {
            let t = Instant::now();
            let mut dam = DocumentArrayMemmap::open_with(&args[2], ro)?;
            let m = array::embeddings(&mut dam)?.ok_or("no embeddings")?;
            let secs = t.elapsed().as_secs_f64();
            println!(
                "{}",
                serde_json::json!({"seconds": secs, "rows": m.rows(), "dim": m.dim(),
                    "checksum": m.as_slice().iter().map(|&x| f64::from(x)).sum::<f64>()})
            );
        }
        Some("match") => {
            let mut dam = DocumentArrayMemmap::open_with(&args[2], ro)?;
            let text = std::fs::read_to_string(&args[3])?;
            let queries: Vec<Document> = text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(Document::from_json)
                .collect::<Result<_, _>>()?;
            let k: usize = args[4].parse()?;
            let batch: usize = args.get(5).map_or(Ok(DEFAULT_BATCH), |b| b.parse())?;
            let matrix = query_matrix(&queries)?;
            drop(text);
            let right = cache::open(&mut dam)?;
            let opts = MatchOptions {
                limit: Some(k),
                batch_size: batch,
                ..Default::default()
            };
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let before = status_kib("VmRSS:");
            let (t, cpu) = (Instant::now(), cpu_seconds());
            let found = nearest(&matrix, &right, &opts)?;
            let secs = t.elapsed().as_secs_f64();
            let search_cpu = cpu_seconds() - cpu;
            let peak = status_kib("VmHWM:");
            // The whole match as the original's `da.match(dam)` does it: the embeddings read
            // (cache opened and verified), the search, and every match's document copied.
            let batch_bytes = batch.min(right.rows()) * right.dim() * 4;
            drop(right);
            let (t, cpu) = (Instant::now(), cpu_seconds());
            let done = array::match_queries(queries.clone(), &mut dam, &opts)?;
            let full_secs = t.elapsed().as_secs_f64();
            let full_cpu = cpu_seconds() - cpu;
            drop(done);
            let ids: Vec<Vec<&str>> = found
                .iter()
                .map(|n| {
                    n.iter()
                        .map(|&(row, _)| dam.id_at(row).unwrap_or("?"))
                        .collect()
                })
                .collect();
            println!(
                "{}",
                serde_json::json!({
                    "seconds": secs,
                    "full_seconds": full_secs,
                    "search_cpu_seconds": search_cpu,
                    "full_cpu_seconds": full_cpu,
                    "rss_before_kib": before,
                    "rss_peak_kib": peak,
                    "batch_bytes": batch_bytes,
                    "query_bytes": matrix.as_slice().len() * 4,
                    "ids": ids,
                })
            );
        }
        _ => {
            return Err(
                "usage: array_bench embeddings STORE | match STORE QUERIES K [BATCH]".into(),
            )
        }
    }
    Ok(())
}
