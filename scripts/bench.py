#!/usr/bin/env python3
"""damfs benchmarks: the library against the original (jina 2.6.4), scaling, and the mount against
a plain directory and the FUSE floor. Driven by scripts/bench.sh, which builds the binaries and
the peer first; run this directly only to re-run parts or to redo the report (--report-only).

Everything is measured side by side in one run (machines are noisy): each figure is the median
of several runs, and ratios are taken between medians of the same run. Raw samples go to
OUT/raw.json, the report to OUT/results.md, the scaling chart to OUT/scaling.png.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / 'target' / 'release' / 'examples'
DAMFS = ROOT / 'target' / 'release' / 'damfs'


def log(*a):
    print('[bench]', *a, file=sys.stderr, flush=True)


def run_json(cmd, **kw):
    """Runs a command that prints one JSON object on its last stdout line."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f'{cmd[0]} failed ({p.returncode}): {p.stderr.strip()[-2000:]}')
    return json.loads(p.stdout.strip().splitlines()[-1])


def timed(cmd, cwd=None):
    """Wall time of a shell command (its output discarded)."""
    t = time.perf_counter()
    p = subprocess.run(['bash', '-c', 'set -o pipefail; ' + cmd], cwd=cwd,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = time.perf_counter() - t
    if p.returncode not in (0, 1):  # grep -l exits 1 when nothing matched
        raise RuntimeError(f'{cmd!r} failed ({p.returncode}): {p.stderr.strip()[-1000:]}')
    return dt


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def drop_caches():
    try:
        subprocess.run(['sync'], check=True)
        Path('/proc/sys/vm/drop_caches').write_text('3\n')
        return True
    except OSError:
        return False


def disk_free(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


# ---- library ----------------------------------------------------------------------------------

def bench_library(a, res):
    bs = EX / 'bench_store'
    w = a.work / 'lib'
    w.mkdir(parents=True, exist_ok=True)
    lib = res.setdefault('library', {'n': a.n, 'damfs': {}, 'jina': {}})
    impls = [('damfs', [bs])]
    if a.peer_python:
        impls.append(('jina', [a.peer_python, ROOT / 'scripts' / 'bench_peer.py']))
    for r in range(a.runs):
        for name, cmd in impls:
            log(f'library run {r + 1}/{a.runs}: {name}')
            d = lib[name]
            for mode, args in (('ops', [a.n, w / f'{name}-ops']),
                               ('write', [a.n, w / f'{name}-w']),
                               ('read', [w / f'{name}-w'])):
                out = run_json(cmd + [mode] + args)
                d.setdefault(mode, []).append(out)
        for name, _ in impls:
            shutil.rmtree(w / f'{name}-ops', ignore_errors=True)


# ---- scaling ----------------------------------------------------------------------------------

def bench_scaling(a, res):
    bs = EX / 'bench_store'
    sc = res.setdefault('scaling', {})
    for n in a.sizes:
        need = n * 260 + (1 << 30)
        if disk_free(a.work) < need:
            log(f'scaling {n}: skipped, {disk_free(a.work) >> 20} MiB free < {need >> 20} MiB')
            sc[str(n)] = {'skipped': 'disk short'}
            continue
        d = a.work / f'scale-{n}'
        log(f'scaling {n}: build')
        b = run_json([bs, 'build', n, d])
        probes = []
        for r in range(a.runs):
            probes.append(run_json([bs, 'probe', d]))
        sc[str(n)] = {'build': b, 'probe': probes}
        shutil.rmtree(d, ignore_errors=True)
        log(f'scaling {n}: open {median([p["open_s"] for p in probes]):.4f}s '
            f'table {probes[0]["table_bytes_per_doc"]:.1f} B/doc')


# ---- mount ------------------------------------------------------------------------------------

class Target:
    """A directory the workloads run against: plain, a floor server or a damfs mount."""

    def __init__(self, name, path, start=None, stop=None, writable=False):
        self.name, self.path, self._start, self._stop = name, Path(path), start, stop
        self.writable = writable
        self.proc = None

    def start(self):
        if self._start:
            self._start(self)

    def stop(self):
        if self._stop:
            self._stop(self)


def wait_live(path, proc=None, timeout=60):
    t = time.time()
    while time.time() - t < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f'server for {path} exited ({proc.returncode})')
        if os.path.ismount(path) and (Path(path) / 'by-id').is_dir():
            return
        time.sleep(0.02)
    raise RuntimeError(f'{path} did not come up')


def umount(path):
    for _ in range(50):
        if not os.path.ismount(path):
            return
        if subprocess.run(['umount', str(path)], stderr=subprocess.DEVNULL).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(['umount', '-l', str(path)])


def floor_target(name, store, mnt, extra):
    mnt.mkdir(parents=True, exist_ok=True)

    def start(t):
        umount(mnt)
        t.proc = subprocess.Popen([str(EX / 'fuse_floor'), str(store), str(mnt)] + extra,
                                  stderr=open(mnt.parent / f'{name}.log', 'a'))
        wait_live(mnt, t.proc)

    def stop(t):
        umount(mnt)
        if t.proc:
            t.proc.wait(timeout=30)
            t.proc = None
    return Target(name, mnt, start, stop)


def damfs_target(name, store, mnt, read_only):
    mnt.mkdir(parents=True, exist_ok=True)

    def start(t):
        umount(mnt)
        cmd = [str(DAMFS), 'mount', str(store), str(mnt)] + (['--read-only'] if read_only else [])
        tt = time.perf_counter()
        subprocess.run(cmd, check=True, stderr=open(mnt.parent / f'{name}.log', 'a'))
        wait_live(mnt)
        t.mount_s = time.perf_counter() - tt

    def stop(t):
        subprocess.run([str(DAMFS), 'unmount', str(mnt)], stderr=subprocess.DEVNULL)
        umount(mnt)
    return Target(name, mnt, start, stop, writable=not read_only)


def damfs_mount_works():
    if not DAMFS.exists() or not Path('/dev/fuse').exists():
        return False
    p = subprocess.run([str(DAMFS), 'mount', '--help'], capture_output=True, text=True)
    return p.returncode == 0 and 'read-only' in p.stdout


def daemon_rss(mnt):
    """VmRSS and VmHWM (bytes) of the process whose command line names this mountpoint."""
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f'/proc/{pid}/cmdline').read_bytes().split(b'\0')
            if str(mnt).encode() not in cmd or b'mount' not in cmd:
                continue
            st = Path(f'/proc/{pid}/status').read_text()
        except OSError:
            continue
        f = {l.split(':')[0]: l.split()[1] for l in st.splitlines() if l.startswith('Vm')}
        return int(f.get('VmRSS', 0)) * 1024, int(f.get('VmHWM', 0)) * 1024
    return None, None


