# Shared helpers for the real-mount tests (sourced by tests/mount/test_*.sh).
#
# Env (set by CTest): CKPTFS, CKPT (binaries), CKPT_SRC, CKPT_BUILD.
# Every test gets its own temp dir T with STORE=$T/store and MNT=$T/mnt;
# start_mount runs `$CKPTFS $STORE $MNT -f -o settle_ms=300[,EXTRA]` in the
# background and waits until it is mounted. The EXIT trap unmounts
# (fusermount3 -u, then -uz), waits for / kills only the daemon it started,
# and removes T. Exit 77 = skipped (no FUSE here).
set -euo pipefail

PY=/usr/bin/python3
: "${CKPT_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${CKPT_BUILD:=$CKPT_SRC/build}"
: "${CKPTFS:=$CKPT_BUILD/ckptfs}"
: "${CKPT:=$CKPT_BUILD/ckpt}"
SETTLE_MS=300

if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null 2>&1; then
  echo "SKIP: needs /dev/fuse and fusermount3" >&2
  exit 77
fi
[ -x "$CKPTFS" ] || { echo "FAIL: CKPTFS=$CKPTFS is not executable" >&2; exit 1; }

T=$(mktemp -d /tmp/ckptfs-test.XXXXXX)
STORE=$T/store
STORE_DIR=$T/store # the store directory (chunks/, staging/) whatever the index
MNT=$T/mnt
mkdir -p "$MNT"
DAEMON_PID=
LOG=$T/daemon.log
TEST_NAME=$(basename "$0" .sh)

is_mounted() { awk -v m="$MNT" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }

unmount_quietly() {
  if is_mounted; then
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
      fusermount3 -u "$MNT" 2>/dev/null && break
      sleep 0.3
    done
    is_mounted && fusermount3 -uz "$MNT" 2>/dev/null
  fi
  return 0
}

# Waits for our daemon to exit (up to $1 seconds), then kills it.
reap_daemon() {
  local secs=${1:-10} i
  [ -n "$DAEMON_PID" ] || return 0
  for ((i = 0; i < secs * 10; i++)); do
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$DAEMON_PID" 2>/dev/null; then
    echo "daemon $DAEMON_PID did not exit; killing it" >&2
    kill -9 "$DAEMON_PID" 2>/dev/null || true
  fi
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=
}

EXTRA_CLEANUP=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  cd /
  # Background helpers the test started (readers, writers): only ours.
  local p
  for p in $(jobs -p); do
    [ "$p" = "$DAEMON_PID" ] || [ "$p" = "${DAEMON_B_PID:-}" ] && continue # daemons: unmounted first
    kill -9 "$p" 2>/dev/null || true
  done
  # a failure shows the mount's own account (index errors at commit, refusals)
  [ $rc -eq 0 ] || ! is_mounted || { echo "--- .ckptfs/status ---" >&2; timeout 5 cat "$MNT/.ckptfs/status" >&2 || true; }
  unmount_quietly
  reap_daemon 10
  local c
  for c in "${EXTRA_CLEANUP[@]}"; do eval "$c" || true; done
  if [ $rc -ne 0 ] && [ -s "$LOG" ]; then
    echo "--- daemon log (tail) ---" >&2
    tail -n 30 "$LOG" >&2
  fi
  if [ -n "${CKPT_TEST_KEEP:-}" ] && [ $rc -ne 0 ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  exit 1
}

