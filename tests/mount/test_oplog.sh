#!/usr/bin/env bash
# The operator's log with -f (stderr): one line each for mount (store and
# options), commit (name, step, bytes, ms), abort (name, reason), deletion
# (name, rule; by rm and by retention), gc (bytes freed) and unmount.
# With -o quiet there is no commit line, the others stay.
source "$(dirname "$0")/lib.sh"

# line REGEX WHAT: exactly one line of the daemon's log matches
line() {
  local n
  wait_for grep -qE "^ckptfs: $1\$" "$LOG" || true
  n=$(grep -cE "^ckptfs: $1\$" "$LOG" || true)
  [ "$n" = 1 ] || fail "$2: $n lines match '$1'; log: $(cat "$LOG")"
}


start_mount keep_last=2
line "mount store=$(ere_quote "$STORE") mnt=$MNT options=settle_ms=$SETTLE_MS,keep_last=2" "mount line"

mkdir "$MNT/step-100"
head -c 100000 /dev/urandom >"$MNT/step-100/model.bin"
printf '{"step": 100}' >"$MNT/step-100/meta.json"
wait_for is_latest step-100 || fail "step-100 not committed"
line "commit name=step-100 step=100 bytes=100013 ms=[0-9]+" "commit line"

for s in 200 300; do
  head -c 1000 /dev/urandom >"$MNT/s$s.bin"
  wait_for is_latest "s$s.bin" || fail "s$s.bin not committed"
done
wait_for grep -q '^ckptfs: delete name=step-100 ' "$LOG" || fail "no retention delete line"
line "delete name=step-100 rule=.*keep_last=2.*" "retention delete line"
wait_for grep -qE '^ckptfs: gc freed=[1-9][0-9]*$' "$LOG" || fail "no gc line with bytes freed: $(cat "$LOG")"

rm "$MNT/s200.bin"
line "delete name=s200.bin rule=user" "rm delete line"

# a writer killed with its file open: aborted
"$PY" - "$MNT/dead.bin" <<'PYEOF' || true
import os, signal, sys
f = open(sys.argv[1], "wb")
f.write(b"x" * 1000)
f.flush()
os.kill(os.getpid(), signal.SIGKILL)
PYEOF
wait_for grep -q '^ckptfs: abort name=dead.bin ' "$LOG" || fail "no abort line: $(cat "$LOG")"
line "abort name=dead.bin reason=.+" "abort line"

stop_mount
line "unmount store=$(ere_quote "$STORE") mnt=$MNT" "unmount line"

# -o quiet: no commit lines, the rest stays
: >"$LOG"
start_mount quiet
head -c 1000 /dev/urandom >"$MNT/q.bin"
wait_for is_latest q.bin || fail "q.bin not committed under quiet"
rm "$MNT/q.bin"
line "delete name=q.bin rule=user" "delete line under quiet"
grep -q '^ckptfs: commit ' "$LOG" && fail "commit line under -o quiet: $(cat "$LOG")"
stop_mount
line "unmount store=$(ere_quote "$STORE") mnt=$MNT" "unmount line under quiet"
echo "ok: operator log lines"
