#!/usr/bin/env bash
# Packaging, checked the way a user meets it (called by scripts/test.sh):
#
# 1. `cargo install --path .` from a clean checkout of HEAD (git archive) into a temporary
#    root; the installed binary imports and exports a store.
# 2. The .deb built from that checkout (scripts/package.sh), installed with `dpkg -i`: its
#    files are in place, the installed unit passes `systemd-analyze verify` (its man page
#    is installed now), and the installed binary mounts a store, both as `damfs mount` and
#    as `mount -t fuse.damfs` through the installed helper (in a scratch mount namespace).
#    The package is purged again at the end.
#
# Step 2 needs root and dpkg; elsewhere it stops after building the package.
# The clean checkout builds in target/package-check (kept, so reruns are incremental).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="$repo/target/package-check"
mkdir -p "$repo/target"
work="$(mktemp -d "$repo/target/package-test.XXXXXX")"
installed=""

cleanup() {
  for m in "$work"/mnt*; do
    [ -d "$m" ] && umount -l "$m" 2>/dev/null || true
  done
  if [ -n "$installed" ]; then
    dpkg --purge damfs >/dev/null || echo "test_package.sh: could not purge damfs" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "test_package.sh: FAILED: $*" >&2; exit 1; }
step() { echo "test_package.sh: $*"; }

# ---- a clean checkout --------------------------------------------------------------------
mkdir "$work/src"
if git -C "$repo" rev-parse --verify -q HEAD >/dev/null; then
  git -C "$repo" archive --format=tar HEAD | tar -x -C "$work/src"
  step "clean checkout of $(git -C "$repo" rev-parse --short HEAD) in $work/src"
else
  tar -C "$repo" --exclude=./target --exclude=./.git -c . | tar -x -C "$work/src"
  step "copy of $repo (not a git checkout) in $work/src"
fi

# ---- 1. cargo install --path . -----------------------------------------------------------
step "cargo install --path . --root $work/root"
(cd "$work/src" && cargo install --locked --quiet --path . --root "$work/root")
bin="$work/root/bin/damfs"
[ -x "$bin" ] || fail "cargo install put no binary at $bin"
"$bin" --version | grep -qx "damfs $(sed -n 's/^version = "\(.*\)"/\1/p' "$work/src/Cargo.toml" | head -1)" \
  || fail "installed binary reports the wrong version: $("$bin" --version)"
printf '{"id":"a","text":"one"}\n{"id":"b","text":"two"}\n' > "$work/in.jsonl"
"$bin" import "$work/installed-store" "$work/in.jsonl" 2>/dev/null
cmp -s <("$bin" export "$work/installed-store") "$work/in.jsonl" \
  || fail "import + export with the installed binary changed the documents"

# ---- 2. the .deb -------------------------------------------------------------------------
step "building the .deb (scripts/package.sh --no-build)"
(cd "$work/src" && bash scripts/package.sh --no-build) > "$work/package.log" 2>&1 \
  || { cat "$work/package.log" >&2; fail "scripts/package.sh"; }
deb="$(ls "$CARGO_TARGET_DIR"/debian/damfs_*.deb | tail -1)"
[ -f "$deb" ] || fail "no .deb under $CARGO_TARGET_DIR/debian"
dpkg-deb -c "$deb" > "$work/contents"
for path in ./usr/bin/damfs ./sbin/mount.fuse.damfs ./usr/share/man/man1/damfs-mount.1.gz \
  ./usr/share/bash-completion/completions/damfs ./usr/share/zsh/vendor-completions/_damfs \
  ./usr/share/fish/vendor_completions.d/damfs.fish ./usr/lib/systemd/system/damfs@.service; do
  grep -q " $path\( \|$\)" "$work/contents" || fail "$deb lacks $path"
done
step "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null; then
  step "skipping dpkg -i and the mounts: they need root and dpkg"
  exit 0
fi
if dpkg -s damfs >/dev/null 2>&1; then
  fail "a damfs package is installed already; remove it (dpkg --purge damfs) to run this test"
fi

# One package test at a time on a machine (dpkg has one lock; the package is system-wide).
exec 9> /tmp/damfs-test-package.lock
flock 9
step "dpkg -i $(basename "$deb")"
installed=1
dpkg -i "$deb" > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }

[ "$(readlink /sbin/mount.fuse.damfs)" = /usr/bin/damfs ] || fail "/sbin/mount.fuse.damfs is not a link to /usr/bin/damfs"
/usr/bin/damfs --version >/dev/null || fail "/usr/bin/damfs does not run"
# Minimal container images tell dpkg to drop man pages (path-exclude): then skip that part.
verify_man=yes
if grep -qs '^path-exclude=/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
  step "dpkg here excludes /usr/share/man: man pages not checked"
  verify_man=no
else
  man -w damfs-mount >/dev/null 2>&1 || fail "man damfs-mount is not installed"
fi
bash -c 'source /usr/share/bash-completion/completions/damfs && declare -F _damfs >/dev/null' \
  || fail "the bash completion does not load"
if command -v systemd-analyze >/dev/null; then
  (cd /usr/lib/systemd/system && systemd-analyze verify --man="$verify_man" damfs@srv-docs.service) \
    > "$work/verify.log" 2>&1 \
    || { cat "$work/verify.log" >&2; fail "systemd-analyze verify of the installed unit"; }
  [ ! -s "$work/verify.log" ] || { cat "$work/verify.log" >&2; fail "systemd-analyze verify warns"; }
  step "installed damfs@.service passes systemd-analyze verify"
else
  step "systemd-analyze is not installed: unit not verified"
fi

if [ ! -c /dev/fuse ]; then
  step "skipping the mounts: no /dev/fuse"
  exit 0
fi
store="$work/store"
mkdir "$work/mnt" "$work/mnt2"
printf '{"id":"a","text":"one"}\n{"id":"b","text":"two"}\n' | /usr/bin/damfs put "$store" >/dev/null 2>&1
/usr/bin/damfs mount "$store" "$work/mnt" --log-file "$work/daemon.log"
[ "$(cat "$work/mnt/by-id/b")" = '{"id":"b","text":"two"}' ] || fail "the installed binary's mount shows the wrong document"
printf '%s' '{"id":"a","text":"changed through the mount"}' > "$work/mnt/0"
/usr/bin/damfs unmount "$work/mnt"
[ "$(/usr/bin/damfs get "$store" a)" = '{"id":"a","text":"changed through the mount"}' ] \
  || fail "a write through the installed binary's mount was not saved"
step "the installed binary mounts a store (damfs mount / unmount)"

out="$(unshare -m --propagation private bash -c '
  set -e
  mount -t fuse.damfs "$1" "$2" -o ro,pool_size=5,_netdev,nofail
  cat "$2/by-id/a"; echo
  grep -o "\"pool_size\": [0-9]*" "$2/.stats"
  umount "$2"
' _ "$store" "$work/mnt2" 2>&1)" || fail "mount -t fuse.damfs through the installed helper: $out"
case "$out" in
  *'{"id":"a","text":"changed through the mount"}'*'"pool_size": 5'*) ;;
  *) fail "mount -t fuse.damfs showed: $out" ;;
esac
step "the installed helper mounts with mount -t fuse.damfs -o ro,pool_size=5"
step "ok"
