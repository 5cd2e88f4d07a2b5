#!/usr/bin/env bash
# .ckptfs/metrics (issue #16 item 8) is the Prometheus text format: every
# sample line is `name{labels} value` under # HELP/# TYPE; the counters move
# with what the mount does (commits, deletions, aborts, reads, writes);
# the commit histogram's count equals the commits and its buckets are
# cumulative; the store gauges match `ckpt stats`.
source "$(dirname "$0")/lib.sh"

start_mount "keep_last=2"
# parse: prints a JSON object {name or name{labels}: value}; fails on any bad line
scrape() {
  "$PY" - "$MNT/.ckptfs/metrics" <<'PYEOF'
import json, re, sys
text = open(sys.argv[1]).read()
assert text.endswith("\n"), "no final newline"
samples, typed = {}, {}
for line in text.splitlines():
    if line.startswith("# HELP "):
        assert len(line.split(" ", 3)) == 4, line
        continue
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ")
        assert kind in ("counter", "gauge", "histogram"), line
        typed[name] = kind
        continue
    m = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"\})? (\S+)', line)
    assert m, "bad sample line: %r" % line
    base = re.sub(r"_(bucket|sum|count)$", "", m.group(1))
    assert m.group(1) in typed or base in typed, "no TYPE for " + m.group(1)
    samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
print(json.dumps(samples))
PYEOF
}
check() { # check JSON PYTHON_ASSERTIONS (m = the samples, o = the scrape before)
  "$PY" -c "import json, sys
m = json.loads(sys.argv[1]); o = json.loads(sys.argv[2])
$3" "$1" "$2" || fail "$4"
}
committed() { [ "$(ckpt_field "$1" state)" == committed ]; }

m0=$(scrape) || fail "metrics do not parse"
check "$m0" "$m0" '
for k in ("ckptfs_commits_total", "ckptfs_aborts_total", "ckptfs_deletions_total",
          "ckptfs_logical_bytes", "ckptfs_stored_bytes", "ckptfs_reads_total",
          "ckptfs_writes_total", "ckptfs_read_failures_total",
          "ckptfs_commit_seconds_count", "ckptfs_commit_seconds_sum",
          "ckptfs_commit_seconds_bucket{le=\"+Inf\"}"):
    assert k in m, k
assert m["ckptfs_commits_total"] == 0 and m["ckptfs_commit_seconds_count"] == 0, m' "the metrics of a fresh mount"

head -c 300000 /dev/urandom >"$T/data"
for i in 1 2 3; do
  cp "$T/data" "$MNT/ck$i"
  wait_for committed "ck$i" || fail "ck$i did not commit"
done
cat "$MNT/ck3" >/dev/null
# an abort: a writer killed mid-checkpoint
"$PY" -c 'import os, signal, sys
f = open(sys.argv[1], "wb"); f.write(b"x" * 1000); f.flush(); os.kill(os.getpid(), signal.SIGKILL)' "$MNT/killed" || true
aborted() { "$CKPT" ls "$STORE" --all --json | grep -q '"state": "aborted"'; }
wait_for aborted || fail "the killed writer's checkpoint was not aborted"

m1=$(scrape) || fail "metrics do not parse after commits"
stats=$("$CKPT" stats "$STORE" --json)
check "$m1" "$m0" '
assert m["ckptfs_commits_total"] == 3, m
assert m["ckptfs_commit_seconds_count"] == m["ckptfs_commits_total"], m
assert m["ckptfs_commit_seconds_sum"] > 0, m
assert m["ckptfs_deletions_total"] >= 1, m  # keep_last=2 deleted ck1
assert m["ckptfs_aborts_total"] == 1, m
assert m["ckptfs_writes_total"] > o["ckptfs_writes_total"], m
assert m["ckptfs_write_bytes_total"] >= 3 * 300000, m
assert m["ckptfs_read_bytes_total"] >= 300000, m
b = sorted((float(k.split("\"")[1]), v) for k, v in m.items() if k.startswith("ckptfs_commit_seconds_bucket"))
assert b[-1][0] == float("inf") and b[-1][1] == m["ckptfs_commit_seconds_count"], b
assert all(x[1] <= y[1] for x, y in zip(b, b[1:])), b
for k in m:
    if k.endswith("_total"):
        assert m[k] >= o[k], k' "counters after 3 commits, a retention deletion and an abort"
