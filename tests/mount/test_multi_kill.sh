#!/usr/bin/env bash
# Two mounts of one PostgreSQL store: a writer killed on B aborts the
# checkpoint it shares with A, for both mounts; a mount whose daemon is
# killed (kill -9) loses its lease, the other mount reaps it and aborts the
# staging work it took part in, and nothing committed is lost.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/multi_lib.sh"
export CKPT_LEASE_MS=1500 # a dead mount is reaped within a few seconds

start_mount
start_mount_b
committed_base 400000

# (c) a writer killed on B: step_1, started on A, is aborted on both
mkdir "$MNT/step_1"
head -c 100000 /dev/urandom >"$MNT/step_1/a.bin"
wait_for test -d "$MNT_B/step_1" || fail "B does not see step_1"
hold_open "$MNT_B/step_1/b.bin" # sets writer
wait_for test -e "$T/opened" || fail "writer on B never opened its file"
kill -9 $writer
wait $writer 2>/dev/null || true
wait_for is_state step_1 aborted || fail "step_1 is $(state_of step_1) after its writer on B was killed"
wait_for test ! -e "$MNT/step_1" || fail "A still shows step_1"
[ ! -e "$MNT_B/step_1" ] || fail "B still shows step_1"
is_latest base.bin || fail "A: latest is '$(latest_name)'"
is_latest_b base.bin || fail "B: latest is '$(latest_b)'"
echo "ok: a writer killed on B aborts the checkpoint on A and B"

# (f) kill -9 of A's daemon while its writer of step_2 (which B writes into
# too) still has a file open: the data A never published is gone
mkdir "$MNT/step_2"
hold_open "$MNT/step_2/a.bin"
wait_for test -e "$T/opened" || fail "writer on A never opened its file"
wait_for test -d "$MNT_B/step_2" || fail "B does not see step_2"
head -c 100000 /dev/urandom >"$MNT_B/step_2/b.bin"
sleep 1 # > settle_ms: the writer open on A holds the commit
is_state step_2 staging || fail "step_2 is $(state_of step_2) while a writer on A has a file open"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
fusermount3 -uz "$MNT" 2>/dev/null || true
kill -9 $writer 2>/dev/null || true
wait $writer 2>/dev/null || true
wait_for is_state step_2 aborted || fail "step_2 is $(state_of step_2) after A's daemon was killed"
grep -q "abort name=step_2 reason=the mount writing it stopped" "$LOG_B" ||
  fail "B did not log the abort of step_2"
cmp "$T/base.src" "$MNT_B/latest" || fail "B: committed base.bin changed"
"$CKPT" verify "$STORE" >/dev/null || fail "ckpt verify after the killed mount"
head -c 100000 /dev/urandom >"$T/after.src"
cp "$T/after.src" "$MNT_B/after.bin"
wait_for is_latest_b after.bin || fail "B: latest is '$(latest_b)', not after.bin"
cmp "$T/after.src" "$MNT_B/latest" || fail "B: after.bin differs"
echo "ok: a killed mount is reaped by the other; its staging work is aborted, nothing committed lost"
