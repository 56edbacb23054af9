//! Timing helper for the mount benchmark: `cat` of random files, one at a time, each timed
//! (open + read to the end + close), as a shell loop of `cat` would do minus the fork/exec.
//!
//! ```text
//! randcat DIR NAMES_FILE COUNT [--distinct] [--seed S]
//! ```
//!
//! Picks COUNT names from NAMES_FILE (one per line; with `--distinct` no name twice, for cold
//! reads) and prints JSON: count, bytes, p50/p90/p99/max and mean latency in seconds.

use std::fs::File;
use std::hint::black_box;
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

fn main() {
    if let Err(e) = run() {
        eprintln!("randcat: {e}");
        std::process::exit(1);
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut pos = Vec::new();
    let (mut distinct, mut seed) = (false, 1u64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--distinct" => distinct = true,
            "--seed" => seed = args.next().ok_or("--seed S")?.parse()?,
            _ => pos.push(a),
        }
    }
    let [dir, names, count] = <[String; 3]>::try_from(pos)
        .map_err(|_| "usage: randcat DIR NAMES_FILE COUNT [--distinct] [--seed S]")?;
    let dir = PathBuf::from(dir);
    let count: usize = count.parse()?;
    let names: Vec<String> = std::fs::read_to_string(names)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if names.is_empty() {
        return Err("no names".into());
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let picks: Vec<&String> = if distinct {
        names
            .choose_multiple(&mut rng, count.min(names.len()))
            .collect()
    } else {
        (0..count)
            .map(|_| &names[rng.gen_range(0..names.len())])
            .collect()
    };
    let paths: Vec<PathBuf> = picks.iter().map(|n| dir.join(n)).collect();
    let mut buf = Vec::with_capacity(1 << 16);
    let mut lat = Vec::with_capacity(paths.len());
    let mut bytes = 0usize;
    for p in &paths {
        buf.clear();
        let t = Instant::now();
        let mut f = File::open(p)?;
        f.read_to_end(&mut buf)?;
        drop(f);
        lat.push(t.elapsed().as_secs_f64());
        bytes += black_box(buf.len());
    }
    let mean = lat.iter().sum::<f64>() / lat.len() as f64;
    lat.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{{\"count\":{},\"bytes\":{},\"p50_s\":{:e},\"p90_s\":{:e},\"p99_s\":{:e},\"max_s\":{:e},\"mean_s\":{:e}}}",
        lat.len(),
        bytes,
        pct(&lat, 0.5),
        pct(&lat, 0.9),
        pct(&lat, 0.99),
        lat[lat.len() - 1],
        mean
    );
    Ok(())
}
