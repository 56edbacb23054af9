#!/usr/bin/env bash
# The test command (see README): formatting, lints, then every test target.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
cargo test --doc # the crate docs' and the README's Rust examples
# POSIX on temporaries: fsx on temporary files of a live mount (short form; --full by hand).
bash scripts/posix_temporaries.sh
# The benchmarks build and a CI-size run completes (1,000 documents, no peer; no timing is
# asserted anywhere). The report goes to target/bench-quick/.
bash scripts/bench.sh --quick
# Packaging: `cargo install --path .` from a clean checkout, and the .deb installed with
# dpkg -i and mounting a store (see the script; installs cargo-deb if missing).
bash scripts/test_package.sh
# The PostgreSQL bench completes (2,000 documents; report in target/bench-pg/), where the
# server is installed (.ci/run installs it).
if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
  python3 scripts/bench_pg.py --n 2000 --quick
fi