READS = ['cat_all', 'ls_l', 'grep_rl', 'jq_all', 'randcat']


def read_workload(w, t, ids_file, cold=False):
    p = t.path / 'by-id'
    if w == 'cat_all':
        return {'s': timed(f'find {p} -type f -exec cat {{}} + >/dev/null')}
    if w == 'ls_l':
        return {'s': timed(f'ls -l {p} >/dev/null')}
    if w == 'grep_rl':
        return {'s': timed(f"grep -rl 'number 4242' {p}")}
    if w == 'jq_all':
        return {'s': timed(f'find {p} -type f -print0 | xargs -0 jq -c .text >/dev/null')}
    if w == 'randcat':
        extra = ['--distinct'] if cold else []
        out = run_json([EX / 'randcat', p, ids_file, 2000 if cold else 10000] + extra)
        return {'s': out['mean_s'] * out['count'], 'p50_s': out['p50_s'], 'p99_s': out['p99_s']}
    raise ValueError(w)


def bench_mount(a, res):
    if not Path('/dev/fuse').exists():
        log('mount: skipped (no /dev/fuse)')
        res['mount'] = {'skipped': 'no /dev/fuse'}
        return
    bs = EX / 'bench_store'
    m = a.work / 'mount'
    shutil.rmtree(m, ignore_errors=True)
    m.mkdir(parents=True)
    store, store_rw, plain = m / 'store', m / 'store-rw', m / 'plain'
    run_json([bs, 'build', a.mount_n, store])
    run_json([bs, 'export', store, plain])
    shutil.copytree(store, store_rw)
    ids_file = m / 'ids.txt'
    run_json([bs, 'ids', store, ids_file])
    floor_args = a.floor_args.split()
    targets = [Target('plain', plain),
               floor_target('floor', store, m / 'mnt-floor', floor_args),
               floor_target('floor_zero_open', store, m / 'mnt-floor0', floor_args + ['--zero-open']),
               # damfs's read-write settings: names cached, readers with direct I/O, a writable
               # mount (the kernel drops the atime after direct reads), no readdirplus
               floor_target('floor_rw', store, m / 'mnt-floorrw',
                            floor_args + ['--direct-io', '--rw', '--readdirplus', 'off'])]
    have_damfs = damfs_mount_works()
    if have_damfs:
        targets += [damfs_target('damfs_ro', store, m / 'mnt-ro', True),
                    damfs_target('damfs_rw', store_rw, m / 'mnt-rw', False)]
    else:
        log('mount: `damfs mount` not available yet; plain directory and floor only')
    mres = res.setdefault('mount', {'n': a.mount_n, 'damfs': have_damfs, 'warm': {}, 'cold': {},
                                    'write': {}})
    try:
        for t in targets:
            t.start()
        # Warm: before each measured run, one unmeasured run of the same workload (this VM
        # evicts idle page cache after about a minute).
        for r in range(a.runs):
            for w in READS:
                for t in targets:
                    log(f'mount warm {r + 1}/{a.runs}: {w} on {t.name}')
                    read_workload(w, t, ids_file)
                    out = read_workload(w, t, ids_file)
                    mres['warm'].setdefault(w, {}).setdefault(t.name, []).append(out)
        # Cold: drop caches and remount before each measured run.
        if a.cold_runs and drop_caches():
            for r in range(a.cold_runs):
                for w in READS:
                    for t in targets:
                        t.stop()
                        drop_caches()
                        t.start()
                        log(f'mount cold {r + 1}/{a.cold_runs}: {w} on {t.name}')
                        out = read_workload(w, t, ids_file, cold=True)
                        mres['cold'].setdefault(w, {}).setdefault(t.name, []).append(out)
        # Writes: the plain directory and the read-write mount.
        ids = ids_file.read_text().split()
        sed_names = ' '.join(ids[:1000])
        for r in range(a.runs):
            for t in [t for t in targets if t.name == 'plain' or t.writable]:
                p = t.path / 'by-id'
                log(f'mount writes {r + 1}/{a.runs} on {t.name}')
                s = timed(f"sed -i 's/number/number/' {sed_names}", cwd=p)
                mres['write'].setdefault('sed_i_1000', {}).setdefault(t.name, []).append({'s': s})
                src = m / f'new-{t.name}-{r}'
                make_new_docs(src, a.new_docs, f'{r:02d}{abs(hash(t.name)) % 100:02d}')
                s = timed(f'find {src} -type f -exec cp -t {p} {{}} +')
                mres['write'].setdefault('cp_new', {}).setdefault(t.name, []).append({'s': s})
                shutil.rmtree(src)
        rw = [t for t in targets if t.name == 'damfs_rw']
        if rw:
            mres['catch_up'] = catch_up_latency(rw[0], store_rw, m, max(5, min(30, a.runs * 6)))
        for t in targets:
            if t.name.startswith('damfs'):
                mres.setdefault('daemon_rss', {})[t.name] = daemon_rss(t.path)
    finally:
        for t in targets:
            try:
                t.stop()
            except Exception as e:  # keep unmounting the others
                log(f'stopping {t.name}: {e}')
    if have_damfs and a.big_n:
        bench_big_mount(a, res)