# CKPT_TEST_MOUNT_INDEX=postgresql: the same test against a PostgreSQL store
# (a fresh database on CKPT_TEST_PG's server, dropped by the trap);
# sqlite_only WHY skips a test that is about the SQLite index file.
sqlite_only() {
  [ "${CKPT_TEST_MOUNT_INDEX:-}" = postgresql ] || return 0
  echo "SKIP (sqlite only): $*" >&2
  exit 77
}
if [ "${CKPT_TEST_MOUNT_INDEX:-}" = postgresql ]; then
  [ -n "${CKPT_TEST_PG:-}" ] || fail "CKPT_TEST_MOUNT_INDEX=postgresql needs CKPT_TEST_PG"
  PG_DB=ckmt_$(basename "$T" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')
  psql -X -q -v ON_ERROR_STOP=1 "$CKPT_TEST_PG dbname=postgres" -c "CREATE DATABASE $PG_DB" >/dev/null ||
    fail "cannot create database $PG_DB"
  EXTRA_CLEANUP+=("psql -X -q '$CKPT_TEST_PG dbname=postgres' -c 'DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)' >/dev/null")
  # one mount: what the tests delete is reclaimed at once, as on SQLite
  export CKPT_GC_GRACE_MS=${CKPT_GC_GRACE_MS:-0}
fi

# use_store_dir DIR: the store directory becomes DIR (e.g. on a small tmpfs);
# STORE is DIR itself on SQLite, the PostgreSQL address with chunks=DIR in pg mode.
use_store_dir() {
  STORE_DIR=$1
  if [ "${CKPT_TEST_MOUNT_INDEX:-}" = postgresql ]; then
    STORE="postgresql:$CKPT_TEST_PG dbname=$PG_DB?chunks=$STORE_DIR"
  else
    STORE=$STORE_DIR
  fi
}
use_store_dir "$STORE_DIR"

# ere_quote STR: STR as an extended regex matching itself (a pg STORE has
# `?`, `.` and spaces).
ere_quote() { sed 's/[][\\.*^$?+(){}|]/\\&/g' <<<"$1"; }

# mounts_escape STR: STR as /proc/self/mounts and fstab write it (space, tab,
# newline and backslash as octal escapes).
mounts_escape() {
  local s=${1//\\/\\134}
  s=${s// /\\040}
  s=${s//$'\t'/\\011}
  printf '%s' "${s//$'\n'/\\012}"
}

assert_eq() { # assert_eq ACTUAL EXPECTED WHAT
  [ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"
}

assert_ne() {
  [ "$1" != "$2" ] || fail "$3: did not expect '$2'"
}

assert_exists() { [ -e "$1" ] || fail "$2: $1 does not exist"; }
assert_missing() { [ ! -e "$1" ] || fail "$2: $1 exists"; }

# start_mount [EXTRA_OPTIONS]: mounts in the foreground in the background.
# MOUNT_WRAP (an array, e.g. `unshare --pid --fork --kill-child`) runs the
# daemon under a wrapper; DAEMON_PID is then the wrapper's.
MOUNT_WRAP=()
start_mount() {
  local extra=${1:-}
  local opts="settle_ms=$SETTLE_MS"
  [ -n "$extra" ] && opts="$opts,$extra"
  "${MOUNT_WRAP[@]}" "$CKPTFS" "$STORE" "$MNT" -f -o "$opts" >>"$LOG" 2>&1 &
  DAEMON_PID=$!
  local i
  for i in $(seq 1 100); do
    is_mounted && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || { wait "$DAEMON_PID" || true; DAEMON_PID=; cat "$LOG" >&2; fail "ckptfs exited before mounting"; }
    sleep 0.1
  done
  fail "ckptfs did not mount within 10 s"
}

# adopt_daemon: DAEMON_PID becomes the detached daemon serving MNT (one that
# mount(8) or `ckptfs` without -f started; its command line names MNT).
adopt_daemon() {
  local p
  for p in $(pgrep -x ckptfs); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "$MNT" && DAEMON_PID=$p
  done
  [ -n "$DAEMON_PID" ] || fail "no ckptfs daemon serving $MNT"
}

# stop_mount: clean unmount, waits for the daemon to finish (it commits quiet work).
stop_mount() {
  fusermount3 -u "$MNT" || fail "fusermount3 -u failed"
  reap_daemon 20
}

# errno_of PYTHON_STATEMENT: runs it, prints the errno name it failed with, or OK.
errno_of() {
  "$PY" - "$1" <<'EOF'
import errno, os, sys
try:
    exec(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
}

assert_errno() { # assert_errno ERRNO_NAME PYTHON_STATEMENT
  local got
  got=$(cd "$MNT" && errno_of "$2")
  [ "$got" == "$1" ] || fail "$2: expected $1, got $got"
}

# ckpt_field NAME FIELD: a field of checkpoint NAME in `ckpt ls --all --json`:
# the live (staging/committed) one if any, else the last listed; "none" if none.
ckpt_field() {
  local name=$1 field=$2
  "$CKPT" ls "$STORE" --all --json | "$PY" -c '
import json, sys
name, field = sys.argv[1], sys.argv[2]
rows = [r for r in json.load(sys.stdin) if r["name"] == name]
live = [r for r in rows if r["state"] in ("staging", "committed")]
rows = live or rows
print(rows[-1].get(field) if rows else "none")
' "$name" "$field"
}

# The name .ckptfs/latest reports (empty when there is none).
latest_name() { cat "$MNT/.ckptfs/latest"; }
# is_latest NAME: for wait_for (a $(...) argument would be evaluated once).
is_latest() { [ "$(latest_name)" = "$1" ]; }

# wait_for COMMAND...: retries for up to 30 s (a loaded machine starts python+torch slowly; every caller fails on a timeout, none waits for something not to happen).
wait_for() {
  local i
  for i in $(seq 1 300); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# kill_between_files DIR FILE: a python saver makes DIR, writes and closes
# DIR/FILE, then waits; it is SIGKILLed there, with no file open.
kill_between_files() {
  rm -f "$T/saver-ready"
  "$PY" - "$1" "$2" "$T/saver-ready" <<'PYEOF' &
import os, sys, time
d, name, ready = sys.argv[1:4]
os.mkdir(d)
with open(os.path.join(d, name), "wb") as f:
    f.write(os.urandom(100000))
open(ready, "w").close()
time.sleep(60)
PYEOF
  local saver=$!
  wait_for test -e "$T/saver-ready" || fail "saver never got going"
  kill -9 $saver
  wait $saver 2>/dev/null || true
}

# small_tmpfs SIZE: a tmpfs of SIZE at $T/small (unmounted by the trap); skips
# the test (77) without root or when tmpfs cannot be mounted.
small_tmpfs() {
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for mount -t tmpfs" >&2; exit 77; }
  mkdir "$T/small"
  mount -t tmpfs -o size="$1" tmpfs "$T/small" || { echo "SKIP: cannot mount tmpfs" >&2; exit 77; }
  EXTRA_CLEANUP+=("umount -l '$T/small'")
}
