#!/usr/bin/env bash
# Deletion always works: with the STORE's filesystem filled by another job,
# `rm MNT/CKPT` and `ckpt gc` (beside the mount and without it) succeed and
# free real bytes (the store keeps a reserve for its index's own writes).
source "$(dirname "$0")/lib.sh"

small_tmpfs 32m
use_store_dir "$T/small/store"

avail() { df -B1 --output=avail "$T/small" | tail -1 | tr -d ' '; }
# fill: another job takes every free byte (dd stops at ENOSPC).
fill() { dd if=/dev/zero of="$T/small/ballast-$1" bs=64k 2>/dev/null || true; }
chunk_bytes() { find "$STORE_DIR/chunks" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
# freed BEFORE_AVAIL BEFORE_CHUNKS BYTES: the checkpoints' chunks (BYTES) are
# gone and the filesystem has at least 1 MiB more free (the index's WAL may
# keep some of what was freed).
freed() { [ "$(chunk_bytes)" -le $(($2 - $3)) ] && [ "$(avail)" -ge $(($1 + (1 << 20))) ]; }

start_mount
for i in 1 2 3 4; do
  head -c $((3 << 20)) /dev/urandom >"$T/src-$i"
  cp "$T/src-$i" "$MNT/step-$i.ckpt"
done
assert_eq "$(latest_name)" "step-4.ckpt" "four checkpoints committed"
fill 1
[ "$(avail)" -lt 65536 ] || fail "the filesystem is not full: $(avail) bytes free"
head -c $((1 << 20)) /dev/urandom >"$MNT/step-5.ckpt" 2>/dev/null && fail "writing to a full disk succeeded"

# ---- rm on a full disk
before=$(avail) chunks=$(chunk_bytes)
rm "$MNT/step-1.ckpt" || { cat "$MNT/.ckptfs/status" >&2; fail "rm on a full disk"; }
assert_missing "$MNT/step-1.ckpt" "the deleted checkpoint"
wait_for freed "$before" "$chunks" $((3 << 20)) || fail "rm freed $(( $(avail) - before )) bytes, chunks $(( chunks - $(chunk_bytes) )) of 3 MiB"
assert_eq "$(ckpt_field step-1.ckpt state)" "deleted" "the index records the deletion"

# ---- ckpt gc beside the mount on a full disk: retention deletes, the mount reclaims
"$CKPT" policy "$STORE" keep_last=1 >/dev/null || fail "ckpt policy"
fill 2
before=$(avail) chunks=$(chunk_bytes)
"$CKPT" gc "$STORE" >"$T/gc.out" 2>&1 || { cat "$T/gc.out" >&2; fail "ckpt gc beside the mount on a full disk"; }
assert_eq "$(ckpt_field step-2.ckpt state)" "deleted" "gc applied keep_last=1"
assert_eq "$(ckpt_field step-3.ckpt state)" "deleted" "gc applied keep_last=1"
wait_for freed "$before" "$chunks" $((6 << 20)) || { cat "$MNT/.ckptfs/status" >&2; df -B1 "$T/small" >&2; ls -ls "$STORE" >&2; false; } || fail "gc beside the mount freed $(( $(avail) - before )) bytes, chunks $(( chunks - $(chunk_bytes) )) of 6 MiB"
assert_eq "$(sha "$MNT/step-4.ckpt")" "$(sha "$T/src-4")" "latest intact"

# ---- ckpt gc without a mount on a full disk
rm -f "$T"/small/ballast-*
"$CKPT" policy "$STORE" keep_last=0 >/dev/null || fail "ckpt policy"
cp "$T/src-1" "$MNT/step-6.ckpt"
cp "$T/src-2" "$MNT/step-7.ckpt"
"$CKPT" policy "$STORE" keep_last=1 >/dev/null || fail "ckpt policy"
stop_mount
fill 3
before=$(avail) chunks=$(chunk_bytes)
"$CKPT" gc "$STORE" >"$T/gc.out" 2>&1 || { cat "$T/gc.out" >&2; fail "ckpt gc on a full disk"; }
assert_eq "$(ckpt_field step-6.ckpt state)" "deleted" "gc applied keep_last=1 without the mount"
freed "$before" "$chunks" $((3 << 20)) || fail "ckpt gc freed $(( $(avail) - before )) bytes, chunks $(( chunks - $(chunk_bytes) )) of 3 MiB"

fill 4
start_mount
assert_eq "$(sha "$MNT/step-7.ckpt")" "$(sha "$T/src-2")" "latest intact after remount on a full disk"
rm "$MNT/step-7.ckpt" || fail "rm after a remount on a full disk"
stop_mount
rm -f "$T"/small/ballast-*
"$CKPT" verify "$STORE" >/dev/null || fail "verify after the full-disk deletions"
echo "ok"
