#!/usr/bin/python3
"""ckptfs benchmark harness: run by tools/bench/run.sh, which builds the
binaries, makes WORK (native dirs and stores side by side on one
filesystem) and cleans up mounts/daemons whatever happens.

Every workload runs on the native filesystem and on a ckptfs mount in the
same run, interleaved (the side that goes first alternates by repetition);
the table shows median [min-max] over the repetitions and the ratio
ckptfs / native of the medians. Environment: CKPTFS CKPT MKMANY NOSYNC WORK
QUICK (1 = quick), BENCH_ONLY (comma list of write,read,series,meta,commit,rss,many,pg,rados),
BENCH_PG (libpq conninfo of a private PostgreSQL, for pg; run.sh sets it),
BENCH_CEPH (pool=P,conf=F,id=I,keyring=K of a private Ceph cluster, for rados; run.sh sets it),
BENCH_PERF (1 = perf-profile the daemon during the first 1 GiB write),
PEERFS (bench-peerfs, a minimal passthrough FUSE filesystem: set by run.sh
--peer, it adds a third side, "peer", to the write and read workloads, 1, 2
and 8: the same bytes through a FUSE mount of a native directory, so the
table shows the FUSE transport's own cost beside ckptfs's), BENCH_PEER_OPTS
(its -o options).
"""
import glob
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import threading
import time
import traceback

import numpy as np

CKPTFS = os.environ["CKPTFS"]
CKPT = os.environ["CKPT"]
MKMANY = os.environ["MKMANY"]
NOSYNC = os.environ.get("NOSYNC", "")
WORK = os.environ["WORK"]
QUICK = os.environ.get("QUICK") == "1"
ONLY = [w for w in os.environ.get("BENCH_ONLY", "").split(",") if w]
PERF = os.environ.get("BENCH_PERF") == "1"
PEERFS = os.environ.get("PEERFS", "")
PEER_OPTS = os.environ.get("BENCH_PEER_OPTS", "")  # -o for bench-peerfs, e.g. ra_kb=4096,max_threads=32

MiB = 1 << 20
GiB = 1 << 30
REPS = 1 if QUICK else 3
S = dict(
    write=256 * MiB if QUICK else GiB,    # workload 1/2 file size
    ndir=8,                               # files in the directory checkpoint
    series_tensors=20 if QUICK else 50,   # x 1024 columns float32 each
    series_rows=1280,                     # 5 MiB tensors: 250 MiB (quick 100 MiB)
    series_steps=10,
    meta_counts=[10, 1000, 10000] if QUICK else [10, 1000, 10000, 100000],
    stat_iters=2000,
    ls_n=10000,
    ls_reps=3 if QUICK else 5,
    commits=100,
    commit_bytes=64 * 1024,
    rss_bytes=2 * GiB if QUICK else 10 * GiB,
    many_files=20000 if QUICK else 100000,  # 7: small files into one directory checkpoint
    many_bytes=4096,
    many_ls=10000,                        # ls -l of the checkpoint root at this many entries
    read_small=100 * MiB,                 # 8: cold read of a small single-file checkpoint
    read_par=64,                          # 8: concurrent readers, one file each
    read_par_bytes=(4 if QUICK else 16) * MiB,  # each reader's file
    pg_commits=200,                       # 9: SQLite vs PostgreSQL index
    pg_commit_bytes=4096,
    pg_vis=100,                           # 9: commits on A seen on B
    rados_inflight=8,                     # 10: chunk objects in flight (the rados spec's inflight=)
)
for k in list(S):  # BENCH_<KEY>=value overrides (ints; meta_counts: a,b,c)
    v = os.environ.get("BENCH_" + k.upper())
    if v:
        S[k] = [int(x) for x in v.split(",")] if k == "meta_counts" else int(v)

ROWS = []     # table rows
RATIOS = []   # (label, value) for the final line
PEER_RATIOS = []  # (label, ckptfs / peer, peer / native) with PEERFS
NOTES = []


def log(*a):
    print("#", *a, flush=True)


def now():
    return time.perf_counter()


# ---------------------------------------------------------------- statistics
def med(xs):
    return statistics.median(xs) if xs else float("nan")


def pct(xs, p):
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[k]


def fmt(x):
    if x is None or (isinstance(x, float) and x != x):
        return "-"
    ax = abs(x)
    if ax >= 1000:
        return "%.0f" % x
    if ax >= 100:
        return "%.1f" % x
    if ax >= 10:
        return "%.2f" % x
    return "%.3g" % x


def span(xs):
    if not xs:
        return "-"
    if len(xs) == 1:
        return fmt(xs[0])
    return "%s [%s-%s]" % (fmt(med(xs)), fmt(min(xs)), fmt(max(xs)))


def quot(a, b):
    """med(a) / med(b), None without both."""
    return med(a) / med(b) if a and b and med(b) else None


def row(name, unit, nat, ck, ratio=None, target="", ok=None, ratio_label=None, peer=None):
    """nat/ck/peer: lists of values (or None). ratio defaults to med(ck)/med(nat).
    With PEERFS every row also has the peer column, ckptfs / peer and peer / native."""
    if ratio is None and nat and ck:
        ratio = med(ck) / med(nat) if med(nat) else float("nan")
    status = "" if ok is None else ("PASS" if ok else "MISS")
    cols = [name, unit, span(nat) if nat else "-", span(ck) if ck else "-", fmt(ratio) if ratio is not None else "-"]
    if PEERFS:
        cp, pn = quot(ck, peer), quot(peer, nat)
        cols += [span(peer) if peer else "-", fmt(cp) if cp else "-", fmt(pn) if pn else "-"]
        if ratio_label and cp:
            PEER_RATIOS.append((ratio_label, cp, pn))
    ROWS.append(tuple(cols + [target, status]))
    if ratio_label and ratio is not None:
        RATIOS.append((ratio_label, ratio))


def info(text):
    """A detail line under the previous row (does not set column widths)."""
    ROWS.append(("      " + text,))


def print_table():
    hdr = ("workload", "unit", "native med [min-max]", "ckptfs med [min-max]", "ratio", "target", "")
    if PEERFS:
        hdr = hdr[:4] + ("ck/nat", "peer med [min-max]", "ck/peer", "peer/nat") + hdr[5:]
    w = [max(len(str(r[i])) for r in [x for x in ROWS if len(x) > 1] + [hdr]) for i in range(len(hdr))]
    line = lambda r: "  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)).rstrip()
    print()
    print(line(hdr))
    print("  ".join("-" * x for x in w))
    for r in ROWS:
        print(line(r) if len(r) > 1 else r[0])
    print()
    for n in NOTES:
        print("note:", n)
    print("RATIOS (ckptfs / native): " + "  ".join("%s=%s" % (k, fmt(v)) for k, v in RATIOS))
    if PEERFS:
        print("RATIOS (ckptfs / peer): " + "  ".join("%s=%s" % (k, fmt(v)) for k, v, _ in PEER_RATIOS))
        print("RATIOS (peer / native): " + "  ".join("%s=%s" % (k, fmt(v)) for k, _, v in PEER_RATIOS))
    sys.stdout.flush()


# ---------------------------------------------------------------- mounts
MOUNTS = []


def mounted(path):
    try:
        with open("/proc/self/mountinfo") as f:
            for ln in f:
                if ln.split()[4] == path:
                    return True
    except OSError:
        pass
    return False


