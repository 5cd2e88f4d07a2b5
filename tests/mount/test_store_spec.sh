#!/usr/bin/env bash
# The store address through the front ends: a plain STORE, the explicit
# default (STORE?index=sqlite,chunks=dir for ckpt and ckptfs, and ckptfs
# -o index=sqlite,chunks=dir), an unknown backend, and backends other than
# the recorded ones. Refusals are one line, exit 1 (ckptfs) / 3 (ckpt),
# mount nothing, create nothing and change nothing.
source "$(dirname "$0")/lib.sh"
sqlite_only "about the SQLite index file and DIR store addresses"

one_line() { [ -n "$1" ] && [ "$(printf '%s\n' "$1" | wc -l)" = 1 ]; }

# refused WANT_RC WANT_TEXT COMMAND...: the command fails so, in one line.
refused() {
  local rc=$1 want=$2 err got=0
  shift 2
  err=$(timeout 20 "$@" 2>&1 >/dev/null) || got=$?
  is_mounted && { unmount_quietly; fail "$*: mounted"; }
  [ "$got" = "$rc" ] && one_line "$err" && grep -qF "$want" <<<"$err" ||
    fail "$*: exit $got, output '$err'; want exit $rc and '$want'"
}

# a store made through a plain directory, one checkpoint
start_mount
head -c 3000000 /dev/urandom >"$T/w.bin"
cp "$T/w.bin" "$MNT/step-1.bin"
wait_for grep -qx step-1.bin "$MNT/.ckptfs/latest" || fail "step-1.bin never became latest"
stop_mount
BASE=$("$CKPT" ls "$STORE")
grep -q step-1.bin <<<"$BASE" || fail "ckpt ls: $BASE"

# ckpt: the explicit default lists the same; unknown and other backends are refused
assert_eq "$("$CKPT" ls "$STORE?index=sqlite,chunks=dir")" "$BASE" "ckpt ls STORE?index=sqlite,chunks=dir"
refused 3 "unknown chunk backend 's3'" "$CKPT" ls "$STORE?chunks=s3"
refused 3 "unknown index backend 'mysql'" "$CKPT" ls "$STORE?index=mysql"
refused 3 "postgresql:CONNINFO?chunks=DIR" "$CKPT" ls "$STORE?index=postgresql"
refused 3 "unknown store option 'chunk=dir'" "$CKPT" ls "$STORE?chunk=dir"
# chunks=mem (the core's unit tests) is refused by the tools, so a mismatch
# with the recorded backends is tested in check_store_spec
refused 3 "chunks=mem keeps chunk data only in this process's memory" "$CKPT" ls "$STORE?chunks=mem"
refused 3 "ckptfs and ckpt refuse it" "$CKPT" gc "$STORE?chunks=mem"

# ckptfs: the same refusals, before mounting
refused 1 "ckptfs and ckpt refuse it" "$CKPTFS" "$STORE" "$MNT" -f -o chunks=mem
refused 1 "ckptfs and ckpt refuse it" "$CKPTFS" "$STORE?chunks=mem" "$MNT" -f
refused 1 "ckptfs and ckpt refuse it" "$CKPTFS" "$T/memstore" "$MNT" -f -o chunks=mem
assert_missing "$T/memstore/index.db" "no index for a refused chunks=mem store"
refused 1 "chunks given twice" "$CKPTFS" "$STORE?chunks=dir" "$MNT" -f -o chunks=mem
refused 1 "unknown chunk backend 's3'" "$CKPTFS" "$T/new" "$MNT" -f -o chunks=s3
assert_missing "$T/new" "store dir for an unknown backend"

# ckptfs: the explicit default mounts the store as it is
start_mount index=sqlite,chunks=dir
assert_eq "$(sha "$MNT/step-1.bin")" "$(sha "$T/w.bin")" "step-1.bin through -o index=sqlite,chunks=dir"
stop_mount

# a new store made through an address is today's directory store
STORE="$T/s2?chunks=dir" start_mount
cp "$T/w.bin" "$MNT/c2.bin"
stop_mount
assert_exists "$T/s2/index.db" "new store's index"
assert_exists "$T/s2/chunks" "new store's chunk directory"
grep -q c2.bin <<<"$("$CKPT" ls "$T/s2")" || fail "new store lacks c2.bin"
refused 3 "ckptfs and ckpt refuse it" "$CKPT" ls "$T/s2?chunks=mem"

assert_eq "$("$CKPT" ls "$STORE")" "$BASE" "store after the refusals"
echo "PASS [$TEST_NAME]"
