#!/usr/bin/env python3
"""`damfs import` against the library's `extend`, whole process, side by side.

Both sides add the same N short documents ({"text": "short text number i"}, no ids, so both
draw fresh ids) to a fresh store and save it:

  extend  `bench_store write N DIR`: open, extend from a generator, save (examples/bench_store.rs)
  import  `damfs import DIR FILE` of a JSON Lines file holding those documents
  import (ids)  the same with ids given in the input (exercises the duplicate check)

Each is run --runs times, interleaved, and the medians and the ratio import/extend are
reported. Usage (builds in release mode first):

  python3 scripts/bench_import.py [--n 50000] [--runs 15] [--baseline OTHER_DAMFS]

--baseline adds the import of another damfs binary (an older build) to the same rounds.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(cmd):
    """Wall time and CPU time (user + system) of one run."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        sys.exit(f"{cmd[0]} failed ({status})")
    return wall, usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--baseline", help="another damfs binary whose import to time too")
    args = ap.parse_args()

    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "damfs",
                    "--example", "bench_store"], cwd=ROOT, check=True)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release"
    damfs, bench_store = target / "damfs", target / "examples" / "bench_store"

    work = Path(tempfile.mkdtemp(prefix="damfs-bench-import-", dir=ROOT / "target"))
    try:
        plain, with_ids = work / "in.jsonl", work / "in_ids.jsonl"
        with plain.open("w") as f, with_ids.open("w") as g:
            for i in range(args.n):
                text = "short text number %d" % i
                f.write(json.dumps({"text": text}) + "\n")
                g.write(json.dumps({"id": "%032x" % i, "text": text}) + "\n")
        store = work / "store"
        sides = {
            "extend": lambda: [str(bench_store), "write", str(args.n), str(store)],
            "import": lambda: [str(damfs), "import", str(store), str(plain)],
            "import (ids)": lambda: [str(damfs), "import", str(store), str(with_ids)],
        }
        if args.baseline:
            sides["baseline"] = lambda: [args.baseline, "import", str(store), str(plain)]
            sides["baseline (ids)"] = lambda: [args.baseline, "import", str(store), str(with_ids)]
        times = {k: [] for k in sides}
        for _ in range(args.runs + 1):  # the first round warms the page cache
            for name, cmd in sides.items():
                shutil.rmtree(store, ignore_errors=True)
                times[name].append(timed(cmd()))
        wall = {k: statistics.median(w for w, _ in v[1:]) for k, v in times.items()}
        cpu = {k: statistics.median(c for _, c in v[1:]) for k, v in times.items()}
        print(f"{args.n} documents, whole process, median of {args.runs} runs "
              "(wall includes save's fsyncs; CPU is user + system):")
        for name in sides:
            print(f"  {name:<15} wall {wall[name] * 1000:6.1f} ms  {wall[name] / wall['extend']:.2f}x"
                  f"   CPU {cpu[name] * 1000:6.1f} ms  {cpu[name] / cpu['extend']:.2f}x extend")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
