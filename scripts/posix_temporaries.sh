#!/usr/bin/env bash
# POSIX on temporaries: runs fsx (the File System eXerciser, Rust port, crates.io `fsx`) on
# temporary files of a live damfs mount, which are meant to behave as ordinary files: random
# pread/pwrite, mmap reads and writes, truncation, close/reopen, fsync/fdatasync,
# posix_fallocate, sendfile, copy_file_range, posix_fadvise, each read checked against
# fsx's model of the file. One run per kind of temporary name (README, "Temporary files"):
# mktemp's tmp.* in / and /by-id/, vim's .x.swp and x~, sed's sedXXXXXX, emacs's #x#, a
# position past the end (vim's 4913 probe), x.tmp.
#
# Operations listed in scripts/posix_temporaries.expected are left out, with the reason
# printed, and each is checked to still fail.
#
#   bash scripts/posix_temporaries.sh           # CI: 3,000 operations per file (seconds)
#   bash scripts/posix_temporaries.sh --full    # 50,000 operations per file, 1 MiB files
#   FSX_SEED=N FSX_OPS=N FSX_FLEN=BYTES         # other seeds (default 1, 2, ...), sizes
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

ops=3000
flen=262144
if [ "${1:-}" = "--full" ]; then
  ops=50000
  flen=1048576
fi
ops=${FSX_OPS:-$ops}
flen=${FSX_FLEN:-$flen}

# The damfs binary under test, and fsx (installed once into target/tools).
cargo build --quiet --bin damfs
damfs=$root/target/debug/damfs
fsx=$root/target/tools/bin/fsx
if [ ! -x "$fsx" ]; then
  echo "posix_temporaries: installing fsx 0.3.2 into target/tools"
  cargo install --quiet --locked fsx --version 0.3.2 --root "$root/target/tools"
fi

work=$(mktemp -d "$root/target/posix-temporaries.XXXXXX")
mnt=$work/mnt
mkdir -p "$mnt" "$work/artifacts"
cleanup() {
  "$damfs" unmount "$mnt" >/dev/null 2>&1 || umount -l "$mnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
printf '{"id":"doc0","text":"a document"}\n' | "$damfs" import "$work/store" - 2>/dev/null
"$damfs" mount "$work/store" "$mnt" --log-file "$work/damfs.log"

# Every fsx operation and its weight; the expected failures get weight 0.
declare -A weight=(
  [close_open]=1 [read]=10 [write]=10 [mapread]=10 [mapwrite]=10 [invalidate]=1
  [truncate]=2 [fsync]=1 [fdatasync]=1 [posix_fallocate]=1 [punch_hole]=1 [sendfile]=1
  [posix_fadvise]=1 [copy_file_range]=1
)
excluded=()
while read -r op why; do
  case "$op" in "" | "#"*) continue ;; esac
  [ -n "${weight[$op]:-}" ] || { echo "posix_temporaries.expected: unknown fsx operation $op" >&2; exit 1; }
  echo "excluded: $op — $why"
  weight[$op]=0
  excluded+=("$op")
done <scripts/posix_temporaries.expected

config() { # config FILE [OP]: every included operation (and OP, although excluded)
  local op
  {
    echo "flen = $flen"
    echo "[weights]"
    for op in "${!weight[@]}"; do
      if [ "$op" = "${2:-}" ]; then
        echo "$op = 5"
      else
        echo "$op = ${weight[$op]}"
      fi
    done
  } >"$1"
}
config "$work/fsx.toml"

names=(tmp.fsx by-id/tmp.fsx by-id/.fsx.swp 'fsx~' by-id/sedFsX123 '#fsx#' 4913 by-id/fsx.tmp)
passed=0
failed=0
seed=${FSX_SEED:-0}
for name in "${names[@]}"; do
  seed=$((seed + 1))
  start=$(date +%s%N)
  if "$fsx" -f "$work/fsx.toml" -N "$ops" -S "$seed" -P "$work/artifacts" "$mnt/$name" \
    >"$work/fsx.out" 2>&1; then
    passed=$((passed + 1))
    printf 'ok    %-16s %d operations, seed %d, %d ms\n' "$name" "$ops" "$seed" \
      $((($(date +%s%N) - start) / 1000000))
  else
    failed=$((failed + 1))
    echo "FAIL  $name (seed $seed): fsx said:"
    tail -40 "$work/fsx.out"
  fi
  rm -f "$mnt/$name"
done

# Each expected failure must still fail, else the list is out of date.
for op in "${excluded[@]}"; do
  config "$work/only-$op.toml" "$op"
  if "$fsx" -f "$work/only-$op.toml" -N 2000 -S 1 -P "$work/artifacts" "$mnt/tmp.only-$op" \
    >"$work/fsx.out" 2>&1; then
    failed=$((failed + 1))
    echo "FAIL  $op now works on temporaries: remove it from scripts/posix_temporaries.expected"
  else
    echo "ok    $op still fails as expected ($(grep -oE 'E[A-Z]{4,}' "$work/fsx.out" | head -1))"
  fi
done

# The mount is still healthy, and the document untouched.
[ "$(cat "$mnt/0")" = '{"id":"doc0","text":"a document"}' ] || { echo "FAIL  the document changed" >&2; failed=$((failed + 1)); }
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