check "$m1" "$stats" '
assert m["ckptfs_logical_bytes"] == o["logical_bytes"] and m["ckptfs_stored_bytes"] == o["stored_bytes"], (m, o)' \
  "store gauges equal ckpt stats"

# Chunk counters, exact. A file of three distinct 1 MiB chunks and a copy
# of the first stores 3 chunks and deduplicates 1. On a new mount (nothing
# cached) O_DIRECT reads of whole chunks each fetch one chunk from the
# store: 4 reads of 1 MiB. A chunk damaged on disk is never handed out:
# EIO, one verify failure, no read counted.
"$PY" -c 'import os, sys
a, b, c = (os.urandom(1 << 20) for _ in range(3))
open(sys.argv[1], "wb").write(a + b + c + a)' "$T/four"
c0=$(scrape)
cp "$T/four" "$MNT/four.bin"
wait_for committed four.bin || fail "four.bin did not commit"
c1=$(scrape)
delta='d = {k[len("ckptfs_chunk_"):]: m[k] - o[k] for k in m if k.startswith("ckptfs_chunk_")}'
check "$c1" "$c0" "$delta"'
assert d["writes_total"] == 3 and d["dedup_hits_total"] == 1, d
assert d["verify_failures_total"] == 0, d' "chunk counters of a save of 3 new chunks and 1 duplicate"
stop_mount
start_mount
direct_read() { # OFFSET...: O_DIRECT reads of 1 MiB at each, compared with $T/four
  "$PY" - "$MNT/four.bin" "$T/four" "$@" <<'PYEOF'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
want = open(sys.argv[2], "rb").read()
buf = mmap.mmap(-1, 1 << 20)
for off in map(int, sys.argv[3:]):
    try:
        n = os.preadv(fd, [buf], off)
    except OSError as e:
        sys.exit("%s at %d" % (os.strerror(e.errno), off))
    assert n == 1 << 20 and buf[:n] == want[off:off + n], off
PYEOF
}
c2=$(scrape)
direct_read 0 1048576 2097152 3145728 || fail "O_DIRECT reads of four.bin"
c3=$(scrape)
check "$c3" "$c2" "$delta"'
# 4 reads of 3 distinct chunks: the copy of the first is served from the
# read window of the open file (core/chunk_win.c), fetched once (the read
# ahead saw it wanted again, so its first full serve did not give it back)
assert d["reads_total"] == 3 and d["read_bytes_total"] == 3 << 20, d
assert d["writes_total"] == 0 and d["dedup_hits_total"] == 0 and d["verify_failures_total"] == 0, d' \
  "chunk counters of 4 reads of 3 distinct chunks on a new mount"
h=$("$PY" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()[1 << 20:2 << 20]).hexdigest())' "$T/four")
"$PY" -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(5000); b = f.read(1); f.seek(5000); f.write(bytes([b[0] ^ 0xff]))' \
  "$STORE_DIR/chunks/${h:0:2}/$h" || fail "cannot damage chunk $h"
err=$(direct_read 1048576 2>&1) && fail "a damaged chunk was read"
grep -q "Input/output error" <<<"$err" || fail "damaged chunk read: $err"
c4=$(scrape)
check "$c4" "$c3" "$delta"'
assert d["verify_failures_total"] == 1 and d["reads_total"] == 0, d' "chunk counters of a damaged chunk"
echo "PASS [$TEST_NAME]"
