# shellcheck shell=bash
# Shared by tests/faults/test_rados_*.sh (sourced, not a test): each test
# runs its own one-mon, one-OSD Ceph cluster (tests/services/ceph.sh, ~10 s),
# because what it does to the cluster (full ratios, a stopped OSD) is
# cluster-wide and would disturb other tests sharing CKPT_TEST_CEPH_CONF.
# Like the other RADOS tests it needs Ceph in the run: without
# CKPT_TEST_CEPH_CONF it skips with a message, under CI=true it fails.
#
#   rados_fault_init [SPEC_EXTRA]  # e2e_init, the cluster, STORE with chunks in
#                                  # it (SQLite index in $T/store); RADOS_OSD_PID
#   rados_osd_stop / rados_osd_cont  # SIGSTOP / SIGCONT of that OSD
#   ceph_ / rados_                 # the ceph and rados CLIs on it, never hanging
# The EXIT trap continues a stopped OSD, unmounts, stops the cluster, then
# does e2e_cleanup.
source "$(dirname "$0")/../e2e/lib.sh"
source "$(dirname "$0")/../services/ceph.sh"

RADOS_OSD_PID=
RADOS_OSD_STOPPED=

rados_fault_cleanup() {
	local rc=$?
	[ -z "$RADOS_OSD_STOPPED" ] || kill -CONT "$RADOS_OSD_PID" 2>/dev/null
	# the mount first: its daemon may be waiting for the cluster
	[ -z "$MNT" ] || e2e_unmount_dir "$MNT"
	e2e_wait_daemon_gone
	ceph_stop
	(exit "$rc")
	e2e_cleanup
}

ceph_() { timeout 30 ceph -c "$CKPT_TEST_CEPH_CONF" --connect-timeout 15 "$@"; }
rados_() { timeout 60 rados -c "$CKPT_TEST_CEPH_CONF" -p "$CKPT_TEST_CEPH_POOL" -N st "$@"; }

rados_fault_init() {
	if [ -z "${CKPT_TEST_CEPH_CONF:-}" ]; then
		[ "${CI:-}" = true ] && { echo "FAIL: CKPT_TEST_CEPH_CONF is not set under CI" >&2; exit 1; }
		skip "CKPT_TEST_CEPH_CONF not set (a run with Ceph: source tests/services/ceph.sh; ceph_start DIR)"
	fi
	e2e_init
	trap rados_fault_cleanup EXIT
	ceph_start "$T/ceph" || fail "cannot start a private Ceph cluster"
	RADOS_OSD_PID=$(echo $CKPT_TEST_CEPH_PIDS | awk '{ print $2 }') # mon, then OSD
	[ "$(cat "/proc/$RADOS_OSD_PID/comm" 2>/dev/null)" = ceph-osd ] || fail "no OSD pid in '$CKPT_TEST_CEPH_PIDS'"
	STORE="$T/store?chunks=rados:pool=$CKPT_TEST_CEPH_POOL,ns=st,conf=$CKPT_TEST_CEPH_CONF"
	STORE="$STORE,keyring=$CKPT_TEST_CEPH_KEYRING,id=$CKPT_TEST_CEPH_ID${1:+,$1}"
}

rados_osd_stop() { kill -STOP "$RADOS_OSD_PID" && RADOS_OSD_STOPPED=1; }
rados_osd_cont() { kill -CONT "$RADOS_OSD_PID" && RADOS_OSD_STOPPED=; }

# save_py PATH MIB SEED: a python3 saver writes MIB MiB into PATH (a new
# directory checkpoint PATH/w.bin, fsync, close) under `timeout 60`; prints
# OK or the errno name of the first failure; exit 124 when it hung.
save_py() {
	timeout 60 "$PY" - "$@" <<'PYEOF'
import errno, os, random, sys
d, mib, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
try:
    os.mkdir(d)
    with open(os.path.join(d, "w.bin"), "wb") as f:
        for _ in range(mib):
            f.write(rnd.randbytes(1 << 20))
        f.flush()
        os.fsync(f.fileno())
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
PYEOF
}
