#!/usr/bin/env bash
# df (statvfs) on the mount shows the room admission gives, not the store
# filesystem's: with max_bytes the size is max_bytes, used is what the store
# holds and available what is left of it; min_free is held back from what
# is available. Without either, the store filesystem's numbers as before.
source "$(dirname "$0")/lib.sh"

MiB=$((1024 * 1024))
# statvfs PATH: "size used avail" in bytes, as df computes them.
statvfs() {
  "$PY" -c 'import os, sys
v = os.statvfs(sys.argv[1])
print(v.f_blocks * v.f_frsize, (v.f_blocks - v.f_bfree) * v.f_frsize, v.f_bavail * v.f_frsize)' "$1"
}
stored() { "$CKPT" stats "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])'; }
near() { # near A B SLACK WHAT
  [ $(($1 - $2)) -le "$3" ] && [ $(($2 - $1)) -le "$3" ] || fail "$4: $1, expected $2 (± $3)"
}

start_mount
read -r size0 _ avail0 < <(statvfs "$MNT")
read -r hsize _ havail < <(statvfs "$STORE_DIR")
assert_eq "$size0" "$hsize" "no limits: the store filesystem's size"
near "$avail0" "$havail" $((256 * MiB)) "no limits: the store filesystem's available bytes"
stop_mount

start_mount "max_bytes=64M"
head -c $((10 * MiB)) /dev/urandom >"$MNT/a.bin"
read -r size used avail < <(statvfs "$MNT")
assert_eq "$size" $((64 * MiB)) "max_bytes=64M: df size"
s=$(stored)
near "$used" "$s" $((64 * 1024)) "max_bytes=64M: df used is the stored bytes"
near "$avail" $((64 * MiB - s)) $((64 * 1024)) "max_bytes=64M: df available is what is left"
out=$(df -B1 --output=size "$MNT" | tail -n 1 | tr -d ' ')
assert_eq "$out" $((64 * MiB)) "df(1) shows max_bytes as the size"
stop_mount

# min_free: hold back all but about 1 GiB of the store filesystem's space
read -r _ _ havail < <(statvfs "$STORE_DIR")
[ "$havail" -gt $((2048 * MiB)) ] || { echo "SKIP: needs 2 GiB free under $T" >&2; exit 77; }
start_mount "max_bytes=0,min_free=$(((havail - 1024 * MiB) / 1024))K"
read -r size _ avail < <(statvfs "$MNT")
read -r hsize _ havail2 < <(statvfs "$STORE_DIR")
assert_eq "$size" "$hsize" "min_free: the store filesystem's size"
near "$avail" $((havail2 - (havail - 1024 * MiB))) $((256 * MiB)) "min_free: df available is free minus min_free"
echo "PASS [$TEST_NAME]"
