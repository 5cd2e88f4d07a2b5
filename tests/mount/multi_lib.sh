# Two mounts of one PostgreSQL store on one machine, standing in for two
# nodes (sourced by tests/mount/test_multi_*.sh after lib.sh; not a test).
#
# Needs CKPT_TEST_PG (tests/run_all.sh starts a private PostgreSQL; or
# `source tests/services/pg.sh; pg_start DIR`): without it the test skips
# (77), except under CI=true, where that is a failure. Makes a fresh database
# for the test (dropped by the EXIT trap), sets STORE to
# postgresql:CONNINFO?chunks=$T/store, so start_mount mounts A at $MNT;
# start_mount_b mounts B at $MNT_B (unmounted and reaped by the trap).
#
# CKPT_TEST_MULTI_CHUNKS=rados (the radosmount_test_multi_* variants): the
# chunks are objects in CKPT_TEST_CEPH_CONF's pool, in a namespace of the
# test's own (its objects removed by the trap), and each mount stages in its
# own node-local dir= ($T/store for A, $T/store-b for B): STORE is A's
# address, STORE_B B's. Without a cluster the variant skips, under CI=true it
# fails. chunk_count counts the store's chunks (files, or the namespace's
# objects) either way.
if [ -z "${CKPT_TEST_PG:-}" ]; then
  [ "${CI:-}" != true ] || fail "CKPT_TEST_PG is not set (tests/run_all.sh starts PostgreSQL)"
  echo "SKIP: CKPT_TEST_PG not set (source tests/services/pg.sh; pg_start DIR)" >&2
  exit 77
fi
DB=ckmt_$(basename "$T" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 "$CKPT_TEST_PG dbname=postgres" -c "$1" >/dev/null; }
psql_admin "CREATE DATABASE $DB" || fail "cannot create database $DB"
STORE="postgresql:$CKPT_TEST_PG dbname=$DB?chunks=$T/store"
STORE_B=$STORE
if [ "${CKPT_TEST_MULTI_CHUNKS:-}" = rados ]; then
  if [ -z "${CKPT_TEST_CEPH_CONF:-}" ]; then
    [ "${CI:-}" != true ] || fail "CKPT_TEST_CEPH_CONF is not set (tests/run_all.sh starts Ceph)"
    echo "SKIP: CKPT_TEST_CEPH_CONF not set (source tests/services/ceph.sh; ceph_start DIR)" >&2
    exit 77
  fi
  RADOS_NS=$DB
  rados_() {
    timeout 60 rados -c "$CKPT_TEST_CEPH_CONF" --id "$CKPT_TEST_CEPH_ID" --keyring "$CKPT_TEST_CEPH_KEYRING" \
      -p "$CKPT_TEST_CEPH_POOL" -N "$RADOS_NS" "$@"
  }
  rados_spec="rados:pool=$CKPT_TEST_CEPH_POOL,ns=$RADOS_NS,conf=$CKPT_TEST_CEPH_CONF,id=$CKPT_TEST_CEPH_ID"
  rados_spec="$rados_spec,keyring=$CKPT_TEST_CEPH_KEYRING,timeout=20"
  STORE="postgresql:$CKPT_TEST_PG dbname=$DB?chunks=$rados_spec,dir=$T/store"
  STORE_B="postgresql:$CKPT_TEST_PG dbname=$DB?chunks=$rados_spec,dir=$T/store-b"
  rados_clean() { local o; for o in $(rados_ ls); do rados_ rm "$o" || true; done; }
  EXTRA_CLEANUP+=(rados_clean)
  chunk_count() { rados_ ls | awk 'length($0) == 64 && /^[0-9a-f]+$/ { n++ } END { print n + 0 }'; }
else
  chunk_count() { find "$T/store/chunks" -type f | wc -l; }
fi
MNT_B=$T/mnt-b
mkdir -p "$MNT_B"
DAEMON_B_PID=
LOG_B=$T/daemon-b.log
# runs before the temp dir goes: B first, then the database
EXTRA_CLEANUP+=("MULTI_FAILED=\$rc stop_b_quietly" "psql_admin 'DROP DATABASE IF EXISTS $DB WITH (FORCE)'")

is_mounted_b() { awk -v m="$MNT_B" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }

# start_mount_b [EXTRA_OPTIONS]: the second mount, as start_mount.
start_mount_b() {
  local opts="settle_ms=$SETTLE_MS"
  [ -n "${1:-}" ] && opts="$opts,$1"
  "$CKPTFS" "$STORE_B" "$MNT_B" -f -o "$opts" >>"$LOG_B" 2>&1 &
  DAEMON_B_PID=$!
  local i
  for i in $(seq 1 100); do
    is_mounted_b && return 0
    kill -0 "$DAEMON_B_PID" 2>/dev/null || { cat "$LOG_B" >&2; fail "mount B exited before mounting"; }
    sleep 0.1
  done
  fail "mount B did not mount within 10 s"
}

stop_b_quietly() {
  if is_mounted_b; then
    fusermount3 -u "$MNT_B" 2>/dev/null || fusermount3 -uz "$MNT_B" 2>/dev/null || true
  fi
  if [ -n "$DAEMON_B_PID" ]; then
    local i
    for i in $(seq 1 100); do kill -0 "$DAEMON_B_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DAEMON_B_PID" 2>/dev/null || true
    wait "$DAEMON_B_PID" 2>/dev/null || true
    DAEMON_B_PID=
  fi
  if [ "${MULTI_FAILED:-0}" != 0 ] && [ -s "$LOG_B" ]; then
    echo "--- mount B log (tail) ---" >&2
    tail -n 20 "$LOG_B" >&2
  fi
}

# The name .ckptfs/latest reports on mount B.
latest_b() { cat "$MNT_B/.ckptfs/latest"; }
is_latest_b() { [ "$(latest_b)" = "$1" ]; }
# committed_base BYTES: A commits BYTES random bytes as base.bin ($T/base.src)
# and B sees it as latest: the committed data a test then checks is intact.
committed_base() {
  head -c "$1" /dev/urandom >"$T/base.src"
  cp "$T/base.src" "$MNT/base.bin"
  wait_for is_latest_b base.bin || fail "B: latest is '$(latest_b)', not base.bin"
}
state_of() { # state_of NAME: its newest row's state in ckpt ls --all
  "$CKPT" ls "$STORE" --all --json |
    "$PY" -c 'import json,sys; r=[c["state"] for c in json.load(sys.stdin) if c["name"]==sys.argv[1]]; print(r[-1] if r else "none")' "$1"
}
is_state() { [ "$(state_of "$1")" = "$2" ]; }
# hold_open FILE: a writer (pid in $writer) writes 100 kB into FILE, flushes,
# touches $T/opened and sleeps with the file open
hold_open() {
  rm -f "$T/opened"
  "$PY" - "$1" "$T/opened" <<'PYEOF' &
import os, sys, time
with open(sys.argv[1], "wb") as f:
    f.write(os.urandom(100000))
    f.flush()
    open(sys.argv[2], "w").close()
    time.sleep(60)
PYEOF
  writer=$!
}
