#!/usr/bin/env bash
# The test command (see README): formatting, lints, then every test target.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
# POSIX on temporaries: fsx on temporary files of a live mount (short form; --full by hand).
bash scripts/posix_temporaries.sh
# The benchmarks build and a CI-size run completes (1,000 documents, no peer; no timing is
# asserted anywhere). The report goes to target/bench-quick/.
bash scripts/bench.sh --quick
