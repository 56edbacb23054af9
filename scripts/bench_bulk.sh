#!/usr/bin/env bash
# The bulk views, side by side in one run: `grep -c` over /.all.jsonl against `grep -c` over
# a plain JSON Lines file of the same bytes and against `grep -rl` over by-id/, and 10,000
# documents appended through /.append.jsonl against `damfs import` of the same file.
#
# Usage: scripts/bench_bulk.sh [N_DOCS (50000)] [RUNS (5)]. Needs root and /dev/fuse; builds
# in release mode. Prints medians (seconds) and ratios; scratch in $BENCH_WORK
# (default /var/tmp/damfs-bench-bulk).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-50000} runs=${2:-5}
work=${BENCH_WORK:-/var/tmp/damfs-bench-bulk}
cargo build --release --bin damfs --example bench_store >/dev/null 2>&1
bin=target/release/damfs
rm -rf "$work" && mkdir -p "$work/mnt"
target/release/examples/bench_store build "$n" "$work/store" >/dev/null
"$bin" export "$work/store" -o "$work/all.jsonl"
for i in $(seq 1 10000); do
    printf '{"id":"appended%08d","text":"appended text number %d"}\n' "$i" "$i"
done >"$work/new.jsonl"
"$bin" mount "$work/store" "$work/mnt"
trap '"$bin" unmount "$work/mnt" >/dev/null 2>&1 || umount -l "$work/mnt"' EXIT

# Median wall time of a shell command, seconds.
median() {
    local cmd=$1 times=()
    for _ in $(seq 1 "$runs"); do
        local s e
        s=$(date +%s.%N)
        bash -c "$cmd" >/dev/null 2>&1 || true
        e=$(date +%s.%N)
        times+=("$(echo "$e - $s" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
needle='number 4242'
bash -c "cat '$work/mnt/.all.jsonl' '$work/all.jsonl' >/dev/null" # warm both
plain=$(median "grep -c '$needle' '$work/all.jsonl'")
view=$(median "grep -c '$needle' '$work/mnt/.all.jsonl'")
tree=$(median "grep -rl '$needle' '$work/mnt/by-id'")
echo "grep -c, plain JSON Lines file: ${plain}s"
echo "grep -c, MNT/.all.jsonl:        ${view}s ($(echo "scale=2; $view / $plain" | bc)x plain)"
echo "grep -rl, MNT/by-id:            ${tree}s ($(echo "scale=1; $tree / $view" | bc)x .all.jsonl)"

# Appending: each run adds the same 10,000 documents to a fresh copy of the store.
app=() imp=()
for r in $(seq 1 "$runs"); do
    "$bin" unmount "$work/mnt" >/dev/null
    rm -rf "$work/copy" && cp -a "$work/store" "$work/copy"
    s=$(date +%s.%N); "$bin" import "$work/copy" "$work/new.jsonl" 2>/dev/null; e=$(date +%s.%N)
    imp+=("$(echo "$e - $s" | bc)")
    rm -rf "$work/copy" && cp -a "$work/store" "$work/copy"
    "$bin" mount "$work/copy" "$work/mnt"
    s=$(date +%s.%N)
    cp "$work/new.jsonl" "$work/mnt/.append.jsonl" && echo 1 >"$work/mnt/.save"
    e=$(date +%s.%N)
    app+=("$(echo "$e - $s" | bc)")
    [ "$("$bin" unmount "$work/mnt" >/dev/null; "$bin" stat "$work/copy" | jq .length)" = $((n + 10000)) ] || {
        echo "append run $r: wrong length" >&2; exit 1; }
    "$bin" mount "$work/store" "$work/mnt"
done
mi=$(printf '%s\n' "${imp[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
ma=$(printf '%s\n' "${app[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "10,000 documents, damfs import:           ${mi}s"
echo "10,000 documents, cp to MNT/.append.jsonl: ${ma}s ($(echo "scale=2; $ma / $mi" | bc)x import)"
