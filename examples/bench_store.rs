//! Library benchmark: the operations of the Python baseline (scripts/bench_peer.py runs them on the original) on a damfs
//! store, one mode per process so that peak RSS means something. Prints one JSON object.
//!
//! ```text
//! bench_store ops   N DIR   extend (prebuilt docs), save, open, iterate, 10k gets by id and by
//!                           index, set 10k, delete 100 from the end, prune, save; disk bytes
//! bench_store write N DIR   writer process: extend N docs built on the fly, save (peak RSS)
//! bench_store read  DIR     reader process: open + iterate all (peak RSS)
//! bench_store build N DIR   make a store of N docs (in chunks) for the scaling probe
//! bench_store probe DIR     open time, RSS, disk, 10k random gets by id (p50/p99), table bytes
//! bench_store export DIR OUT   a plain directory of the same JSON files: OUT/<i> and
//!                              OUT/by-id/<id> (hard links, one inode as on the mount)
//! bench_store ids DIR FILE     the store's ids, one per line
//! ```
//!
//! Documents are `{"id":"<32 hex>","text":"short text number i"}`, as Jina's
//! `Document(text=...)`. Random choices use a fixed seed.

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use damfs::{Document, DocumentArrayMemmap};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

const GETS: usize = 10_000;
const SETS: usize = 10_000;
const DELETES: usize = 100;

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() {
    if let Err(e) = run() {
        eprintln!("bench_store: {e}");
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("usage: bench_store ops|write|build N DIR | read|probe DIR | export|ids DIR OUT");
    std::process::exit(2);
}

fn run() -> BoxResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mode = args.first().map(String::as_str).unwrap_or_else(|| usage());
    let out = match (mode, args.len()) {
        ("ops", 3) => ops(args[1].parse()?, Path::new(&args[2]))?,
        ("write", 3) => write(args[1].parse()?, Path::new(&args[2]))?,
        ("build", 3) => build(args[1].parse()?, Path::new(&args[2]))?,
        ("read", 2) => read(Path::new(&args[1]))?,
        ("probe", 2) => probe(Path::new(&args[1]))?,
        ("export", 3) => export(Path::new(&args[1]), Path::new(&args[2]))?,
        ("ids", 3) => ids(Path::new(&args[1]), Path::new(&args[2]))?,
        _ => usage(),
    };
    let mut out = out;
    out.insert("impl".into(), json!("damfs"));
    out.insert("mode".into(), json!(mode));
    out.insert("peak_rss_bytes".into(), json!(peak_rss_bytes()));
    println!("{}", Value::Object(out));
    Ok(())
}

fn doc(i: usize) -> Document {
    Document::with_text(&format!("short text number {i}"))
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

/// Peak resident set size of this process: VmHWM from /proc/self/status. (getrusage's
/// ru_maxrss is not used: Linux carries it across execve, so it would report the RSS of the
/// forked parent, e.g. a Python driver, when that was larger.)
fn peak_rss_bytes() -> u64 {
    status_kb("VmHWM:") * 1024
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
}

/// Current resident set size (VmRSS from /proc/self/status).
fn current_rss_bytes() -> u64 {
    status_kb("VmRSS:") * 1024
}

fn disk_bytes(dir: &Path) -> BoxResult<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let m = e?.metadata()?;
        if m.is_file() {
            total += m.len();
        }
    }
    Ok(total)
}

fn fresh_dir(dir: &Path) -> BoxResult<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    Ok(())
}

fn text_len(d: &Document) -> usize {
    d.text().map_or(0, |t| t.len())
}

fn ops(n: usize, dir: &Path) -> BoxResult<Map<String, Value>> {
    fresh_dir(dir)?;
    let mut m = Map::new();
    m.insert("n".into(), json!(n));
    let docs: Vec<Document> = (0..n).map(doc).collect();
    {
        let mut dam = DocumentArrayMemmap::open(dir)?;
        let t = Instant::now();
        dam.extend(docs)?;
        m.insert("extend_s".into(), json!(secs(t)));
        let t = Instant::now();
        dam.save()?;
        m.insert("save_after_extend_s".into(), json!(secs(t)));
    }
    m.insert("disk_bytes".into(), json!(disk_bytes(dir)?));

    let t = Instant::now();
    let dam = DocumentArrayMemmap::open(dir)?;
    m.insert("open_s".into(), json!(secs(t)));
    m.insert("len".into(), json!(dam.len()));

    let t = Instant::now();
    let mut total = 0usize;
    for d in &dam {
        total += text_len(&d?);
    }
    black_box(total);
    m.insert("iterate_s".into(), json!(secs(t)));

    let mut rng = StdRng::seed_from_u64(42);
    let ids: Vec<String> = (0..GETS)
        .map(|_| dam.id_at(rng.gen_range(0..dam.len())).unwrap().to_owned())
        .collect();
    drop(dam);

    let mut dam = DocumentArrayMemmap::open(dir)?;
    let t = Instant::now();
    for id in &ids {
        black_box(dam.get_by_id(id)?);
    }
    m.insert("get_by_id_s".into(), json!(secs(t)));

    let t = Instant::now();
    for _ in 0..GETS {
        let i = rng.gen_range(0..dam.len());
        black_box(dam.get(i as isize)?);
    }
    m.insert("get_by_index_s".into(), json!(secs(t)));

    let t = Instant::now();
    for k in 0..SETS {
        let i = rng.gen_range(0..dam.len());
        let id = dam.id_at(i).unwrap().to_owned();
        let d = Document::from_json(format!(
            "{{\"id\":\"{id}\",\"text\":\"changed text number {k}\"}}"
        ))?;
        dam.set(i as isize, d)?;
    }
    m.insert("set_s".into(), json!(secs(t)));

    let t = Instant::now();
    for _ in 0..DELETES {
        dam.delete(-1)?;
    }
    m.insert("delete_last_s".into(), json!(secs(t)));

    let t = Instant::now();
    dam.prune()?;
    m.insert("prune_s".into(), json!(secs(t)));

    let t = Instant::now();
    dam.save()?;
    m.insert("save_s".into(), json!(secs(t)));
    m.insert("len_after".into(), json!(dam.len()));
    drop(dam);
    m.insert("disk_bytes_after_prune".into(), json!(disk_bytes(dir)?));
    Ok(m)
}

