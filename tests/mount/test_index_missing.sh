#!/usr/bin/env bash
# A STORE that holds chunk data but no usable index is refused, by the mount
# and by ckpt, with a one-line error, and no chunk file is deleted: index.db
# moved away, index.db empty, and the index lost with index.db-wal after a
# daemon crash. Putting index.db back gives every checkpoint back intact; a
# fresh index over the old chunks needs them moved away first.
source "$(dirname "$0")/lib.sh"
sqlite_only "about the SQLite index file and DIR store addresses"

chunk_list() { (cd "$STORE_DIR/chunks" && find . -type f | sort | xargs -r sha256sum); }

# try_mount WHAT: the mount must refuse: exit non-zero, one line on stderr
# naming the index, nothing mounted, every chunk file still there.
try_mount() {
  local rc=0 err
  timeout 5 "$CKPTFS" "$STORE" "$MNT" -f -o settle_ms=$SETTLE_MS >"$T/out" 2>"$T/err" || rc=$?
  if is_mounted; then unmount_quietly; fail "$1: mounted over a store without its index"; fi
  [ "$rc" -ne 124 ] || fail "$1: ckptfs mounted (ran until the timeout); chunk files left: $(chunk_list | wc -l) of $(wc -l <<<"$CHUNKS")"
  [ "$rc" -ne 0 ] || fail "$1: ckptfs exited 0"
  err=$(cat "$T/err")
  assert_eq "$(wc -l <"$T/err")" "1" "$1: one line on stderr ($err)"
  grep -q "index" "$T/err" || fail "$1: the error does not name the index: $err"
  assert_eq "$(chunk_list)" "$CHUNKS" "$1: chunk files after the refused mount"
}

# try_ckpt WHAT ARGS...: ckpt refuses with exit 3 and deletes nothing.
try_ckpt() {
  local what=$1 rc=0
  shift
  "$CKPT" "$@" >"$T/out" 2>"$T/err" || rc=$?
  assert_eq "$rc" "3" "$what: ckpt $* exit code ($(cat "$T/err"))"
  assert_eq "$(chunk_list)" "$CHUNKS" "$what: chunk files after ckpt $*"
}

start_mount
head -c 3000000 /dev/urandom >"$T/a.bin"
cp "$T/a.bin" "$MNT/one.pt"
mkdir "$T/d"; head -c 2500000 /dev/urandom >"$T/d/w.bin"; echo hi >"$T/d/x.txt"
cp -r "$T/d" "$MNT/two"
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = two ]" || fail "two never committed"
stop_mount
CHUNKS=$(chunk_list)
[ "$(wc -l <<<"$CHUNKS")" -ge 5 ] || fail "expected chunk files, found: $CHUNKS"

# 1. index.db moved away (a restore that forgot it, an rm by mistake)
mkdir "$T/saved"
mv "$STORE"/index.db* "$T/saved/"
try_mount "index.db missing"
assert_missing "$STORE_DIR/index.db" "the refused mount created no index"
try_ckpt "index.db missing" gc "$STORE"
try_ckpt "index.db missing" verify "$STORE"

# 2. an empty index.db (what is left when the index lived only in the WAL)
: >"$STORE_DIR/index.db"
try_mount "empty index.db"
try_ckpt "empty index.db" gc "$STORE"
try_ckpt "empty index.db" commit "$STORE" one.pt
assert_eq "$(stat -c %s "$STORE_DIR/index.db")" "0" "nothing initialised the empty index"

# Putting the index back gives everything back, byte for byte.
rm -f "$STORE"/index.db*
mv "$T/saved"/index.db* "$STORE_DIR/"
start_mount
assert_eq "$(sha "$MNT/one.pt")" "$(sha "$T/a.bin")" "one.pt after the index came back"
assert_eq "$(sha "$MNT/latest/w.bin")" "$(sha "$T/d/w.bin")" "latest/w.bin after the index came back"

stop_mount

# 3. a new store's daemon dies while the whole index lives in index.db-wal,
# and the WAL is lost: the index.db left behind has no tables.
mv "$STORE" "$T/store1"
start_mount
head -c 1500000 /dev/urandom >"$T/b.bin"
cp "$T/b.bin" "$MNT/three.pt"
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = three.pt ]" || fail "three.pt never committed"
kill -9 "$DAEMON_PID"
reap_daemon 10
fusermount3 -uz "$MNT" 2>/dev/null || true
CHUNKS=$(chunk_list)
rm -f "$STORE_DIR/index.db-wal" "$STORE_DIR/index.db-shm"
assert_eq "$("$PY" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from sqlite_master").fetchone()[0])' "$STORE_DIR/index.db")" 0 \
  "tables in index.db without its WAL"
try_mount "index lost with index.db-wal"
try_ckpt "index lost with index.db-wal" gc "$STORE"

# The documented way to start a fresh index over old chunks: move them away.
mv "$STORE_DIR/chunks" "$T/old-chunks"
rm -f "$STORE"/index.db*
start_mount
echo fresh >"$MNT/fresh.pt"
assert_eq "$(cat "$MNT/fresh.pt")" "fresh" "a fresh index once the old chunks are moved away"
assert_eq "$(cd "$T/old-chunks" && find . -type f | sort | xargs -r sha256sum)" "$CHUNKS" "the moved chunks are untouched"
echo "PASS [$TEST_NAME]"