def catch_up_latency(t, store, work, runs):
    """How long after another process's saved change (`damfs import` of one document, whose
    process has exited) the live mount shows it, without .reload: seconds, per run."""
    out = []
    for r in range(runs):
        doc_id = f'catchup{r:04d}'.rjust(32, 'u')
        src = work / 'catchup.jsonl'
        src.write_text(json.dumps({'id': doc_id, 'text': 'from another process'}) + '\n')
        subprocess.run([str(DAMFS), 'import', str(store), str(src)], check=True,
                       stderr=subprocess.DEVNULL)
        done = time.perf_counter()
        seen = None
        while time.perf_counter() - done < 5:
            if (t.path / 'by-id' / doc_id).exists():
                seen = time.perf_counter() - done
                break
            time.sleep(0.0005)
        out.append({'s': seen})
        time.sleep(0.05)
    return out


def make_new_docs(src, n, tag):
    src.mkdir(parents=True)
    for i in range(n):
        doc_id = f'{tag}{i:08d}'.rjust(32, 'c')
        (src / doc_id).write_text(json.dumps({'id': doc_id, 'text': f'copied text number {i}'}))


def bench_big_mount(a, res):
    bs = EX / 'bench_store'
    m = a.work / 'mount-big'
    shutil.rmtree(m, ignore_errors=True)
    m.mkdir(parents=True)
    store, mnt, ids_file = m / 'store', m / 'mnt', m / 'ids.txt'
    log(f'big mount: building {a.big_n} documents')
    run_json([bs, 'build', a.big_n, store])
    run_json([bs, 'ids', store, ids_file])
    big = res.setdefault('big_mount', {'n': a.big_n, 'runs': []})
    t = damfs_target('damfs_rw', store, mnt, False)
    try:
        for r in range(a.runs):
            t.stop()
            drop_caches()
            t.start()
            out = {'mount_s': t.mount_s}
            cold = read_workload('randcat', t, ids_file, cold=True)
            out['cold_p50_s'], out['cold_p99_s'] = cold['p50_s'], cold['p99_s']
            warm = read_workload('randcat', t, ids_file)
            out['warm_p50_s'], out['warm_p99_s'] = warm['p50_s'], warm['p99_s']
            out['rss_bytes'], out['hwm_bytes'] = daemon_rss(mnt)
            log(f'big mount run {r + 1}: {out}')
            big['runs'].append(out)
    finally:
        t.stop()
        shutil.rmtree(m, ignore_errors=True)


