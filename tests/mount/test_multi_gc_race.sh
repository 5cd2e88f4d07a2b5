#!/usr/bin/env bash
# Two mounts of one PostgreSQL store, gc across mounts: B saves bytes whose
# chunks nothing references any more (A deleted them longer ago than the
# grace period), and gc runs while B relies on those chunks but has not yet
# recorded its references (B pauses there: CKPT_CRASH_AT=put:held+MS). B's
# hold must keep them: its checkpoints keep their bytes (ckpt verify reads
# every chunk; a fresh mount reads them back). Then what nothing
# references comes back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/multi_lib.sh"
export CKPT_GC_GRACE_MS=1500

start_mount
CKPT_CRASH_AT=put:held+1000 start_mount_b
rounds=3
for i in $(seq 1 $rounds); do
  head -c 2097152 /dev/urandom >"$T/d_$i.src" # 2 chunks, new each round
  cp "$T/d_$i.src" "$MNT/x_$i.bin"
  rm "$MNT/x_$i.bin" # its chunks: unreferenced from now
  sleep 1.7          # > the grace period: gc may delete them
  cp "$T/d_$i.src" "$MNT_B/y_$i.bin" &
  saver=$!
  sleep 0.3 # B holds the first chunk and pauses before recording it
  "$CKPT" gc "$STORE" >/dev/null || fail "ckpt gc"
  wait $saver || fail "B: saving y_$i.bin failed"
done
# The same when B's flush stores the chunks itself (not the background
# worker: the file is written from its end, so no slot completes in order):
# the flush stamps them all at once, then pauses before recording them.
for i in $(seq 1 $rounds); do
  head -c 2097152 /dev/urandom >"$T/e_$i.src"
  rm -f "$T/go" "$T/closing"
  "$PY" - "$T/e_$i.src" "$MNT_B/yb_$i.bin" "$T/go" "$T/closing" <<'PYEOF' &
import os, sys, time
src, dst, go, closing = sys.argv[1:5]
data = open(src, "rb").read()
while not os.path.exists(go):  # started early: python's start-up is slow
    time.sleep(0.01)
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
half = 1 << 19
for off in range(len(data) - half, -1, -half):  # last piece first
    os.pwrite(fd, data[off:off + half], off)
open(closing, "w").close()
os.close(fd)  # flush: put, hold, pause (put:held), then the references
PYEOF
  saver=$!
  cp "$T/e_$i.src" "$MNT/xb_$i.bin"
  rm "$MNT/xb_$i.bin"
  sleep 1.7
  touch "$T/go"
  wait_for test -e "$T/closing" || fail "B's writer never got to its close"
  sleep 0.3 # B's flush holds its chunks and pauses before recording them
  "$CKPT" gc "$STORE" >/dev/null || fail "ckpt gc"
  wait $saver || fail "B: saving yb_$i.bin failed"
done
stop_b_quietly
stop_mount
"$CKPT" verify "$STORE" || fail "ckpt verify after gc raced B's deduplicating saves"
start_mount
for i in $(seq 1 $rounds); do
  cmp "$T/d_$i.src" "$MNT/y_$i.bin" || fail "y_$i.bin lost bytes"
  cmp "$T/e_$i.src" "$MNT/yb_$i.bin" || fail "yb_$i.bin lost bytes"
done
echo "ok: gc across mounts never deletes a chunk a mount relies on ($rounds rounds)"
n=$(chunk_count)
[ "$n" -gt 0 ] || fail "the store holds no chunks while y_*.bin are committed"

for i in $(seq 1 $rounds); do rm "$MNT/y_$i.bin" "$MNT/yb_$i.bin"; done
sleep 1.7
"$CKPT" gc "$STORE" >/dev/null || fail "ckpt gc"
n=$(chunk_count)
assert_eq "$n" 0 "chunks left after deleting every checkpoint and gc past the grace period"
echo "ok: gc across mounts reclaims every chunk nothing references"
