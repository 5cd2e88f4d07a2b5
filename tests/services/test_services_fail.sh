#!/usr/bin/env bash
# The service scripts fail loudly and clean up: ceph_start returns non-zero
# with a message naming the cause when the cluster cannot come up (deadline
# too short; mon port taken: noticed when the mon dies, not at the deadline);
# pg_start refuses a non-empty directory and leaves it alone. No process or
# directory is left. Durations are printed, not asserted (no timed checks).
. "$(dirname "$0")/lib.sh"

# expect_fail LABEL MESSAGE-REGEX CMD...: CMD must fail, print MESSAGE-REGEX
# on stderr and leave nothing running.
expect_fail() {
	local label=$1 re=$2 t0 t1
	shift 2
	t0=$(now)
	if "$@" 2>"$T/err"; then fail "$label: started"; fi
	t1=$(now)
	grep -Eq "$re" "$T/err" || { cat "$T/err" >&2; fail "$label: no message matching '$re'"; }
	none_left
	echo "ok: $label fails in $(secs "$t0" "$t1") s: $(grep -E "$re" "$T/err" | head -1)"
}

# A deadline the cluster cannot meet (it needs ~10 s).
CEPH_WAIT_S=2 expect_fail "ceph, 2 s deadline" 'not reached within 2 s' ceph_start "$T/c1"
[ ! -e "$T/c1" ] || fail "ceph left $T/c1 behind"

# The mon's port is taken: the mon dies (after 3 bind retries 1 s apart) and we say so.
/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(120)' >"$T/port" &
holder=$!
trap 'kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true; ceph_stop; pg_stop; rm -rf "$T"' EXIT
for ((i = 0; i < 100; i++)); do [ -s "$T/port" ] && break; sleep 0.1; done
port=$(cat "$T/port")
[ -n "$port" ] || fail "no port holder"
CEPH_MON_PORT=$port expect_fail "ceph, mon port $port taken" 'daemon [0-9]+ died' ceph_start "$T/c2"
grep -q 'Address already in use' "$T/err" || fail "the mon's bind error is not shown"
[ ! -e "$T/c2" ] || fail "ceph left $T/c2 behind"

unset CKPT_TEST_PG # tests/run_all.sh's cluster: a failed start must not export one
mkdir "$T/p1"; echo keep >"$T/p1/file"
expect_fail "pg, non-empty directory" 'is not empty' pg_start "$T/p1"
[ "$(cat "$T/p1/file")" = keep ] || fail "pg_start touched a non-empty directory"
[ -z "${CKPT_TEST_PG:-}" ] || fail "CKPT_TEST_PG exported after a failed start"
