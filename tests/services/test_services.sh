#!/usr/bin/env bash
# Smoke test of the private test services (tests/services/pg.sh, ceph.sh):
# both start in a temp dir, answer through the exported settings (a query;
# a 1 MiB rados put/get round trip), and stop leaving no process, directory
# or listening port behind. Missing packages: skip (exit 77), but under CI=true
# that is a failure, and so is any failure to start or to answer.
. "$(dirname "$0")/lib.sh"

t0=$(now)
pg_start "$T/pg" || fail "postgres did not start"
t1=$(now)
ceph_start "$T/ceph" || fail "ceph did not start"
t2=$(now)
echo "started: postgres $(secs "$t0" "$t1") s, ceph $(secs "$t1" "$t2") s"

out=$(psql -X -At "$CKPT_TEST_PG" -c 'select 1, current_database()') || fail "psql: no answer"
[ "$out" = "1|ckptfs" ] || fail "psql answered '$out', want '1|ckptfs'"
echo "ok: psql \"$CKPT_TEST_PG\" -c 'select 1'"

head -c 1048576 /dev/urandom >"$T/obj.in"
rados_() {
	timeout 60 rados -c "$CKPT_TEST_CEPH_CONF" --id "$CKPT_TEST_CEPH_ID" \
		--keyring "$CKPT_TEST_CEPH_KEYRING" -p "$CKPT_TEST_CEPH_POOL" "$@"
}
rados_ put obj "$T/obj.in" || fail "rados put"
rados_ get obj "$T/obj.out" || fail "rados get"
cmp "$T/obj.in" "$T/obj.out" || fail "rados get returned other bytes"
echo "ok: 1 MiB rados put/get round trip in pool $CKPT_TEST_CEPH_POOL"

pg_rss=$(ps -o rss= -p "$CKPT_TEST_PG_PID" --ppid "$CKPT_TEST_PG_PID" | awk '{ s += $1 } END { print int(s / 1024) }')
echo "rss MiB: postgres (all processes) $pg_rss; $(ps -o comm=,rss= -p "$(echo $CKPT_TEST_CEPH_PIDS | tr ' ' ,)" |
	awk '{ printf "%s %d ", $1, $2 / 1024 }')"

# The teardown itself is under test: nothing of ours may survive it.
pids="$CKPT_TEST_PG_PID $CKPT_TEST_CEPH_PIDS"
port=$(awk '$1 == "mon_host" { print $3 }' "$CKPT_TEST_CEPH_CONF" | sed 's/.*://; s/]//')
[ -n "$port" ] || fail "no mon port in $CKPT_TEST_CEPH_CONF"
t0=$(now)
ceph_stop
t1=$(now)
pg_stop
t2=$(now)
echo "stopped: ceph $(secs "$t0" "$t1") s, postgres $(secs "$t1" "$t2") s"
for pid in $pids; do
	for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
	! alive "$pid" || fail "process $pid survived the teardown: $(ps -o args= -p "$pid")"
done
[ ! -e "$T/pg" ] && [ ! -e "$T/ceph" ] || fail "service directories left in $T"
! ss -Htln | awk '{ print $4 }' | grep -qx "127.0.0.1:$port" || fail "mon port $port still listening"
[ -z "${CKPT_TEST_PG:-}${CKPT_TEST_CEPH_CONF:-}" ] || fail "settings still exported after stop"
none_left
echo "ok: teardown left no process, directory or port"
