#!/usr/bin/env bash
# Two mounts of one PostgreSQL store on one machine: when a mount's daemon
# dies (kill -9), a mount of the same host and PID namespace sees that its
# process is gone and reaps its lease at once, long before the lease would
# expire (120 s here): the staging checkpoint the dead mount took part in is
# aborted within seconds, committed data intact.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/multi_lib.sh"
export CKPT_LEASE_MS=120000

start_mount
start_mount_b
committed_base 200000
mkdir "$MNT/step_1"
hold_open "$MNT/step_1/a.bin" # sets writer
wait_for test -e "$T/opened" || fail "writer on A never opened its file"
wait_for test -d "$MNT_B/step_1" || fail "B does not see step_1"
head -c 100000 /dev/urandom >"$MNT_B/step_1/b.bin"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
fusermount3 -uz "$MNT" 2>/dev/null || true
kill -9 $writer 2>/dev/null || true
wait $writer 2>/dev/null || true
t0=$(date +%s)
wait_for is_state step_1 aborted || fail "step_1 is $(state_of step_1) long after A's daemon died"
took=$(($(date +%s) - t0))
echo "step_1 aborted $took s after A's daemon died"
[ "$took" -le 20 ] || fail "step_1 was aborted only after $took s: A's lease expired, its dead process was not noticed"
grep -q "abort name=step_1 reason=the mount writing it stopped" "$LOG_B" ||
  fail "B did not log the abort of step_1"
cmp "$T/base.src" "$MNT_B/latest" || fail "B: committed base.bin changed"
echo "ok: a dead mount of this host is reaped at once, not when its lease expires"