# ---- report -----------------------------------------------------------------------------------

def fmt_s(x):
    if x is None:
        return '—'
    if x >= 1:
        return f'{x:.2f} s'
    if x >= 1e-3:
        return f'{x * 1e3:.1f} ms'
    return f'{x * 1e6:.1f} µs'


def fmt_b(x):
    if x is None:
        return '—'
    return f'{x / 1e6:.2f} MB'


def ratio_str(r):
    return '—' if r is None else f'{r:.2f}×'


def verdict(ok):
    return '—' if ok is None else ('met' if ok else '**missed**')


def report(a, res):
    lines = ['# damfs benchmark results', '',
             f'Generated by `scripts/bench.sh` on {res["meta"]["date"]} '
             f'({res["meta"]["host"]}, kernel {res["meta"]["kernel"]}, {res["meta"]["cpus"]} CPUs, '
             f'commit {res["meta"]["commit"]}). Every figure is the median of {res["meta"]["runs"]} '
             'runs unless noted; ratios are between medians of the same run, side by side. '
             'Raw samples: `raw.json`.', '']
    goals = []
    lib = res.get('library')
    if lib:
        d, j = lib['damfs'], lib.get('jina', {})

        def med(impl, mode, key):
            xs = impl.get(mode, [])
            return median([x.get(key) for x in xs]) if xs else None
        rows = [('extend (prebuilt docs)', 'ops', 'extend_s', 20),
                ('save after extend', 'ops', 'save_after_extend_s', None),
                ('open a fresh handle', 'ops', 'open_s', 50),
                ('iterate all', 'ops', 'iterate_s', 20),
                ('10,000 random gets by id', 'ops', 'get_by_id_s', 20),
                ('10,000 random gets by index', 'ops', 'get_by_index_s', 20),
                ('set 10,000', 'ops', 'set_s', 20),
                ('delete 100 from the end', 'ops', 'delete_last_s', None),
                ('prune', 'ops', 'prune_s', 20),
                ('save', 'ops', 'save_s', None),
                ('writer process: extend from a generator + save', 'write', 'write_s', None),
                ('reader process: open + iterate', 'read', 'total_s', None)]
        lines += [f'## Library vs the original (jina 2.6.4), {lib["n"]:,} documents', '',
                  '| operation | damfs | jina 2.6.4 | speed-up | goal | |',
                  '|---|---|---|---|---|---|']
        for label, mode, key, goal in rows:
            dv, jv = med(d, mode, key), med(j, mode, key)
            r = jv / dv if dv and jv else None
            ok = None if goal is None or r is None else r >= goal
            lines.append(f'| {label} | {fmt_s(dv)} | {fmt_s(jv)} | {ratio_str(r)} | '
                         f'{"≥ %d×" % goal if goal else ""} | {verdict(ok) if goal else ""} |')
            if goal:
                goals.append((f'library: {label}', ratio_str(r), f'≥ {goal}×', ok))
        lines += ['', '| size | damfs | jina 2.6.4 | ratio | goal | |', '|---|---|---|---|---|---|']
        for label, mode, key, goal, lim in (
                ('disk bytes after extend', 'ops', 'disk_bytes', 0.7, None),
                ('disk bytes after prune', 'ops', 'disk_bytes_after_prune', None, None),
                ('peak RSS, writer process', 'write', 'peak_rss_bytes', None, 10e6),
                ('peak RSS, reader process', 'read', 'peak_rss_bytes', None, 10e6),
                ('peak RSS, whole ops process (holds the prebuilt docs)', 'ops', 'peak_rss_bytes',
                 None, None)):
            dv, jv = med(d, mode, key), med(j, mode, key)
            r = dv / jv if dv and jv else None
            if goal:
                ok, gs = (None if r is None else r <= goal), f'≤ {goal}×'
            elif lim:
                ok, gs = (None if dv is None else dv <= lim), f'≤ {lim / 1e6:.0f} MB'
            else:
                ok, gs = None, ''
            lines.append(f'| {label} | {fmt_b(dv)} | {fmt_b(jv)} | {ratio_str(r)} | {gs} | '
                         f'{verdict(ok) if gs else ""} |')
            if gs:
                goals.append((f'library: {label}', fmt_b(dv) + (f' ({ratio_str(r)})' if r else ''),
                              gs, ok))
        lines.append('')
    sc = res.get('scaling')
    if sc:
        lines += ['## Scaling (damfs store, fresh process per probe)', '',
                  '| documents | build | open | RSS after open | peak RSS | disk | get by id p50 | '
                  'p99 | table bytes/doc |', '|---|---|---|---|---|---|---|---|---|']
        dat = []
        for n, v in sorted(sc.items(), key=lambda kv: int(kv[0])):
            if 'skipped' in v:
                lines.append(f'| {int(n):,} | skipped: {v["skipped"]} |||||||')
                continue
            p = v['probe']
            row = {k: median([x[k] for x in p]) for k in
                   ('open_s', 'rss_after_open_bytes', 'peak_rss_bytes', 'disk_bytes', 'get_p50_s',
                    'get_p99_s', 'table_bytes_per_doc')}
            dat.append((int(n), row))
            lines.append(f'| {int(n):,} | {fmt_s(v["build"]["build_s"])} | {fmt_s(row["open_s"])} | '
                         f'{fmt_b(row["rss_after_open_bytes"])} | {fmt_b(row["peak_rss_bytes"])} | '
                         f'{fmt_b(row["disk_bytes"])} | {fmt_s(row["get_p50_s"])} | '
                         f'{fmt_s(row["get_p99_s"])} | {row["table_bytes_per_doc"]:.1f} |')
        lines.append('')
        per_doc = {n: r['table_bytes_per_doc'] for n, r in dat}
        if 1000000 in per_doc:
            b = per_doc[1000000]
            lin = max(per_doc.values()) / min(per_doc.values()) if len(per_doc) > 1 else 1
            goals.append(('lookup table bytes/doc at 1,000,000', f'{b:.1f} B/doc',
                          '≤ 100 B/doc', b <= 100))
            lines.append(f'Lookup-table bytes/doc spread across sizes (max/min): {lin:.2f} '
                         '(1.0 = perfectly linear; hash tables grow in powers of two).')
            lines.append('')
        if dat and write_chart(a.out, dat):
            lines += ['![scaling](scaling.png)', '']
    mres = res.get('mount')
    if mres and 'skipped' not in mres:
        names = ['plain', 'floor', 'floor_zero_open', 'floor_rw', 'damfs_ro', 'damfs_rw']
        lines += [f'## The mount, {mres["n"]:,} documents', '',
                  '`floor` = minimal in-memory fuser 0.18 server with damfs\'s read-only kernel '
                  'settings (keep-cache + noflush, TTL 60 s, readdirplus, 4 threads); `floor_rw` = '
                  'the same with the open settings of damfs read-write mounts (names cached, readers '
                  'with direct I/O, a writable mount, no readdirplus; ÷frw); `floor_zero_open` = '
                  'the read-only floor answering OPEN/OPENDIR with ENOSYS (FUSE_NO_OPEN_SUPPORT). '
                  'Workloads run on `by-id/`. Ratios: vs `plain` (÷p) and vs `floor` (÷f).', '']
        if not mres.get('damfs'):
            lines += ['`damfs mount` was not available on this build: damfs columns are empty.', '']
        for kind, title in (('warm', 'Warm (page cache and dentries hot)'),
                            ('cold', 'Cold (drop_caches + remount before each run; random cat = '
                                     '2,000 distinct ids)')):
            tab = mres.get(kind, {})
            if not tab:
                continue
            lines += [f'### {title}', '', '| workload | ' + ' | '.join(names) + ' |',
                      '|---|' + '---|' * len(names)]
            for w in READS:
                cells = []
                per = tab.get(w, {})
                pm = median([x['s'] for x in per.get('plain', [])])
                fm = median([x['s'] for x in per.get('floor', [])])
                frw = median([x['s'] for x in per.get('floor_rw', [])])
                for n in names:
                    xs = per.get(n)
                    if not xs:
                        cells.append('—')
                        continue
                    if w == 'randcat':
                        v = median([x['p50_s'] for x in xs])
                        v99 = median([x['p99_s'] for x in xs])
                        pp = median([x['p50_s'] for x in per.get('plain', [])])
                        fp = median([x['p50_s'] for x in per.get('floor', [])])
                        frwp = median([x['p50_s'] for x in per.get('floor_rw', [])])
                        c = f'p50 {fmt_s(v)}, p99 {fmt_s(v99)}'
                        base_p, base_f, base_rw = pp, fp, frwp
                    else:
                        v = median([x['s'] for x in xs])
                        c = fmt_s(v)
                        base_p, base_f, base_rw = pm, fm, frw
                    if n != 'plain' and base_p:
                        c += f' ({v / base_p:.2f}÷p'
                        c += f', {v / base_f:.2f}÷f' if base_f and n != 'floor' else ''
                        c += f', {v / base_rw:.2f}÷frw)' if base_rw and n == 'damfs_rw' else ')'
                    cells.append(c)
                    if kind == 'warm' and n == 'damfs_ro' and base_p:
                        goals.append((f'mount ro warm {w} vs plain', ratio_str(v / base_p),
                                      '≤ 1.15×', v / base_p <= 1.15))
                    if kind == 'warm' and n == 'damfs_rw' and w == 'ls_l' and base_p:
                        goals.append(('mount rw warm ls_l vs plain', ratio_str(v / base_p),
                                      '≤ 1.3×', v / base_p <= 1.3))
                    elif kind == 'warm' and n == 'damfs_rw' and base_rw:
                        goals.append((f'mount rw warm {w} vs floor with the same settings',
                                      ratio_str(v / base_rw), '≤ 1.2×', v / base_rw <= 1.2))
                    if kind == 'warm' and n == 'damfs_rw' and base_p:
                        goals.append((f'mount rw warm {w} vs plain (what users feel)',
                                      ratio_str(v / base_p), '', None))
                lines.append(f'| {w} | ' + ' | '.join(cells) + ' |')
            lines.append('')
        wt = mres.get('write', {})
        if wt:
            lines += ['### Writes (warm)', '', '| workload | plain | damfs_rw | ratio | goal | |',
                      '|---|---|---|---|---|---|']
            for w, per in wt.items():
                pv = median([x['s'] for x in per.get('plain', [])])
                dv = median([x['s'] for x in per.get('damfs_rw', [])])
                r = dv / pv if dv and pv else None
                ok = None if r is None else r <= 5
                lines.append(f'| {w} | {fmt_s(pv)} | {fmt_s(dv)} | {ratio_str(r)} | ≤ 5× | '
                             f'{verdict(ok)} |')
                goals.append((f'mount write {w} vs plain', ratio_str(r), '≤ 5×', ok))
            lines.append('')
        cu = [x['s'] for x in mres.get('catch_up', []) if x['s'] is not None]
        if mres.get('catch_up'):
            missed = len(mres['catch_up']) - len(cu)
            p50 = median(cu) if cu else None
            p99 = sorted(cu)[min(len(cu) - 1, int(len(cu) * 0.99))] if cu else None
            lines += ['### Live view', '',
                      f'Another process saves a new document (`damfs import` of one line); the '
                      f'read-write mount shows it, without `.reload`, after p50 {fmt_s(p50)}, max '
                      f'{fmt_s(max(cu) if cu else None)} ({len(cu)} runs'
                      + (f', {missed} not seen within 5 s' if missed else '') + ').', '']
            goals.append(('live view catch-up p50', fmt_s(p50), '≤ 100 ms',
                          None if p50 is None else p50 <= 0.1 and missed == 0))
            goals.append(('live view catch-up max', fmt_s(p99), '≤ 1 s',
                          None if p99 is None else max(cu) <= 1 and missed == 0))
        if mres.get('daemon_rss'):
            lines += ['Daemon RSS after the workloads: ' + ', '.join(
                f'{k} {fmt_b(v[0])} (peak {fmt_b(v[1])})' for k, v in mres['daemon_rss'].items()
                if v[0]), '']
    big = res.get('big_mount')
    if big and big['runs']:
        rs = big['runs']
        mt = median([x['mount_s'] for x in rs])
        c50 = median([x['cold_p50_s'] for x in rs])
        lines += [f'## The mount at {big["n"]:,} documents (read-write, {len(rs)} runs)', '',
                  '| measure | median |', '|---|---|',
                  f'| `damfs mount` to a live mount (after drop_caches) | {fmt_s(mt)} |',
                  f'| daemon RSS (peak) | {fmt_b(median([x["rss_bytes"] for x in rs]))} '
                  f'({fmt_b(median([x["hwm_bytes"] for x in rs]))}) |',
                  f'| random cat by id, cold (2,000 distinct) p50 / p99 | {fmt_s(c50)} / '
                  f'{fmt_s(median([x["cold_p99_s"] for x in rs]))} |',
                  f'| random cat by id, warm p50 / p99 | '
                  f'{fmt_s(median([x["warm_p50_s"] for x in rs]))} / '
                  f'{fmt_s(median([x["warm_p99_s"] for x in rs]))} |', '']
        goals.append(('mount ready at 1,000,000', fmt_s(mt), '≤ 1 s', mt <= 1))
        goals.append(('random cat p50 cold at 1,000,000', fmt_s(c50), '≤ 0.2 ms', c50 <= 2e-4))
    if goals:
        lines += ['## Goals', '', '| goal | measured | target | |', '|---|---|---|---|']
        lines += [f'| {g} | {m} | {t} | {verdict(ok)} |' for g, m, t, ok in goals]
        lines.append('')
    (a.out / 'results.md').write_text('\n'.join(lines))
    log(f'wrote {a.out / "results.md"}')


