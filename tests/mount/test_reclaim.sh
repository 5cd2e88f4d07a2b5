#!/usr/bin/env bash
# Space of deleted versions comes back without waiting for the kernel's
# caches: readers of MNT/latest/m.bin leave dentries of versions that
# retention deletes; once they stop (no open file, no working directory
# inside) the stored bytes drop to what the kept checkpoints use within a
# few seconds, without a cache drop. Retention started by a `ckpt policy`
# change beside the mount reclaims too, and so does a clean unmount.
source "$(dirname "$0")/lib.sh"

chunk_bytes() { find "$STORE_DIR/chunks" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

# wait_bytes_below LIMIT: polls up to 5 s for the chunk bytes to drop below LIMIT.
wait_bytes_below() {
  local i
  for i in $(seq 1 50); do
    [ "$(chunk_bytes)" -lt "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

save_dir() { # save_dir NAME BYTES: a directory checkpoint, committed by the rename
  mkdir "$MNT/tmp-$1"
  head -c "$2" /dev/urandom >"$MNT/tmp-$1/m.bin"
  mv "$MNT/tmp-$1" "$MNT/$1"
}

"$CKPT" policy "$STORE" keep_last=1 >/dev/null 2>&1 || true
start_mount
"$CKPT" policy "$STORE" keep_last=1 >/dev/null || fail "ckpt policy keep_last=1"

# ---- 1. readers of latest while retention deletes what they read
reader() { while :; do cat "$MNT/latest/m.bin" >/dev/null 2>&1 || true; done; }
reader & R1=$!
reader & R2=$!
for i in $(seq 1 20); do save_dir "step-$i" $((3 << 20)); done
save_dir step-last 1024
kill "$R1" "$R2"; wait "$R1" "$R2" 2>/dev/null || true
assert_eq "$(ls "$MNT" | grep -c '^step-')" "1" "keep_last=1 keeps one checkpoint"
wait_bytes_below $((1 << 20)) ||
  fail "deleted versions read through latest still hold $(chunk_bytes) bytes 5 s after the readers stopped"

# A working directory inside a deleted version keeps it (and its bytes).
save_dir step-cwd $((2 << 20))
( cd "$MNT/latest" && sleep 3 ) & CWD=$!
sleep 0.3
save_dir step-after 1024
sleep 1
[ "$(chunk_bytes)" -ge $((2 << 20)) ] || fail "a working directory's version was reclaimed under it"
wait "$CWD"
wait_bytes_below $((1 << 20)) || fail "the version left by the working directory holds $(chunk_bytes) bytes"

# ---- 2. `ckpt policy` beside the mount, then one commit
"$CKPT" policy "$STORE" keep_last=0 >/dev/null
for i in $(seq 1 12); do save_dir "many-$i" $((1 << 20)); done
[ "$(chunk_bytes)" -ge $((12 << 20)) ] || fail "12 checkpoints of 1 MiB are stored"
"$CKPT" policy "$STORE" keep_last=2 >/dev/null
save_dir many-last 1024
assert_eq "$(ls "$MNT" | grep -c '^many-')" "2" "retention after the policy change"
wait_bytes_below $((2 << 20)) || fail "retention beside the mount left $(chunk_bytes) bytes stored"

# ---- 3. unmount leaves no deleted version behind; gc reports the bytes
# A working directory inside a version that retention deletes holds it up to
# the unmount (lazy, since the directory is still in use): the kernel sends
# no forgets when it tears the mount down, so the daemon reclaims at exit.
"$CKPT" policy "$STORE" keep_last=0 >/dev/null
save_dir u-1 $((2 << 20))
( cd "$MNT/u-1" && sleep 2 ) & CWD=$!
sleep 0.3
"$CKPT" policy "$STORE" keep_last=1 >/dev/null
save_dir u-last 1024
sleep 0.5
[ "$(chunk_bytes)" -ge $((2 << 20)) ] || fail "a working directory's version was reclaimed under it"
fusermount3 -uz "$MNT" || fail "fusermount3 -uz"
wait "$CWD"
reap_daemon 20
[ "$(chunk_bytes)" -lt $((1 << 20)) ] || fail "the unmount left $(chunk_bytes) bytes of deleted versions"
"$CKPT" log "$STORE" >"$T/log.txt" || fail "ckpt log"
tail -n 3 "$T/log.txt" | grep -q "gc.*freed [1-9]" || { tail "$T/log.txt" >&2; fail "the unmount's gc event does not report the freed bytes"; }
echo "ok"
