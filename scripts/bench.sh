#!/usr/bin/env bash
# damfs benchmarks in one command: builds in release mode, sets up the original (jina 2.6.4 on
# Python 3.9) in bench/cache/, runs every comparison several times, prints medians and ratios,
# and writes bench/results.md, bench/raw.json and bench/scaling.png.
#
# Usage: scripts/bench.sh [--quick] [--no-peer] [--no-mount] [--runs N] [--n N]
#                         [--sizes 10000,100000,...] [--big-n N] [--cold-runs N]
#                         [--only library,scaling,mount]
#   --quick     tiny run for CI: 1,000 docs, no peer, 1 run, no 1M mount (checks it completes;
#               there are no timing assertions anywhere)
#   --no-peer   skip the Python original
#   --no-mount  skip the FUSE part (also skipped where /dev/fuse is missing)
#   --sizes     documents for the scaling curves (default 10k,100k,1M,10M; 10M skipped when
#               the disk is short)
#   --big-n     documents of the big mount run (default 1,000,000; 0 skips it)
#   --cold-runs cold mount runs (drop_caches + remount each; default 3, 0 skips them)
# Environment: BENCH_WORK (scratch folder, default /var/tmp/damfs-bench), BENCH_OUT (where the
# report goes, default bench/; --quick defaults to target/bench-quick so that a CI-size run
# never overwrites the committed results), FLOOR_ARGS (extra fuse_floor options, e.g.
# "--readdirplus always").
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0 peer=1 mount=1
runs=5 n=50000 sizes=10000,100000,1000000,10000000 big_n=1000000 only=library,scaling,mount
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --no-peer) peer=0 ;;
        --no-mount) mount=0 ;;
        --runs) runs=$2; shift ;;
        --n) n=$2; shift ;;
        --sizes) sizes=$2; shift ;;
        --big-n) big_n=$2; shift ;;
        --cold-runs) cold_runs_opt=$2; shift ;;
        --only) only=$2; shift ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
mount_n=50000 cold_runs=${cold_runs_opt:-3} new_docs=10000
out=${BENCH_OUT:-bench}
if [ "$quick" = 1 ]; then
    peer=0 runs=1 n=1000 sizes=1000 big_n=0 mount_n=1000 cold_runs=1 new_docs=100
    out=${BENCH_OUT:-target/bench-quick}
fi
mkdir -p "$out"
[ "$mount" = 1 ] || only=$(echo "$only" | sed 's/,\?mount//; s/^,//')

say() { printf '\n== %s\n' "$*"; }

say "building (release)"
cargo build --release --bin damfs --example bench_store --example fuse_floor --example randcat

peer_args=()
if [ "$peer" = 1 ]; then
    say "the original: jina 2.6.4 (bench/cache/peer-venv)"
    venv=bench/cache/peer-venv
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import docarray' 2>/dev/null; then
        echo "peer already set up"
        peer_args=(--peer-python "$venv/bin/python")
    elif ls -d "$HOME"/.pyenv/versions/3.9*/bin/python >/dev/null 2>&1; then
        mkdir -p bench/cache
        rm -rf "$venv"
        echo "setting up (pip installs jina; takes a few minutes)"
        if ../shared/peer/setup.sh "$venv" > bench/cache/setup.log 2>&1; then
            peer_args=(--peer-python "$venv/bin/python")
        else
            echo "peer setup failed (see bench/cache/setup.log): running without the original"
        fi
    else
        echo "no Python 3.9 under \$HOME/.pyenv: running without the original"
    fi
fi

if ! command -v gnuplot >/dev/null; then
    say "installing gnuplot (for the chart)"
    if ! { apt-get update -qq && apt-get install -y -qq gnuplot-nox; } >/dev/null 2>&1; then
        echo "could not install gnuplot: no chart"
    fi
fi
for tool in jq grep sed find xargs; do
    command -v "$tool" >/dev/null || echo "warning: $tool missing; its workload will fail"
done

say "running (runs=$runs, n=$n, sizes=$sizes, parts=$only)"
python3 scripts/bench.py --runs "$runs" --n "$n" --sizes "$sizes" --mount-n "$mount_n" \
    --big-n "$big_n" --cold-runs "$cold_runs" --new-docs "$new_docs" --only "$only" \
    --work "${BENCH_WORK:-/var/tmp/damfs-bench}" --floor-args "${FLOOR_ARGS:-}" --out "$out" \
    ${peer_args[@]+"${peer_args[@]}"}

say "results ($out/results.md)"
cat "$out/results.md"
