#!/usr/bin/env bash
# Damage never spreads: a chunk file damaged on disk (one byte flipped, same
# size) is EIO for its readers; once a read or `ckpt verify` has found it,
# the next save of the same bytes through the mount (cp) commits, reads back
# intact and heals every older checkpoint sharing the chunk (`ckpt log` says
# "heal"). The damaged chunk being a file's first chunk must not fail
# close(). A write that replaces a whole 1 MiB slot never reads the old chunk.
source "$(dirname "$0")/lib.sh"

MIB=1048576
# chunk_of FILE INDEX: the chunk file holding bytes [INDEX MiB, INDEX+1 MiB) of FILE
chunk_of() {
  local h
  h=$(dd if="$1" bs=$MIB skip="$2" count=1 status=none | sha256sum | cut -d' ' -f1)
  echo "$STORE_DIR/chunks/${h:0:2}/$h"
}
flip() { # flips one byte in the middle of a chunk file, same size
  "$PY" - "$1" <<'EOF'
import os, sys
p = sys.argv[1]
n = os.path.getsize(p)
with open(p, "r+b") as f:
    f.seek(n // 2); b = f.read(1); f.seek(n // 2); f.write(bytes([b[0] ^ 0x40]))
EOF
}

head -c $((3 * MIB + 4321)) /dev/urandom >"$T/a.bin"
head -c $((3 * MIB)) /dev/urandom >"$T/b.bin"
head -c $((2 * MIB)) /dev/urandom >"$T/w.bin"
head -c $MIB /dev/urandom >"$T/w0.bin"
start_mount
cp "$T/a.bin" "$MNT/old.bin"
mkdir "$MNT/tmp-run-1" && cp "$T/b.bin" "$MNT/tmp-run-1/b.bin" && mv "$MNT/tmp-run-1" "$MNT/run-1"
cp "$T/w.bin" "$MNT/w.bin"
stop_mount # the damage happens while nothing caches the data

# ---- found by a read; the damaged chunk is the file's first chunk
C=$(chunk_of "$T/a.bin" 0)
assert_exists "$C" "first chunk of a.bin"
flip "$C"
start_mount
cat "$MNT/old.bin" >/dev/null 2>&1 && fail "a damaged chunk read without an error"
"$CKPT" log "$STORE" | grep -q corrupt || fail "the read did not record corrupt"
grep -qE '^ckptfs: corrupt name=old.bin ino=[0-9]+: read failed: ' "$LOG" ||
  fail "no corrupt line in the operator's log: $(cat "$LOG")"
cp "$T/a.bin" "$MNT/new.bin" || fail "close() of a file whose first chunk was damaged failed"
assert_eq "$(latest_name)" "new.bin" "the new save is latest"
cmp "$MNT/new.bin" "$T/a.bin" || fail "the new save does not read back intact"
cmp "$MNT/old.bin" "$T/a.bin" || fail "the old checkpoint was not healed"
"$CKPT" log "$STORE" | grep heal | grep -q old.bin || fail "ckpt log does not say heal of old.bin"

# ---- found by ckpt verify (no read); healed by copying the file in again
stop_mount
flip "$(chunk_of "$T/b.bin" 2)"
start_mount
out=$("$CKPT" verify "$STORE" 2>&1) && fail "verify passed over a damaged chunk"
grep -q "run-1" <<<"$out" || fail "verify does not name the affected checkpoint: $out"
grep -q "marked" <<<"$out" || fail "verify did not mark the chunk: $out"
mkdir "$MNT/tmp-run-2" && cp "$T/b.bin" "$MNT/tmp-run-2/b.bin" && mv "$MNT/tmp-run-2" "$MNT/run-2" ||
  fail "saving the same bytes again failed"
cmp "$MNT/run-2/b.bin" "$T/b.bin" || fail "run-2 does not read back intact"
cmp "$MNT/run-1/b.bin" "$T/b.bin" || fail "run-1 was not healed"

# ---- a write replacing a whole slot does not read the damaged old chunk
stop_mount
flip "$(chunk_of "$T/w.bin" 0)"
start_mount
dd if="$T/w0.bin" of="$MNT/w.bin" bs=$MIB count=1 conv=notrunc status=none ||
  fail "a whole-slot overwrite of a damaged chunk failed"
{ cat "$T/w0.bin"; tail -c $MIB "$T/w.bin"; } >"$T/w.want"
wait_for cmp -s "$MNT/w.bin" "$T/w.want" || fail "w.bin after the overwrite"
stop_mount
start_mount # the old w.bin version (with the damaged chunk) is purged by now
stop_mount
out=$("$CKPT" verify "$STORE" 2>&1) || fail "verify after healing: $out"
echo "ok"
