#!/usr/bin/env bash
# Two mounts of one PostgreSQL store: B saves bytes whose chunks gc is in
# the middle of deleting (`ckpt gc` pauses after deleting a chunk's file,
# its row still marked dying: CKPT_CRASH_AT=gc:before_rows+MS). B's hold
# meets the dying row, waits until gc is done with it and stores the chunk
# again: the save succeeds (never ESTALE, never a reference to a deleted
# file), the bytes read back, `ckpt verify` is clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/multi_lib.sh"
export CKPT_GC_GRACE_MS=3000 # long beside stalls of a loaded machine

start_mount
start_mount_b
head -c 2097152 /dev/urandom >"$T/d.src" # 2 chunks
cp "$T/d.src" "$MNT/x.bin"
rm "$MNT/x.bin" # its chunks: unreferenced from now
sleep 3.3       # > the grace period
CKPT_CRASH_AT=gc:before_rows+2500 "$CKPT" gc "$STORE" >/dev/null &
gc=$!
sleep 0.8 # gc deleted the first chunk's file and pauses, its row dying
cp "$T/d.src" "$MNT_B/y.bin" || fail "B: saving y.bin while gc deletes its chunks failed"
wait $gc || fail "ckpt gc failed"
cmp "$T/d.src" "$MNT_B/y.bin" || fail "B: y.bin differs"
stop_b_quietly
stop_mount
"$CKPT" verify "$STORE" || fail "ckpt verify after B saved chunks gc was deleting"
start_mount
cmp "$T/d.src" "$MNT/y.bin" || fail "y.bin lost bytes"
echo "ok: a save meeting a chunk gc is deleting waits and stores it again"