class Mount:
    def __init__(self, tag, store=None, opts=None, prog=None):
        """prog STORE MNT -f [-o opts]; prog: ckptfs, or bench-peerfs with a
        native directory as STORE."""
        self.tag = tag
        self.store = store or os.path.join(WORK, "store-" + tag)
        self.mnt = os.path.join(WORK, "mnt-" + tag)
        os.makedirs(self.mnt, exist_ok=True)
        prog = prog or CKPTFS
        self.logpath = os.path.join(WORK, "%s-%s.log" % (os.path.basename(prog), tag))
        args = [prog, self.store, self.mnt, "-f"] + (["-o", opts] if opts else [])
        with open(os.path.join(WORK, "mounts"), "a") as f:
            f.write(self.mnt + "\n")
        t0 = now()
        with open(self.logpath, "ab") as lf:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=lf, stderr=lf)
        with open(os.path.join(WORK, "pids"), "a") as f:
            f.write("%d\n" % self.proc.pid)
        MOUNTS.append(self)
        deadline = time.time() + 120
        while not mounted(self.mnt):
            if self.proc.poll() is not None:
                MOUNTS.remove(self)
                raise RuntimeError("%s exited with %s: %s" % (args[0], self.proc.returncode, self.logtail()))
            if time.time() > deadline:
                raise RuntimeError("mount did not appear in 120 s")
            time.sleep(0.005)
        self.mount_s = now() - t0
        self.pid = self.proc.pid

    def logtail(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read()[-600:].decode(errors="replace").strip()
        except OSError:
            return ""

    def status(self, key):
        """kB value of a /proc/PID/status line (VmHWM, VmRSS)."""
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for ln in f:
                    if ln.startswith(key + ":"):
                        return int(ln.split()[1])
        except OSError:
            pass
        return None

    def latest_name(self):
        try:
            with open(os.path.join(self.mnt, ".ckptfs", "latest")) as f:
                return f.read().strip()
        except OSError:
            return None

    def wait_latest(self, name, timeout=30.0):
        """Seconds until .ckptfs/latest names `name`, or None on timeout."""
        t0 = now()
        while True:
            if self.latest_name() == name:
                return now() - t0
            if now() - t0 > timeout:
                return None
            time.sleep(0.0002)

    def umount(self):
        if self.proc is None:
            return
        for _ in range(50):
            r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True)
            if r.returncode == 0 or not mounted(self.mnt):
                break
            time.sleep(0.2)
        else:
            subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True)
        try:
            self.proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self in MOUNTS:
            MOUNTS.remove(self)
        self.proc = None


def rmtree(path):
    subprocess.run(["rm", "-rf", "--one-file-system", path])


# ---------------------------------------------------------------- I/O helpers
def drop_caches():
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def write_file(path, mv, fsync=True, bs=MiB):
    """Seconds from open to the end of close (close commits a file checkpoint)."""
    t0 = now()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        off, n = 0, len(mv)
        while off < n:
            off += os.write(fd, mv[off:off + bs])
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return now() - t0


def read_file(path, bs=MiB):
    buf = bytearray(bs)
    total = 0
    t0 = now()
    fd = os.open(path, os.O_RDONLY)
    try:
        while True:
            n = os.readv(fd, [buf])
            if n == 0:
                break
            total += n
    finally:
        os.close(fd)
    return now() - t0, total


def big_write_read(m, mv, out, side):
    """Writes mv as the single-file checkpoint big.bin through mount m, waits
    for it to be latest, reads it back cold through latest: MB/s into
    out["w"] and out["r"]."""
    size = len(mv)
    os.sync()
    t = write_file(os.path.join(m.mnt, "big.bin"), mv)
    out["w"].append(size / t / 1e6)
    if m.wait_latest("big.bin", timeout=120) is None:
        raise RuntimeError("%s: big.bin never became latest" % side)
    drop_caches()
    t, got = read_file(os.path.join(m.mnt, "latest"))
    if got != size:
        raise RuntimeError("%s: read %d bytes through latest, expected %d" % (side, got, size))
    out["r"].append(size / t / 1e6)


def du_sb(path):
    r = subprocess.run(["du", "-sb", path], capture_output=True, text=True)
    try:
        return int(r.stdout.split()[0])
    except (IndexError, ValueError):
        return None


def ckpt_stats(store):
    try:
        r = subprocess.run([CKPT, "stats", store, "--json"], capture_output=True, text=True, timeout=120)
        return json.loads(r.stdout)
    except Exception:
        return None


