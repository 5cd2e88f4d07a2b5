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
echo "PASS [$TEST_NAME]"