def write_chart(out, dat):
    if not shutil.which('gnuplot'):
        log('gnuplot missing: no chart')
        return False
    dat_file = out / 'scaling.dat'
    with open(dat_file, 'w') as f:
        f.write('# docs open_ms rss_after_open_MB disk_MB get_p50_us get_p99_us table_B_per_doc\n')
        for n, r in dat:
            f.write(f'{n} {r["open_s"] * 1e3:.4f} {r["rss_after_open_bytes"] / 1e6:.3f} '
                    f'{r["disk_bytes"] / 1e6:.3f} {r["get_p50_s"] * 1e6:.3f} '
                    f'{r["get_p99_s"] * 1e6:.3f} {r["table_bytes_per_doc"]:.3f}\n')
    script = f'''
set terminal pngcairo size 1200,800 noenhanced font ",10"
set output "{out / 'scaling.png'}"
set multiplot layout 2,2 title "damfs scaling (documents, log scale)"
set logscale x
set grid
set key left top
set xlabel "documents"
set logscale y
set title "open time (ms)"
plot "{dat_file}" using 1:2 with linespoints title "open ms"
set title "RSS after open and disk (MB)"
plot "{dat_file}" using 1:3 with linespoints title "RSS MB", "" using 1:4 with linespoints title "disk MB"
set title "random get by id (µs)"
plot "{dat_file}" using 1:5 with linespoints title "p50", "" using 1:6 with linespoints title "p99"
unset logscale y
set yrange [0:*]
set title "lookup table bytes per document"
plot "{dat_file}" using 1:7 with linespoints title "B/doc", 100 with lines dt 2 title "goal 100"
unset multiplot
'''
    p = subprocess.run(['gnuplot'], input=script, text=True, capture_output=True)
    if p.returncode != 0:
        log('gnuplot failed: ' + p.stderr[-500:])
        return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', type=Path, default=ROOT / 'bench')
    ap.add_argument('--work', type=Path, default=Path('/var/tmp/damfs-bench'))
    ap.add_argument('--n', type=int, default=50000)
    ap.add_argument('--runs', type=int, default=5)
    ap.add_argument('--cold-runs', type=int, default=3)
    ap.add_argument('--sizes', default='10000,100000,1000000,10000000')
    ap.add_argument('--mount-n', type=int, default=50000)
    ap.add_argument('--big-n', type=int, default=1000000)
    ap.add_argument('--new-docs', type=int, default=10000)
    ap.add_argument('--peer-python', default=None)
    ap.add_argument('--floor-args', default='')
    ap.add_argument('--only', default='library,scaling,mount',
                    help='comma-separated parts to run')
    ap.add_argument('--report-only', action='store_true')
    a = ap.parse_args()
    a.sizes = [int(s) for s in a.sizes.split(',') if s]
    a.out.mkdir(parents=True, exist_ok=True)
    raw = a.out / 'raw.json'
    if a.report_only:
        report(a, json.loads(raw.read_text()))
        return
    a.work.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    res = {'meta': {'date': time.strftime('%Y-%m-%d %H:%M:%S %Z'), 'host': platform.node(),
                    'kernel': platform.release(), 'cpus': os.cpu_count(), 'commit': commit,
                    'runs': a.runs, 'argv': sys.argv[1:]}}
    parts = a.only.split(',')
    try:
        if 'library' in parts:
            bench_library(a, res)
        if 'scaling' in parts:
            bench_scaling(a, res)
        if 'mount' in parts:
            bench_mount(a, res)
    finally:
        raw.write_text(json.dumps(res, indent=1))
        report(a, res)


if __name__ == '__main__':
    main()
