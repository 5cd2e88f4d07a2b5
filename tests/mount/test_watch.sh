#!/usr/bin/env bash
# Eval watchers (issue #16 item 5): `ckpt wait` returns soon after a commit
# (woken by inotify on the store's index, not by polling the listing) and
# exits 124 at --timeout; `ckpt log --follow --json` streams JSON Lines in
# the order the events were recorded; -n and --since cut the log; a mount
# point is accepted wherever STORE is.
source "$(dirname "$0")/lib.sh"

start_mount
head -c 100000 /dev/urandom >"$T/data"
committed() { [ "$(ckpt_field "$1" state)" == committed ]; }
cp "$T/data" "$MNT/ck1"
wait_for committed ck1 || fail "ck1 did not commit"

# the mount point names its store
assert_eq "$("$CKPT" ls "$MNT" --json)" "$("$CKPT" ls "$STORE" --json)" "ckpt ls MNT == ckpt ls STORE"

# nothing new: 124 after the timeout, not before
t0=$(date +%s.%N)
rc=0
"$CKPT" wait "$MNT" --timeout 1 >"$T/w0.out" 2>"$T/w0.err" || rc=$?
t1=$(date +%s.%N)
assert_eq "$rc" 124 "wait with nothing new: exit code"
"$PY" -c "import sys; d = $t1 - $t0; sys.exit(0 if 0.9 <= d < 5 else 1)" ||
  fail "wait --timeout 1 took $t0..$t1"
grep -q "timed out" "$T/w0.err" || fail "wait timeout message: $(cat "$T/w0.err")"

# a watcher and a follower, then a commit
"$CKPT" log "$STORE" --follow --json >"$T/follow.out" 2>"$T/follow.err" &
FPID=$!
"$CKPT" wait "$MNT" --json --timeout 30 >"$T/w1.out" 2>"$T/w1.err" &
WPID=$!
sleep 1 # both have read where the log ends
cp "$T/data" "$MNT/ck2"
t0=$(date +%s.%N)
rc=0
wait "$WPID" || rc=$?
t1=$(date +%s.%N)
assert_eq "$rc" 0 "wait after a commit: exit code ($(cat "$T/w1.err"))"
lat=$("$PY" -c "print('%.3f' % ($t1 - $t0))")
echo "ckpt wait returned ${lat} s after the committing close"
"$PY" -c "import sys; sys.exit(0 if $lat < 5 else 1)" || fail "wait took $lat s after the commit"
assert_eq "$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["name"])' "$T/w1.out")" ck2 \
  "wait --json prints the new checkpoint's ls object"

# --after: the next one after NAME, at once when it exists; a deleted NAME works too
assert_eq "$("$CKPT" wait "$STORE" --after ck1 --timeout 5)" ck2 "wait --after ck1"
rc=0; "$CKPT" wait "$STORE" --after ck2 --timeout 0.3 >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 124 "wait --after the newest times out"
rc=0; "$CKPT" wait "$STORE" --after nosuch --timeout 0.3 >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 4 "wait --after an unknown name"
rm "$MNT/ck1"
cp "$T/data" "$MNT/ck3"
wait_for committed ck3 || fail "ck3 did not commit"
assert_eq "$("$CKPT" wait "$STORE" --after ck1 --timeout 5)" ck2 "wait --after a deleted checkpoint"

# the follower saw commit ck2, delete ck1, commit ck3, in that order, as JSON Lines
wait_for grep -q '"ck3"' "$T/follow.out" || fail "log --follow did not show ck3: $(cat "$T/follow.out" "$T/follow.err")"
kill "$FPID"
wait "$FPID" 2>/dev/null || true
"$PY" - "$T/follow.out" <<'PYEOF' || fail "log --follow --json lines"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert all(set(r) == {"time", "event", "name", "rule"} for r in rows), rows
seq = [(r["event"], r["name"]) for r in rows if r["event"] in ("commit", "delete")]
assert seq[-3:] == [("commit", "ck2"), ("delete", "ck1"), ("commit", "ck3")], seq
PYEOF

# -n and --since
# (the mount may record a gc event meanwhile: compared with the full log read next to it)
tail_is() {
  "$PY" - "$CKPT" "$MNT" "$STORE" <<'PYEOF'
import json, subprocess, sys
ckpt, mnt, store = sys.argv[1:]
last2 = json.loads(subprocess.check_output([ckpt, "log", mnt, "--json", "-n", "2"]))
full = json.loads(subprocess.check_output([ckpt, "log", store, "--json"]))
since = lambda t: json.loads(subprocess.check_output([ckpt, "log", store, "--json", "--since", t]))
sys.exit(0 if len(full) > 2 and last2 == full[-2:] and since("@0") == full and
         since("1h") == full and since("2999-01-01") == [] else 1)
PYEOF
}
wait_for tail_is || fail "log -n 2 is not the last two events, or --since @0/1h/2999-01-01 cut wrong"
rc=0; "$CKPT" log "$STORE" --since yesterday >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "log --since with a bad time"
echo "PASS [$TEST_NAME]"
