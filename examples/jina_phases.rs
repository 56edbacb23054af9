//! Times the phases of converting an original store (by hand: `cargo run --release --example
//! jina_phases JINA_DIR`): opening it, the check pass, and printing every document.

use std::time::Instant;

use damfs::jina::plan::Plan;
use damfs::jina::{Documents, JinaStore};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: jina_phases JINA_DIR")?;
    let t = Instant::now();
    let store = JinaStore::open(dir.as_ref())?;
    let open = t.elapsed();
    let t = Instant::now();
    let plan = Plan::make(&store, None, &|_| {})?;
    let check = t.elapsed();
    let t = Instant::now();
    let mut bytes = 0;
    for doc in Documents::new(&store) {
        bytes += doc?.map(|d| d.json().len()).unwrap_or(0);
    }
    let print = t.elapsed();
    println!(
        "{} documents ({} problems, {bytes} bytes of JSON): open {open:?}, check {check:?}, \
         print {print:?}",
        store.len(),
        plan.problems.len()
    );
    Ok(())
}