def random_u64(rng, nbytes):
    return rng.integers(0, 2**64 - 1, size=nbytes // 8, dtype=np.uint64, endpoint=True)


def sides(r, peer=False):
    """The order of the sides in repetition r: rotated by r, so each goes
    first in turn; peer (with PEERFS) adds the peer side."""
    names = ("nat", "ck", "peer") if peer and PEERFS else ("nat", "ck")
    k = r % len(names)
    return names[k:] + names[:k]


def peer_mount(tag, src):
    """A bench-peerfs mount of the native directory src, or None without PEERFS."""
    if not PEERFS:
        return None
    p = Mount("peer-" + tag, store=src, prog=PEERFS, opts=PEER_OPTS or None)  # mnt-peer-TAG
    log("peer %s: bench-peerfs %s on %s, pid %d" % (tag, src, p.mnt, p.pid))
    return p


# ---------------------------------------------------------------- 1+2: write, read
def w_write():
    size, nd = S["write"], S["ndir"]
    part = size // nd
    natdir = os.path.join(WORK, "native-rw")
    os.makedirs(natdir, exist_ok=True)
    m = Mount("rw")
    log("mounted rw in %.3f s; daemon pid %d" % (m.mount_s, m.pid))
    rng = np.random.default_rng(1001)
    R = {k: [] for k in ("file_nat", "file_ck", "file_peer", "dir_nat", "dir_ck", "dir_peer", "dir_vis", "file_vis")}
    perf_done = not PERF
    peer, peer_src = None, os.path.join(WORK, "peer-rw")  # peer: its own native dir, the same names
    try:
        if PEERFS:
            os.makedirs(peer_src)
            peer = peer_mount("rw", peer_src)
        roots = {"nat": natdir, "ck": m.mnt, "peer": peer.mnt if peer else None}
        for r in range(REPS):
            # directory checkpoint of nd files, each fsync'd
            data = random_u64(rng, size)
            mv = memoryview(data).cast("B")
            for side in sides(r, peer=True):
                d = os.path.join(roots[side], "wdir-%d" % r)
                os.sync()
                t0 = now()
                os.mkdir(d)
                for k in range(nd):
                    write_file(os.path.join(d, "part-%d.bin" % k), mv[k * part:(k + 1) * part])
                t = now() - t0
                R["dir_" + side].append(size / t / 1e6)
                if side == "ck":
                    vis = m.wait_latest("wdir-%d" % r, timeout=120)
                    R["dir_vis"].append(vis if vis is not None else float("nan"))
                log("rep %d dir  %-4s %.2f s  %.0f MB/s" % (r, side, t, size / t / 1e6))
            mv.release()
            del data
            # single-file checkpoint
            data = random_u64(rng, size)
            mv = memoryview(data).cast("B")
            for side in sides(r + 1, peer=True):
                p = os.path.join(roots[side], "w1g-%d.bin" % r)
                os.sync()
                perf = None
                if side == "ck" and not perf_done:
                    perf = start_perf(m, "write")
                t = write_file(p, mv)
                if perf:
                    stop_perf(perf)
                    perf_done = True
                R["file_" + side].append(size / t / 1e6)
                if side == "ck":
                    vis = m.wait_latest("w1g-%d.bin" % r, timeout=60)
                    R["file_vis"].append(vis if vis is not None else float("nan"))
                log("rep %d file %-4s %.2f s  %.0f MB/s" % (r, side, t, size / t / 1e6))
            mv.release()
            del data
        sz = "%d MiB" % (size // MiB)
        rn, rc = R["file_nat"], R["file_ck"]
        ratio = med(rc) / med(rn)
        row("1a seq write %s file ckpt (fsync)" % sz, "MB/s", rn, rc, target=">=0.5x", ok=ratio >= 0.5,
            ratio_label="write_file", peer=R["file_peer"])
        rn, rc = R["dir_nat"], R["dir_ck"]
        ratio = med(rc) / med(rn)
        row("1b seq write %s dir ckpt, %d files" % (sz, nd), "MB/s", rn, rc, target=">=0.5x",
            ok=ratio >= 0.5, ratio_label="write_dir", peer=R["dir_peer"])
        row("   dir ckpt: last close -> latest", "s", None, R["dir_vis"], target="(settle_ms)")

        # 2: read back via latest (the newest checkpoint is the last single file)
        last = "w1g-%d.bin" % (REPS - 1)
        lat = m.latest_name()
        if lat != last:
            NOTES.append("latest is %r, expected %r" % (lat, last))
        paths = {"nat": os.path.join(natdir, last), "ck": os.path.join(m.mnt, "latest"),
                 "peer": os.path.join(roots["peer"] or "", last)}  # peer: its own copy of the same bytes
        C = {k + "_" + sd: [] for k in ("cold", "warm", "warm2") for sd in ("nat", "ck", "peer")}
        dropped = True
        for r in range(REPS):
            for side in sides(r, peer=True):
                p = paths[side]
                dropped = drop_caches() and dropped
                t, n = read_file(p)
                if n != size:
                    raise RuntimeError("read %d bytes of %s, expected %d" % (n, p, size))
                C["cold_" + side].append(size / t / 1e6)
                t2, n = read_file(p)
                C["warm_" + side].append(size / t2 / 1e6)
                # A second re-read: the first one also moves every cached page
                # to the active LRU list, a per-4 KiB-page cost on a FUSE mount
                # (order-0 folios) that ext4's large folios mostly avoid.
                t3, n = read_file(p)
                C["warm2_" + side].append(size / t3 / 1e6)
                log("rep %d read %-4s cold %.0f MB/s warm %.0f MB/s warm again %.0f MB/s"
                    % (r, side, size / t / 1e6, size / t2 / 1e6, size / t3 / 1e6))
        if not dropped:
            NOTES.append("drop_caches not permitted: cold reads are not cold")
        ratio = med(C["cold_ck"]) / med(C["cold_nat"])
        row("2a seq read %s via latest, cold" % sz, "MB/s", C["cold_nat"], C["cold_ck"], target=">=0.6x",
            ok=ratio >= 0.6, ratio_label="read_cold", peer=C["cold_peer"])
        ratio = med(C["warm_ck"]) / med(C["warm_nat"])
        row("2b seq read %s via latest, warm" % sz, "MB/s", C["warm_nat"], C["warm_ck"], target=">=0.5x",
            ok=ratio >= 0.5, ratio_label="read_warm", peer=C["warm_peer"])
        row("2c   the same, read a third time", "MB/s", C["warm2_nat"], C["warm2_ck"], target="(info)",
            peer=C["warm2_peer"])
    finally:
        if peer:
            peer.umount()
        m.umount()
        rmtree(m.store)
        rmtree(natdir)
        rmtree(peer_src)


def start_perf(m, tag):
    out = os.path.join(WORK, "perf-%s.data" % tag)
    p = subprocess.Popen(["perf", "record", "-F", "499", "-g", "-p", str(m.pid), "-o", out],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return (p, out, tag)


def stop_perf(h):
    p, out, tag = h
    p.send_signal(2)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    r = subprocess.run(["perf", "report", "-i", out, "--stdio", "--no-children", "--sort", "dso,sym",
                        "-g", "none", "--percent-limit", "1.5"], capture_output=True, text=True)
    lines = [ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith("#")]
    NOTES.append("perf (daemon, %s, self time >=1.5%%):\n      " % tag + "\n      ".join(lines[:25]))


# ---------------------------------------------------------------- 3: series
def series_layout(T, rows):
    cols = 1024
    tb = rows * cols * 4
    hdr = {"__metadata__": {"format": "pt", "step": "%08d" % 0}}
    for i in range(T):
        hdr["layer.%02d.weight" % i] = {"dtype": "F32", "shape": [rows, cols],
                                        "data_offsets": [i * tb, (i + 1) * tb]}
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    return h, tb


def w_series():
    T, rows, steps = S["series_tensors"], S["series_rows"], S["series_steps"]
    h, tb = series_layout(T, rows)
    hlen = len(h)
    total = 8 + hlen + T * tb
    nchg = max(1, T // 10)
    NOTES.append("series: safetensors file of %d float32 tensors x %.2f MiB (%.1f MiB; header %d B, so tensors "
                 "start at a non-1 MiB-aligned offset), %d tensors (%d%%) re-drawn per step; single-file "
                 "checkpoints model-step=N.safetensors" % (T, tb / MiB, total / MiB, 8 + hlen, nchg,
                                                           100 * nchg // T))
    per = {k: [[] for _ in range(steps)] for k in ("t_nat", "t_ck", "du_ck", "st_ck", "du_nat")}
    speedups, growth, vs_native, first_ck, first_nat = [], [], [], [], []
    for r in range(REPS):
        rng = np.random.default_rng(2000 + r)
        buf = bytearray(total)
        buf[0:8] = hlen.to_bytes(8, "little")
        buf[8:8 + hlen] = h
        arr = np.frombuffer(buf, dtype=np.float32, offset=8 + hlen).reshape(T, rows * 1024)
        stepoff = h.index(b'"step":"') + len(b'"step":"') + 8
        natdir = os.path.join(WORK, "native-series-%d" % r)
        os.makedirs(natdir)
        m = Mount("series-%d" % r)
        try:
            for s in range(steps):
                if s == 0:
                    arr[:] = rng.standard_normal(arr.shape, dtype=np.float32)
                else:
                    idx = rng.choice(T, nchg, replace=False)
                    arr[idx] = rng.standard_normal((nchg, rows * 1024), dtype=np.float32)
                buf[stepoff:stepoff + 8] = b"%08d" % (s + 1)
                name = "model-step=%d.safetensors" % (s + 1)
                mv = memoryview(buf)
                for side in sides(r + s):
                    os.sync()
                    t = write_file(os.path.join(natdir if side == "nat" else m.mnt, name), mv)
                    per["t_" + side][s].append(t)
                    if side == "ck" and m.wait_latest(name, timeout=60) is None:
                        NOTES.append("series: %s never became latest" % name)
                mv.release()
                per["du_ck"][s].append(du_sb(m.store))
                st = ckpt_stats(m.store)
                per["st_ck"][s].append(st.get("stored_bytes") if st else None)
                per["du_nat"][s].append(du_sb(natdir))
                log("rep %d step %d write nat %.2f s ck %.2f s; stored ck %s B (stats %s) native %s B" % (
                    r, s + 1, per["t_nat"][s][-1], per["t_ck"][s][-1], per["du_ck"][s][-1],
                    per["st_ck"][s][-1], per["du_nat"][s][-1]))
        finally:
            del arr
            m.umount()
            rmtree(m.store)
            rmtree(natdir)
        tn = [per["t_nat"][s][-1] for s in range(steps)]
        tc = [per["t_ck"][s][-1] for s in range(steps)]
        first_ck.append(tc[0])
        first_nat.append(tn[0])
        speedups.append(tc[0] / med(tc[1:]))
        dck = [per["du_ck"][s][-1] for s in range(steps)]
        growth.append(dck[-1] / dck[0])
        vs_native.append(dck[-1] / per["du_nat"][steps - 1][-1])
    mb = total / 1e6
    row("3a series: write step 1 (all new)", "MB/s", [mb / t for t in first_nat], [mb / t for t in first_ck])
    later_n = [mb / med([per["t_nat"][s][r] for s in range(1, steps)]) for r in range(REPS)]
    later_c = [mb / med([per["t_ck"][s][r] for s in range(1, steps)]) for r in range(REPS)]
    row("3b series: write steps 2-%d (90%% same)" % steps, "MB/s", later_n, later_c, ratio_label="series_write")
    row("3c series: step-1 time / steps-2.. time", "x", None, speedups, ratio=None, target=">=1.5x",
        ok=med(speedups) >= 1.5)
    row("3d series: stored after %d / after 1" % steps, "x", None, growth, target="<=2.0x",
        ok=med(growth) <= 2.0)
    row("3e series: stored after %d, vs native du" % steps, "x", None, vs_native, ratio=med(vs_native),
        ratio_label="series_stored")
    # per-step detail (medians over reps)
    info("per step (medians): write s native / ckptfs | stored MiB: ckptfs du, ckpt stats stored_bytes, native du")
    for s in range(steps):
        st = [x for x in per["st_ck"][s] if x is not None]
        info("step %2d: %6s / %-6s | %8s %8s %8s" % (
            s + 1, fmt(med(per["t_nat"][s])), fmt(med(per["t_ck"][s])),
            fmt(med(per["du_ck"][s]) / MiB), fmt(med(st) / MiB) if st else "-",
            fmt(med(per["du_nat"][s]) / MiB)))


# ---------------------------------------------------------------- 4: metadata
def stat_loop(paths, iters):
    """Interleaved os.stat of each path; per-path list of ns latencies."""
    out = [[] for _ in paths]
    pc = time.perf_counter_ns
    for p in paths:  # warm-up
        for _ in range(50):
            os.stat(p)
    n = len(paths)
    for i in range(iters):
        for j in range(n):
            k = (i + j) % n
            t0 = pc()
            os.stat(paths[k])
            out[k].append(pc() - t0)
    return out


def time_cmd(argv):
    t0 = now()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return now() - t0


def w_meta():
    counts = sorted(S["meta_counts"])
    store = os.path.join(WORK, "store-meta")
    natdir = os.path.join(WORK, "native-meta")
    os.makedirs(os.path.join(natdir, "ckpt-0000000"))
    with open(os.path.join(natdir, "ckpt-0000000", "model.bin"), "wb") as f:
        f.write(b"\0" * 4096)
    nat_file = os.path.join(natdir, "ckpt-0000000", "model.bin")
    env = dict(os.environ)
    if NOSYNC:
        env["LD_PRELOAD"] = NOSYNC
    NOTES.append("metadata: checkpoints ckpt-NNNNNNN/model.bin (4 KiB, shared chunk) built through the core API "
                 "(tools/bench/mkmany.c linked with libckptcore.a; fsync no-op'd by nosync.so while building), "
                 "one store grown between mounts; name stat = the newest checkpoint's name (same target as latest)")
    have = 0
    ls_rows = None
    lat_p50 = {}
    res = []
    stop = None
    try:
        for N in counts:
            t0 = now()
            r = subprocess.run([MKMANY, store, str(have), str(N)], env=env, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError("mkmany: " + (r.stderr or r.stdout).strip())
            build_s = now() - t0
            have = N
            m = Mount("meta", store=store)
            try:
                newest = "ckpt-%07d" % (N - 1)
                if m.latest_name() != newest:
                    NOTES.append("meta %d: latest is %r, expected %r" % (N, m.latest_name(), newest))
                lat = os.path.join(m.mnt, "latest", "model.bin")
                nam = os.path.join(m.mnt, newest, "model.bin")
                ls_lat, ls_nam, ls_nat = stat_loop([lat, nam, nat_file], S["stat_iters"])
                us = lambda xs, p: pct(xs, p) / 1000.0
                res.append((N, build_s, m.mount_s, ls_lat, ls_nam, ls_nat))
                lat_p50[N] = us(ls_lat, 50)
                log("N=%d build %.1f s mount %.3f s; stat us p50/p99 latest %.1f/%.1f name %.1f/%.1f native %.1f/%.1f"
                    % (N, build_s, m.mount_s, us(ls_lat, 50), us(ls_lat, 99), us(ls_nam, 50), us(ls_nam, 99),
                       us(ls_nat, 50), us(ls_nat, 99)))
                if N == S["ls_n"]:
                    ls_rows = w_ls(m, N)
            finally:
                m.umount()
    except Stop as e:
        stop = e
        NOTES.append("meta: stopped after N=%s (%s)" % (have, e))
    finally:
        rmtree(store)
        rmtree(natdir)
    us = lambda xs, p: pct(xs, p) / 1000.0
    all_ok = True
    for (N, build_s, mount_s, a, b, c) in res:
        ok = us(a, 50) <= 1.5 * us(b, 50)
        all_ok = all_ok and ok
        row("4a stat latest/model.bin, N=%d: p50" % N, "us", [us(b, 50)], [us(a, 50)],
            ratio=us(a, 50) / us(b, 50), target="<=1.5x name", ok=ok)
        row("   stat latest/model.bin, N=%d: p99" % N, "us", [us(b, 99)], [us(a, 99)], ratio=us(a, 99) / us(b, 99))
        info("native col = stat NAME/model.bin through the mount; a native file: p50/p99 %s/%s us; "
             "fixture build %.1f s, mount %.2f s" % (fmt(us(c, 50)), fmt(us(c, 99)), build_s, mount_s))
    if res:
        N0, N1 = res[0][0], res[-1][0]
        g = lat_p50[N1] / lat_p50[N0]
        row("4b latest stat p50 growth N=%d -> N=%d" % (N0, N1), "x", None, None, ratio=g,
            target="<=1.2x", ok=g <= 1.2)
        info("latest stat p50: %s us at N=%d, %s us at N=%d" % (fmt(lat_p50[N0]), N0, fmt(lat_p50[N1]), N1))
        if res[0][3] and res[-1][4]:
            gn = us(res[-1][4], 50) / us(res[0][4], 50)
            info("name stat p50 growth N=%d -> N=%d: %sx" % (N0, N1, fmt(gn)))
        RATIOS.append(("stat_latest/name", med([us(a, 50) / us(b, 50) for (_, _, _, a, b, _) in res])))
        RATIOS.append(("stat_name/native", med([us(b, 50) / us(c, 50) for (_, _, _, _, b, c) in res])))
    if ls_rows:
        ls_rows()
    if stop:
        raise stop


def w_ls(m, N):
    natls = os.path.join(WORK, "native-ls")
    os.makedirs(natls)
    for i in range(N):
        os.mkdir(os.path.join(natls, "ckpt-%07d" % i))
    os.sync()
    R = {k: [] for k in ("ls_nat", "ls_ck", "ll_nat", "ll_ck")}
    try:
        for r in range(S["ls_reps"]):
            for side in sides(r):
                d = natls if side == "nat" else m.mnt
                R["ls_" + side].append(time_cmd(["ls", d]) * 1000)
                R["ll_" + side].append(time_cmd(["ls", "-l", d]) * 1000)
        n = len(os.listdir(m.mnt))
        if n < N:
            NOTES.append("ls: mount root lists %d entries, expected >= %d" % (n, N))
    finally:
        rmtree(natls)
    def rows():
        ratio = med(R["ls_ck"]) / med(R["ls_nat"])
        row("4c ls root, %d ckpts vs %d dirs" % (N, N), "ms", R["ls_nat"], R["ls_ck"], target="<=3x",
            ok=ratio <= 3, ratio_label="ls_%d" % N)
        row("   ls -l root, %d" % N, "ms", R["ll_nat"], R["ll_ck"], ratio_label="ls-l_%d" % N)
    return rows


# ---------------------------------------------------------------- 5: commit latency
def w_commit():
    n, nb = S["commits"], S["commit_bytes"]
    natdir = os.path.join(WORK, "native-commit")
    os.makedirs(natdir)
    m = Mount("commit")
    vis, cls, nat, miss = [], [], [], 0
    bvis, bnat = [], []
    try:
        loop_commits(m, natdir, 0, n, nb, nat, cls, vis)
        # Again while another process writes other files to the same
        # filesystem (a training job's logs, a dataset cache): a barrier
        # that syncs the whole filesystem would wait for all of that.
        stop = threading.Event()
        bg = threading.Thread(target=background_writer, args=(os.path.join(natdir, "bg.bin"), stop))
        bg.start()
        try:
            time.sleep(1)
            miss += loop_commits(m, natdir, n, n // 2, nb, bnat, [], bvis)
        finally:
            stop.set()
            bg.join()
    finally:
        m.umount()
        rmtree(m.store)
        rmtree(natdir)
    if miss:
        NOTES.append("commit: %d of %d never became latest within 10 s" % (miss, n + n // 2))
    row("5a commit: close() start -> latest, p50", "ms", [pct(nat, 50)], [pct(vis, 50)])
    row("5b commit: close() start -> latest, p99", "ms", [pct(nat, 99)], [pct(vis, 99)], target="<=10ms",
        ok=pct(vis, 99) <= 10 and not miss, ratio_label="commit_p99")
    info("native col = a 64 KiB file's fsync+close (a durable save); ckptfs: %d x 64 KiB file checkpoints, "
         "close() alone p50/p99 %s/%s ms" % (n, fmt(pct(cls, 50)), fmt(pct(cls, 99))))
    row("5c   the same beside a writer of other files, p50", "ms", [pct(bnat, 50)], [pct(bvis, 50)])
    row("5d   the same beside a writer of other files, p99", "ms", [pct(bnat, 99)], [pct(bvis, 99)],
        target="(info)")
    info("%d commits while another thread writes 1 MiB blocks (no fsync) to a native file on the same "
         "filesystem" % (n // 2))


def background_writer(path, stop):
    """Writes 1 MiB blocks to path, starting over every 1.5 GiB, until stop."""
    block = os.urandom(MiB)
    while not stop.is_set():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for _ in range(1536):
                if stop.is_set():
                    break
                os.write(fd, block)
        finally:
            os.close(fd)


def loop_commits(m, natdir, first, n, nb, nat, cls, vis):
    """n file checkpoints of nb bytes: close() and close()->latest times (ms)
    into cls and vis, a native write+fsync+close into nat. Returns misses."""
    miss = 0
    for i in range(first, first + n):
        payload = os.urandom(nb)
        # native reference: a durable save (write, fsync, close)
        fd = os.open(os.path.join(natdir, "c-%03d.bin" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, payload)
        t0 = time.perf_counter_ns()
        os.fsync(fd)
        os.close(fd)
        nat.append((time.perf_counter_ns() - t0) / 1e6)
        name = "commit-%03d.bin" % i
        fd = os.open(os.path.join(m.mnt, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, payload)
        t0 = time.perf_counter_ns()
        os.close(fd)
        t1 = time.perf_counter_ns()
        while m.latest_name() != name:
            if time.perf_counter_ns() - t0 > 10e9:
                miss += 1
                break
        t2 = time.perf_counter_ns()
        cls.append((t1 - t0) / 1e6)
        vis.append((t2 - t0) / 1e6)
    return miss


# ---------------------------------------------------------------- 6: peak RSS
def w_rss():
    size = S["rss_bytes"]
    m = Mount("rss")
    rss0 = m.status("VmRSS")
    rng = np.random.default_rng(3003)
    pool = random_u64(rng, 256 * MiB)
    words = MiB // 8
    nslots = len(pool) // words
    buf = np.empty(words, dtype=np.uint64)
    peak = [0]
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            v = m.status("VmRSS")
            if v:
                peak[0] = max(peak[0], v)
            time.sleep(0.1)

    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    try:
        t0 = now()
        fd = os.open(os.path.join(m.mnt, "big.bin"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for i in range(size // MiB):
                k = i % nslots
                x = (i * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & (2**64 - 1)
                np.bitwise_xor(pool[k * words:(k + 1) * words], np.uint64(x), out=buf)
                os.write(fd, memoryview(buf).cast("B"))
            os.fsync(fd)
        finally:
            os.close(fd)
        t = now() - t0
        m.wait_latest("big.bin", timeout=120)
        stop.set()
        th.join()
        hwm = m.status("VmHWM")
        log("rss: wrote %d MiB in %.1f s (%.0f MB/s); VmHWM %s kB, sampled VmRSS max %s kB, at mount %s kB" % (
            size // MiB, t, size / t / 1e6, hwm, peak[0], rss0))
    finally:
        stop.set()
        m.umount()
        rmtree(m.store)
    row("6  daemon VmHWM writing a %s GiB ckpt" % fmt(size / GiB), "MiB", None, [hwm / 1024.0] if hwm else None,
        target="<=256MiB", ok=(hwm is not None and hwm / 1024.0 <= 256))
    info("VmRSS at mount %s MiB, sampled max %s MiB; write incl. fsync+close %s MB/s" % (
        fmt((rss0 or 0) / 1024.0), fmt(peak[0] / 1024.0), fmt(size / t / 1e6)))


# ---------------------------------------------------------------- 7: many small files
def create_files(d, first, last, data, marks):
    """Creates d/f<first>..f<last-1>; appends now() to marks after every tenth of many_files."""
    step = max(1, S["many_files"] // 10)
    for i in range(first, last):
        with open(os.path.join(d, "f%07d" % i), "wb") as f:
            f.write(data)
        if (i + 1) % step == 0:
            marks.append(now())


def w_many():
    n, nls, data = S["many_files"], min(S["many_ls"], S["many_files"]), b"m" * S["many_bytes"]
    natdir = os.path.join(WORK, "native-many")
    os.makedirs(natdir)
    # settle_ms above the ls -l pause: the checkpoint must not commit half-way
    m = Mount("many", opts="settle_ms=10000")
    R = {k: [] for k in ("t_nat", "t_ck", "ll_nat", "ll_ck", "g_nat", "g_ck", "commit")}
    try:
        for r in range(REPS):
            for side in sides(r):
                d = os.path.join(natdir if side == "nat" else m.mnt, "many-%d" % r)
                os.mkdir(d)
                marks = [now()]
                create_files(d, 0, nls, data, marks)
                k, t0 = len(marks) - 1, now()
                t_ls = time_cmd(["ls", "-l", d])  # the checkpoint root, still staging
                gap = now() - t0
                create_files(d, nls, n, data, marks)
                tenths = [b - a for a, b in zip(marks, marks[1:])]
                if k < len(tenths):
                    tenths[k] -= gap  # the tenth after the ls, without it
                total = sum(tenths)
                R["t_" + side].append(total)
                R["ll_" + side].append(t_ls * 1000)
                R["g_" + side].append(tenths[-1] / tenths[0])
                if side == "ck":
                    w = m.wait_latest("many-%d" % r, timeout=600)
                    if w is None:
                        NOTES.append("many: many-%d never committed" % r)
                    else:
                        R["commit"].append(w)
                log("many %s rep %d: %.1f s, ls -l %.0f ms, last/first tenth %.2f" %
                    (side, r, total, t_ls * 1000, tenths[-1] / tenths[0]))
    finally:
        m.umount()
        rmtree(m.store)
        rmtree(natdir)
    row("7a create %d files of %d B in one directory checkpoint" % (n, S["many_bytes"]), "s",
        R["t_nat"], R["t_ck"], ratio_label="many_%d" % n)
    g = med(R["g_ck"])
    row("   per-file time, last tenth / first tenth", "x", R["g_nat"], R["g_ck"], ratio=g,
        target="ckptfs <=1.5x", ok=g <= 1.5)
    row("7b ls -l of the staging checkpoint's root, %d entries" % nls, "ms", R["ll_nat"], R["ll_ck"],
        ratio_label="many_ls-l_%d" % nls)
    if R["commit"]:
        info("directory commit after the last file (settle_ms=10000 + commit): %s s" % span(R["commit"]))


# ---------------------------------------------------------------- 8: cold reads through latest
def read_tree(path, threads=1):
    """Reads every file under path (threads at once, one file each);
    returns (seconds, bytes)."""
    files = [path] if os.path.isfile(path) else [os.path.join(path, f) for f in sorted(os.listdir(path))]
    total = [0]
    lock = threading.Lock()
    def one(fs):
        for f in fs:
            _, n = read_file(f)
            with lock:
                total[0] += n
    t0 = now()
    if threads == 1:
        one(files)
    else:
        ts = [threading.Thread(target=one, args=(files[i::threads],)) for i in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    return now() - t0, total[0]


def w_read():
    """Cold reads (sync + drop_caches before each) of checkpoints through
    MNT/latest against the same bytes on the native filesystem, interleaved:
    8a 1 GiB single file, 8b 1 GiB directory of 8 files, 8c 100 MiB, 8d
    read_par readers at once, each its own file of one directory checkpoint."""
    size, nd, par = S["write"], S["ndir"], S["read_par"]
    sets = [("8a cold read %d MiB file ckpt via latest" % (size // MiB), "read_1g", [size], 1),
            ("8b cold read %d MiB dir ckpt, %d files" % (size // MiB, nd), "read_dir", [size // nd] * nd, 1),
            ("8c cold read %d MiB file ckpt" % (S["read_small"] // MiB), "read_100m", [S["read_small"]], 1),
            ("8d %d concurrent readers, %d MiB each" % (par, S["read_par_bytes"] // MiB), "read_par%d" % par,
             [S["read_par_bytes"]] * par, par)]
    natdir = os.path.join(WORK, "native-read")
    os.makedirs(natdir)
    m = Mount("read")
    rng = np.random.default_rng(8008)
    peer = None
    try:
        peer = peer_mount("read", natdir)  # reads the native side's own files
        for i, (label, key, sizes, threads) in enumerate(sets):
            name = "r%d" % i + (".bin" if len(sizes) == 1 else "")
            # drawn first: a pause between files longer than settle_ms would commit the directory early
            parts = [memoryview(random_u64(rng, sz)).cast("B") for sz in sizes]
            for root in (natdir, m.mnt):
                if len(sizes) == 1:
                    write_file(os.path.join(root, name), parts[0])
                else:
                    os.mkdir(os.path.join(root, name))
                    for k, mv in enumerate(parts):
                        write_file(os.path.join(root, name, "part-%02d.bin" % k), mv)
            del parts
            if m.wait_latest(name, timeout=120) is None:
                raise RuntimeError("%s never became latest" % name)
            R = {"nat": [], "ck": [], "peer": []}
            paths = {"nat": os.path.join(natdir, name), "ck": os.path.join(m.mnt, "latest"),
                     "peer": os.path.join(peer.mnt, name) if peer else None}
            for r in range(REPS):
                for side in sides(r, peer=True):
                    p = paths[side]
                    drop_caches()
                    t, n = read_tree(p, threads)
                    if n != sum(sizes):
                        raise RuntimeError("read %d bytes of %s, expected %d" % (n, p, sum(sizes)))
                    R[side].append(n / t / 1e6)
                    log("%s rep %d %-4s %.0f MB/s" % (key, r, side, n / t / 1e6))
            ratio = med(R["ck"]) / med(R["nat"])
            row(label, "MB/s", R["nat"], R["ck"], target=">=0.9x", ok=ratio >= 0.9, ratio_label=key,
                peer=R["peer"])
    finally:
        if peer:
            peer.umount()
        m.umount()
        rmtree(m.store)
        rmtree(natdir)


# ---------------------------------------------------------------- 9: SQLite vs PostgreSQL index
PG = os.environ.get("BENCH_PG", "")  # libpq conninfo of run.sh's private cluster
PG_SIDES = ("sqlite", "pg", "pgfs")  # pgfs: the same PostgreSQL cluster with fsync=on


def psql(*sql, db="postgres"):
    """Runs each statement (its own transaction) in db; the last output line."""
    argv = ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "%s dbname=%s" % (PG, db)]
    for q in sql:
        argv += ["-c", q]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("psql %s: %s" % (sql[0], r.stderr.strip()))
    return (r.stdout.strip().splitlines() or [""])[-1]


def pg_set_fsync(on):
    """fsync of the whole cluster, for the connections made from now on."""
    want = "on" if on else "off"
    psql("ALTER SYSTEM SET fsync = " + want, "SELECT pg_reload_conf()")
    for _ in range(200):
        if psql("SHOW fsync") == want:
            return
        time.sleep(0.05)
    raise RuntimeError("PostgreSQL fsync did not become %s" % want)


def pg_side_measure(side, r, mv, R):
    """One fresh store of side: commits, latest stats, cross-mount
    visibility (PostgreSQL only), a big write and its cold read."""
    n, nb = S["pg_commits"], S["pg_commit_bytes"]
    chunks = os.path.join(WORK, "store-%s-%d" % (side, r))
    db = "bench_%s_%d" % (side, r)
    if side == "sqlite":
        spec = chunks
    else:
        pg_set_fsync(side == "pgfs")
        psql("CREATE DATABASE " + db)
        spec = "postgresql:%s dbname=%s?chunks=%s" % (PG, db, chunks)
    a = b = None
    out = R[side]
    try:
        a = Mount("%s-%d" % (side, r), store=spec)
        out["mount"].append(a.mount_s * 1000)
        lat = []
        for i in range(n):
            payload = os.urandom(nb)
            t0 = time.perf_counter_ns()
            fd = os.open(os.path.join(a.mnt, "c-%03d.bin" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, payload)
            os.close(fd)  # commits: visible to every lookup once close returns
            lat.append((time.perf_counter_ns() - t0) / 1e6)
        if a.latest_name() != "c-%03d.bin" % (n - 1):
            raise RuntimeError("%s: latest is %r after the commits" % (side, a.latest_name()))
        out["c50"].append(pct(lat, 50))
        out["c99"].append(pct(lat, 99))
        st, = stat_loop([os.path.join(a.mnt, "latest")], S["stat_iters"])
        out["s50"].append(pct(st, 50) / 1000.0)
        out["s99"].append(pct(st, 99) / 1000.0)
        if side != "sqlite":
            b = Mount("%s-%d-b" % (side, r), store=spec)
            vis, miss = [], 0
            for i in range(S["pg_vis"]):
                name = "v-%03d.bin" % i
                with open(os.path.join(a.mnt, name), "wb") as f:
                    f.write(os.urandom(nb))
                t0 = time.perf_counter_ns()  # A's close returned: committed
                while b.latest_name() != name:
                    if time.perf_counter_ns() - t0 > 10e9:
                        miss += 1
                        break
                    time.sleep(0.001)
                vis.append((time.perf_counter_ns() - t0) / 1e6)
            b.umount()
            if miss:
                NOTES.append("pg %s rep %d: %d of %d commits on A never seen on B within 10 s" %
                             (side, r, miss, S["pg_vis"]))
            out["v50"].append(pct(vis, 50))
            out["v99"].append(pct(vis, 99))
            out["vmax"].append(max(vis))
        big_write_read(a, mv, out, side)
        log("pg rep %d %-6s commit p50/p99 %.2f/%.2f ms, stat latest p50/p99 %.0f/%.0f us, %s"
            "write %.0f MB/s, cold read %.0f MB/s" % (
                r, side, out["c50"][-1], out["c99"][-1], out["s50"][-1], out["s99"][-1],
                "" if side == "sqlite" else "B sees A's commit p50/p99 %.2f/%.2f ms, " % (
                    out["v50"][-1], out["v99"][-1]), out["w"][-1], out["r"][-1]))
    finally:
        for m in (b, a):
            if m is not None:
                m.umount()
        if side != "sqlite":
            psql("DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)
        rmtree(chunks)


def w_pg():
    """The same workloads on a SQLite store (plain DIR) and on a PostgreSQL
    store (fresh database of run.sh's private cluster), fsync off as pg.sh
    sets it and on, interleaved (the side order rotates per repetition)."""
    if not PG:
        raise RuntimeError("no PostgreSQL: BENCH_PG unset (run.sh starts one with tests/services/pg.sh)")
    ver = psql("SHOW server_version")
    conf = psql("SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings WHERE name IN "
                "('fsync', 'full_page_writes', 'synchronous_commit', 'shared_buffers', 'wal_sync_method')")
    keys = ("mount", "c50", "c99", "s50", "s99", "v50", "v99", "vmax", "w", "r")
    R = {side: {k: [] for k in keys} for side in PG_SIDES}
    rng = np.random.default_rng(9009)
    load0 = os.getloadavg()
    try:
        for r in range(REPS):
            data = random_u64(rng, S["write"])
            mv = memoryview(data).cast("B")
            for k in range(len(PG_SIDES)):
                pg_side_measure(PG_SIDES[(r + k) % len(PG_SIDES)], r, mv, R)
            mv.release()
            del data
    finally:
        if PG:
            pg_set_fsync(False)
    load1 = os.getloadavg()
    sq = R["sqlite"]
    info("9: native col = SQLite store (plain DIR), ckptfs col = PostgreSQL store (private PostgreSQL %s, "
         "unix socket, same disk); ratio = PG / SQLite" % ver)
    mib = "%d MiB" % (S["write"] // MiB)
    rows = [("9a commit %d x %d KiB file ckpts, open..close, p50" % (S["pg_commits"], S["pg_commit_bytes"] // 1024),
             "ms", "c50", "commit_p50"),
            ("9b   the same, p99", "ms", "c99", "commit_p99"),
            ("9c stat MNT/latest p50 (%d stats)" % S["stat_iters"], "us", "s50", "stat_latest_p50"),
            ("9d   the same, p99", "us", "s99", "stat_latest_p99"),
            ("9e write %s file ckpt (fsync, close = commit)" % mib, "MB/s", "w", "write"),
            ("9f cold read of it via latest", "MB/s", "r", "read_cold")]
    for label, unit, k, rl in rows:
        row(label, unit, sq[k], R["pg"][k], ratio_label="pg_" + rl)
        row("     PG with fsync=on", unit, sq[k], R["pgfs"][k], ratio_label="pgfsync_" + rl)
    for side, tag in (("pg", ""), ("pgfs", ", fsync=on")):
        v = R[side]
        row("9g B sees A's commit (PG%s), p50" % tag, "ms", None, v["v50"])
        row("9h   the same, p99" , "ms", None, v["v99"], target="<=100ms", ok=bool(v["v99"]) and
            max(v["v99"]) <= 100)
    info("9g/h: two mounts A and B of one PostgreSQL store; %d commits of %d KiB on A per repetition, time from "
         "A's close() return until B's .ckptfs/latest names it (polled every 1 ms); max %s ms" % (
             S["pg_vis"], S["pg_commit_bytes"] // 1024, fmt(max(R["pg"]["vmax"] + R["pgfs"]["vmax"] or [0]))))
    info("mount time ms: SQLite %s, PG %s, PG fsync=on %s" % (span(sq["mount"]), span(R["pg"]["mount"]),
                                                            span(R["pgfs"]["mount"])))
    NOTES.append("pg: cluster from tests/services/pg.sh (%s as started; the fsync=on rows: ALTER SYSTEM SET fsync=on "
                 "+ pg_reload_conf() before that store's mount, full_page_writes stays off); ckptfs commits "
                 "with synchronous_commit=on. Load average 1/5/15 min: %.2f/%.2f/%.2f at start, %.2f/%.2f/%.2f at end"
                 % ((conf,) + load0 + load1))


# ---------------------------------------------------------------- 10: local directory vs RADOS chunks
CEPH = os.environ.get("BENCH_CEPH", "")  # pool=..,conf=..,id=..,keyring=.. of run.sh's private cluster
CEPH_KV = dict(w.split("=", 1) for w in CEPH.split(",")) if CEPH else {}
RADOS_SIDES = ("dir", "rados")


def rados_purge():
    """Empties the pool of run.sh's private cluster (nothing else uses it)."""
    r = subprocess.run(["rados", "-c", CEPH_KV["conf"], "--id", CEPH_KV["id"], "--keyring", CEPH_KV["keyring"],
                        "purge", CEPH_KV["pool"], "--yes-i-really-really-mean-it"],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise RuntimeError("rados purge: %s" % r.stderr.strip())


def osd_stored():
    """Bytes the OSD holds (bluestore_stored, from its admin socket)."""
    asok = glob.glob(os.path.join(os.path.dirname(CEPH_KV["conf"]), "run", "osd.*.asok"))
    r = subprocess.run(["ceph", "--admin-daemon", asok[0], "perf", "dump"], capture_output=True, text=True,
                       timeout=60)
    return json.loads(r.stdout)["bluestore"]["bluestore_stored"]


def backend_bytes(side, store, base):
    """What the chunks take on the backend: du of the chunk directory, or
    the OSD's stored bytes beyond base."""
    if side == "dir":
        return du_sb(os.path.join(store, "chunks")) / MiB
    return (osd_stored() - base) / MiB


def rados_store(side, tag, fn):
    """fn(m, spec, base) on a fresh mount of a fresh store of side (the
    SQLite index either way; chunks in a local directory or in RADOS);
    then unmounts, removes it, and empties the pool."""
    store = os.path.join(WORK, "store-%s-%s" % (side, tag))
    spec, base = store, 0
    if side == "rados":
        spec = "%s?chunks=rados:%s,ns=%s,inflight=%d" % (store, CEPH, tag, S["rados_inflight"])
        base = osd_stored()
    m = Mount("%s-%s" % (side, tag), store=spec)
    try:
        fn(m, spec, base)
    finally:
        m.umount()
        rmtree(store)
        if side == "rados":
            rados_purge()
    return m.mount_s


def rados_big(side, r, mv, out):
    """A big single-file checkpoint (close = commit) and its cold read
    through latest."""
    def run(m, spec, base):
        big_write_read(m, mv, out, side)
    out["mount"].append(rados_store(side, "big%d" % r, run) * 1000)


def rados_series(side, r, out):
    """The 10-step safetensors series of workload 3: write times, stored
    bytes (ckpt stats, and on the backend) after step 1 and the last."""
    T, rows, steps = S["series_tensors"], S["series_rows"], S["series_steps"]
    h, tb = series_layout(T, rows)
    total = 8 + len(h) + T * tb
    nchg = max(1, T // 10)

    def run(m, spec, base):
        buf = bytearray(total)
        buf[0:8] = len(h).to_bytes(8, "little")
        buf[8:8 + len(h)] = h
        arr = np.frombuffer(buf, dtype=np.float32, offset=8 + len(h)).reshape(T, rows * 1024)
        rng = np.random.default_rng(10000 + r)
        times = []
        for s in range(steps):
            if s == 0:
                arr[:] = rng.standard_normal(arr.shape, dtype=np.float32)
            else:
                arr[rng.choice(T, nchg, replace=False)] = rng.standard_normal((nchg, rows * 1024),
                                                                              dtype=np.float32)
            name = "model-step=%d.safetensors" % (s + 1)
            os.sync()
            times.append(write_file(os.path.join(m.mnt, name), memoryview(buf)))
            if m.wait_latest(name, timeout=120) is None:
                raise RuntimeError("series: %s never became latest" % name)
            if s in (0, steps - 1):
                st = ckpt_stats(spec)
                k = "1" if s == 0 else "N"
                out["st" + k].append(st["stored_bytes"] / MiB if st else float("nan"))
                out["be" + k].append(backend_bytes(side, spec.split("?")[0], base))
        del arr
        out["s_total"].append(sum(times))
        out["s_first"].append(total / times[0] / 1e6)
        out["s_later"].append(total / med(times[1:]) / 1e6)
        out["s_growth"].append(out["stN"][-1] / out["st1"][-1])
    rados_store(side, "series%d" % r, run)


def rados_side_measure(side, r, mv, R):
    out = R[side]
    rados_big(side, r, mv, out)
    rados_series(side, r, out)
    log("rados rep %d %-5s write %.0f MB/s, cold read %.0f MB/s, series %.1f s (step 1 %.0f MB/s, later %.0f "
        "MB/s), stored %.0f MiB after 1, %.0f MiB after %d (backend %.0f / %.0f MiB)" % (
            r, side, out["w"][-1], out["r"][-1], out["s_total"][-1], out["s_first"][-1], out["s_later"][-1],
            out["st1"][-1], out["stN"][-1], S["series_steps"], out["be1"][-1], out["beN"][-1]))


def w_rados():
    """The same workloads with the chunks in a local directory (plain DIR
    store) and in RADOS (DIR?chunks=rados:..., the same SQLite index), on a
    fresh store each, interleaved (the side that goes first alternates)."""
    if not CEPH:
        raise RuntimeError("no Ceph: BENCH_CEPH unset (run.sh starts one with tests/services/ceph.sh)")
    keys = ("mount", "w", "r", "st1", "stN", "be1", "beN", "s_total", "s_first", "s_later", "s_growth")
    R = {side: {k: [] for k in keys} for side in RADOS_SIDES}
    rng = np.random.default_rng(10010)
    load0 = os.getloadavg()
    for r in range(REPS):
        data = random_u64(rng, S["write"])
        mv = memoryview(data).cast("B")
        for k in range(len(RADOS_SIDES)):
            rados_side_measure(RADOS_SIDES[(r + k) % len(RADOS_SIDES)], r, mv, R)
        mv.release()
        del data
    load1 = os.getloadavg()
    info("10: native col = chunks in a local directory, ckptfs col = chunks in RADOS (%d objects in flight), "
         "SQLite index either way; ratio = RADOS / directory" % S["rados_inflight"])
    mib = "%d MiB" % (S["write"] // MiB)
    steps = S["series_steps"]
    rows = [("10a write %s file ckpt + commit (fsync, close)" % mib, "MB/s", "w", "write"),
            ("10b cold read of it via latest", "MB/s", "r", "read_cold"),
            ("10c series: %d steps, total write time" % steps, "s", "s_total", "series_time"),
            ("10d series: write step 1 (all new)", "MB/s", "s_first", "series_first"),
            ("10e series: write steps 2-%d (90%% same)" % steps, "MB/s", "s_later", "series_later"),
            ("10f series: stored after step 1", "MiB", "st1", "series_stored1"),
            ("10g series: stored after step %d" % steps, "MiB", "stN", "series_stored"),
            ("10h series: stored after %d / after 1" % steps, "x", "s_growth", "series_growth"),
            ("10i series: on the backend after step %d (du / OSD)" % steps, "MiB", "beN", "series_backend")]
    for label, unit, k, rl in rows:
        row(label, unit, R["dir"][k], R["rados"][k], ratio_label="rados_" + rl)
    info("mount time ms: directory %s, RADOS %s" % (span(R["dir"]["mount"]), span(R["rados"]["mount"])))
    NOTES.append("rados: one-mon, one-OSD cluster from tests/services/ceph.sh (bluestore on a sparse file on the "
                 "same disk, pool size 1, loopback); each store is fresh, the pool is purged after each RADOS "
                 "store; 10i: du -sb of the chunk directory vs the OSD's bluestore_stored growth. Cold reads drop "
                 "the page cache only: the OSD's own bluestore cache may still hold recent objects. Load average "
                 "1/5/15 min: %.2f/%.2f/%.2f at start, %.2f/%.2f/%.2f at end" % (load0 + load1))


# ---------------------------------------------------------------- main
# meta last: building its 100k-checkpoint fixture is the slowest part
WORKLOADS = [("write", w_write), ("read", w_read), ("series", w_series), ("commit", w_commit), ("rss", w_rss), ("many", w_many),
             ("pg", w_pg), ("rados", w_rados), ("meta", w_meta)]


class Stop(BaseException):
    pass


def on_term(signum, frame):
    raise Stop("stopped by signal %d (timeout?)" % signum)


def main():
    try:
        rev = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe", "--always",
                              "--dirty"], capture_output=True, text=True).stdout.strip()
    except OSError:
        rev = "?"
    fs = subprocess.run(["findmnt", "-no", "FSTYPE,SOURCE", "-T", WORK], capture_output=True,
                        text=True).stdout.strip()
    print("ckptfs benchmark %s  mode=%s reps=%d  rev=%s" % (time.strftime("%Y-%m-%d %H:%M:%S"),
                                                            "quick" if QUICK else "full", REPS, rev))
    print("host: %s, %d cpus, %.1f GiB RAM; WORK=%s (%s), native and stores on the same filesystem" % (
        platform.release(), os.cpu_count(), os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / GiB,
        WORK, fs))
    print("sizes: " + " ".join("%s=%s" % kv for kv in S.items()), flush=True)
    if PEERFS:
        print("peer: %s SRC MNT -f %s" % (PEERFS, "-o " + PEER_OPTS if PEER_OPTS else
                                          "(libfuse's 10 threads, the kernel's readahead)"), flush=True)
    failed = 0
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    try:
        for name, fn in WORKLOADS:
            if ONLY and name not in ONLY:
                continue
            log("=== %s (%s)" % (name, time.strftime("%H:%M:%S")))
            t0 = now()
            stopped = False
            try:
                fn()
            except Stop as e:
                failed += 1
                stopped = True
                ROWS.append(("%s: ERROR %s" % (name, e),))
            except Exception as e:
                failed += 1
                traceback.print_exc(file=sys.stdout)
                ROWS.append(("%s: ERROR %s" % (name, str(e)[:300].replace("\n", " ")),))
            log("=== %s done in %.0f s" % (name, now() - t0))
            if stopped:
                break
    except Stop as e:
        failed += 1
        ROWS.append(("ERROR %s" % e,))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for m in list(MOUNTS):
            try:
                m.umount()
            except Exception:
                pass
        print_table()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