fn write(n: usize, dir: &Path) -> BoxResult<Map<String, Value>> {
    fresh_dir(dir)?;
    let mut m = Map::new();
    let t = Instant::now();
    let mut dam = DocumentArrayMemmap::open(dir)?;
    dam.extend((0..n).map(doc))?;
    dam.save()?;
    drop(dam);
    m.insert("n".into(), json!(n));
    m.insert("write_s".into(), json!(secs(t)));
    m.insert("disk_bytes".into(), json!(disk_bytes(dir)?));
    Ok(m)
}

fn read(dir: &Path) -> BoxResult<Map<String, Value>> {
    let mut m = Map::new();
    let t = Instant::now();
    let dam = DocumentArrayMemmap::open(dir)?;
    m.insert("open_s".into(), json!(secs(t)));
    let t2 = Instant::now();
    let mut total = 0usize;
    for d in &dam {
        total += text_len(&d?);
    }
    black_box(total);
    m.insert("iterate_s".into(), json!(secs(t2)));
    m.insert("total_s".into(), json!(secs(t)));
    m.insert("n".into(), json!(dam.len()));
    Ok(m)
}

fn build(n: usize, dir: &Path) -> BoxResult<Map<String, Value>> {
    const CHUNK: usize = 100_000;
    fresh_dir(dir)?;
    let t = Instant::now();
    let mut dam = DocumentArrayMemmap::open(dir)?;
    let mut i = 0;
    while i < n {
        let end = (i + CHUNK).min(n);
        dam.extend((i..end).map(doc))?;
        i = end;
    }
    dam.save()?;
    drop(dam);
    let mut m = Map::new();
    m.insert("n".into(), json!(n));
    m.insert("build_s".into(), json!(secs(t)));
    m.insert("disk_bytes".into(), json!(disk_bytes(dir)?));
    Ok(m)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[k]
}

fn probe(dir: &Path) -> BoxResult<Map<String, Value>> {
    let mut m = Map::new();
    let rss0 = current_rss_bytes();
    let t = Instant::now();
    let mut dam = DocumentArrayMemmap::open(dir)?;
    m.insert("open_s".into(), json!(secs(t)));
    m.insert("rss_after_open_bytes".into(), json!(current_rss_bytes()));
    m.insert("rss_before_open_bytes".into(), json!(rss0));
    let n = dam.len();
    m.insert("n".into(), json!(n));
    let stats = dam.stats();
    m.insert("table_bytes".into(), json!(stats.table_bytes));
    m.insert(
        "table_bytes_per_doc".into(),
        json!(stats.table_bytes as f64 / n.max(1) as f64),
    );
    m.insert("disk_bytes".into(), json!(disk_bytes(dir)?));
    let mut rng = StdRng::seed_from_u64(7);
    let ids: Vec<String> = (0..GETS)
        .map(|_| dam.id_at(rng.gen_range(0..n)).unwrap().to_owned())
        .collect();
    let mut lat = Vec::with_capacity(GETS);
    for id in &ids {
        let t = Instant::now();
        black_box(dam.get_by_id(id)?);
        lat.push(t.elapsed().as_secs_f64());
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    m.insert("get_p50_s".into(), json!(percentile(&lat, 0.5)));
    m.insert("get_p99_s".into(), json!(percentile(&lat, 0.99)));
    m.insert("rss_end_bytes".into(), json!(current_rss_bytes()));
    Ok(m)
}

fn open_ro(dir: &Path) -> BoxResult<DocumentArrayMemmap> {
    Ok(DocumentArrayMemmap::open_with(
        dir,
        damfs::Options {
            buffer_pool_size: 0,
            read_only: true,
        },
    )?)
}

fn export(dir: &Path, out: &Path) -> BoxResult<Map<String, Value>> {
    let dam = open_ro(dir)?;
    fresh_dir(out)?;
    std::fs::create_dir_all(out.join("by-id"))?;
    for (i, d) in dam.iter().enumerate() {
        let d = d?;
        let p = out.join(i.to_string());
        std::fs::write(&p, d.json())?;
        std::fs::hard_link(&p, out.join("by-id").join(d.id()))?;
    }
    let mut m = Map::new();
    m.insert("n".into(), json!(dam.len()));
    Ok(m)
}

fn ids(dir: &Path, file: &Path) -> BoxResult<Map<String, Value>> {
    use std::io::Write;
    let dam = open_ro(dir)?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(file)?);
    for id in dam.ids() {
        writeln!(w, "{id}")?;
    }
    w.flush()?;
    let mut m = Map::new();
    m.insert("n".into(), json!(dam.len()));
    Ok(m)
}
