#!/usr/bin/env bash
# A PostgreSQL store whose server goes away under a mount (issue #13, item 1):
# while it is down every operation that needs the index fails with EIO at
# once (never ENOENT, never a hang), .ckptfs/status says the index connection
# is lost and the log says so once; a file opened before keeps reading. When
# the server is back the mount reconnects (backoff, at most 5 s apart) and
# everything works again: the committed checkpoint is intact, latest
# resolves, a new save commits, ckpt verify is clean. An outage longer than
# the lease: the mount's row is still there (nobody could reap it while the
# server was down), so its heartbeat renews it and a writer that kept its
# file open across the outage still commits.
#
# With two mounts: B, stalled (SIGSTOP) across such an outage, is not
# reaped by A when the server is back: after a reconnect a mount reaps
# nobody for one lease period, so the live mounts renew first.
#
# Runs its own private cluster (tests/services/pg.sh), which it stops with
# `pg_ctl stop -m immediate` and starts again on the same data directory.
. "$(dirname "$0")/lib.sh"
. "$CKPT_SRC/tests/services/pg.sh"

missing=()
for c in psql pg_config; do command -v "$c" >/dev/null || missing+=("$c"); done
[ "$(id -u)" != 0 ] || id postgres >/dev/null 2>&1 || missing+=("user postgres")
if [ ${#missing[@]} -gt 0 ]; then
  [ "${CI:-}" != true ] || fail "missing ${missing[*]} (run tools/deps.sh)"
  echo "SKIP: missing ${missing[*]} (run tools/deps.sh)" >&2
  exit 77
fi
chmod 755 "$T" # the server runs as postgres when we are root
pg_start "$T/pg" || { pg_stop; fail "cannot start a private PostgreSQL"; }
PG_BIN=$(_pg_bin)
. "$(dirname "$0")/multi_lib.sh" # a database in it; STORE; mount B
EXTRA_CLEANUP+=("pg_stop")       # after B and the database

pg_down() { _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 stop >/dev/null; }
pg_up() {
  _pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 start >/dev/null ||
    fail "the server did not start again"
  CKPT_TEST_PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid") # pg_stop checks it
}

# t_errno PYTHON_STATEMENT: the errno name it fails with, OK, or HANG after 30 s.
t_errno() {
  local out rc=0
  out=$(timeout 30 "$PY" - "$1" <<'EOF'
import errno, os, sys
M = os.environ["MNT"]
try:
    exec(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
) || rc=$?
  [ $rc -ne 124 ] || out=HANG
  echo "$out"
}
expect_errno() { # expect_errno ERRNO_NAME PYTHON_STATEMENT
  local got
  got=$(t_errno "$2")
  [ "$got" == "$1" ] || fail "server down: $2: expected $1, got $got"
}
export MNT

# reader FILE: opens FILE, then (once $T/go exists) reads it all and
# writes its sha256 (or the errno) to $T/read.out.
reader() {
  rm -f "$T/opened" "$T/go" "$T/read.out"
  "$PY" - "$1" "$T" <<'PYEOF' &
import hashlib, os, sys, time
path, t = sys.argv[1:3]
f = open(path, "rb")
open(t + "/opened", "w").close()
while not os.path.exists(t + "/go"):
    time.sleep(0.05)
try:
    out = hashlib.sha256(f.read()).hexdigest()
except OSError as e:
    out = "errno %d" % e.errno
open(t + "/read.out", "w").write(out + "\n")
PYEOF
  READER=$!
  wait_for test -e "$T/opened" || fail "reader never opened $1"
}

head -c 100000 /dev/urandom >"$T/a.src"
# slow_writer FILE: writes $T/a.src's first 1000 bytes to FILE, keeps it
# open until $T/go exists, then writes the rest; its pid in $writer.
slow_writer() {
  rm -f "$T/opened" "$T/go"
  "$PY" - "$1" "$T/a.src" "$T" <<'PYEOF' &
import os, sys, time
dst, src, t = sys.argv[1:4]
data = open(src, "rb").read()
with open(dst, "wb") as f:
    f.write(data[:1000])
    f.flush()
    open(t + "/opened", "w").close()
    while not os.path.exists(t + "/go"):
        time.sleep(0.05)
    f.write(data[1000:])
PYEOF
  writer=$!
  wait_for test -e "$T/opened" || fail "writer never opened $1"
}

# ---- a short outage (shorter than the lease) ---------------------------------
export CKPT_LEASE_MS=60000
start_mount
head -c 3000000 /dev/urandom >"$T/base.src"
cp "$T/base.src" "$MNT/base.bin"
wait_for is_latest base.bin || fail "base.bin did not commit"
reader "$MNT/base.bin"

lines0=$(wc -l <"$LOG")
pg_down
expect_errno EIO 'os.listdir(M)'
expect_errno EIO 'os.stat(M + "/latest")'
expect_errno EIO 'open(M + "/base.bin", "rb").read()'
expect_errno EIO 'open(M + "/new.bin", "wb").write(b"x")'
expect_errno EIO 'os.mkdir(M + "/newdir")'
expect_errno EIO 'os.listdir(M)'
touch "$T/go"
wait_for test -s "$T/read.out" || fail "the reader opened before the loss never finished"
assert_eq "$(cat "$T/read.out")" "$(sha "$T/base.src")" "a file opened before the loss reads"
wait $READER
status=$(timeout 30 cat "$MNT/.ckptfs/status") || fail "reading .ckptfs/status failed or hung"
grep -q 'index connection lost' <<<"$status" ||
  fail ".ckptfs/status has no note about the lost index connection: $status"
# one line for the whole outage, not one per operation (nor libpq's notices)
added=$(tail -n +$((lines0 + 1)) "$LOG")
assert_eq "$(wc -l <<<"$added")" 1 "log lines while the server is down: $added"
grep -q '^ckptfs: index connection lost: ' <<<"$added" || fail "the log line is not about the lost connection: $added"
echo "ok: server down: EIO at once, status note, one log line, an open file still reads"

t0=$(date +%s.%N)
pg_up
for i in $(seq 1 150); do
  [ "$(t_errno 'os.listdir(M)')" = OK ] && break
  sleep 0.1
done
[ "$(t_errno 'os.listdir(M)')" = OK ] || fail "the mount did not recover within 15 s"
echo "recovered $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after pg_ctl start"
cmp "$T/base.src" "$MNT/base.bin" || fail "base.bin changed"
is_latest base.bin || fail "latest is '$(latest_name)', not base.bin"
cmp "$T/base.src" "$MNT/latest" || fail "latest reads other bytes"
head -c 200000 /dev/urandom >"$T/two.src"
cp "$T/two.src" "$MNT/two.bin" || fail "saving after the reconnect failed"
wait_for is_latest two.bin || fail "two.bin did not commit after the reconnect"
grep -q 'index connection restored' "$LOG" || fail "the log does not say the connection is back"
"$CKPT" verify "$STORE" >/dev/null || fail "ckpt verify after the outage"
echo "ok: server back: reconnected, committed data intact, a new save commits, verify clean"
stop_mount

# ---- an outage longer than the lease -----------------------------------------
export CKPT_LEASE_MS=1000
start_mount
mkdir "$MNT/step_3"
slow_writer "$MNT/step_3/a.bin"
pg_down
sleep 3 # three leases
expect_errno EIO 'os.listdir(M)'
pg_up
for i in $(seq 1 150); do
  [ "$(t_errno 'os.listdir(M)')" = OK ] && break
  sleep 0.1
done
sleep 2 # a few heartbeats and reaps
touch "$T/go"
wait $writer || fail "the writer of step_3 failed after the outage"
wait_for is_latest step_3 ||
  fail "step_3 did not commit after an outage longer than the lease: it is $(ckpt_field step_3 state) ($(ckpt_field step_3 reason)); latest: $(latest_name)"
cmp "$T/a.src" "$MNT/step_3/a.bin" || fail "step_3/a.bin reads other bytes"
! grep -q 'lease lost' "$LOG" || fail "the lease was reported lost though nobody reaped it"
"$CKPT" verify "$STORE" >/dev/null || fail "ckpt verify after the long outage"
echo "ok: an outage longer than the lease: the heartbeat renews the row, the open writer commits"
stop_mount

# ---- two mounts; B stalled across the outage and a little after -------------
export CKPT_LEASE_MS=3000
start_mount
start_mount_b
mkdir "$MNT_B/step_4"
slow_writer "$MNT_B/step_4/b.bin"
restored0=$(grep -c 'index connection restored' "$LOG" || true)
pg_down
sleep 4 # longer than the lease
kill -STOP "$DAEMON_B_PID"
pg_up
wait_for eval '[ "$(grep -c "index connection restored" "$LOG")" -gt "$restored0" ]' ||
  { kill -CONT "$DAEMON_B_PID"; fail "A did not reconnect"; }
sleep 1.5 # A reaps once a second: it has looked at B's expired lease
kill -CONT "$DAEMON_B_PID"
sleep 2 # B's heartbeat renews
touch "$T/go"
wait $writer || fail "the writer of step_4 on B failed after the outage"
wait_for is_latest step_4 ||
  fail "step_4 did not commit: it is $(ckpt_field step_4 state) ($(ckpt_field step_4 reason)); latest: $(latest_name)"
! grep -q 'lease lost' "$LOG_B" || fail "B's lease was lost: A reaped it before it could renew"
echo "ok: after the outage A reaps nobody for a lease: B, stalled, renews and commits"
