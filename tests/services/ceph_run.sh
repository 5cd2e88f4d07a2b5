#!/usr/bin/env bash
# Runs a test (its command line) against the private Ceph cluster that
# CKPT_TEST_CEPH_CONF (and _POOL, _KEYRING, _ID) name. Without one: skip (77),
# except under CI=true, where the suite must have started it
# (tests/run_all.sh starts a private cluster for the whole run).
if [ -z "${CKPT_TEST_CEPH_CONF:-}" ]; then
	if [ "${CI:-}" = true ]; then
		echo "FAIL: CKPT_TEST_CEPH_CONF is not set (tests/run_all.sh starts Ceph)" >&2
		exit 1
	fi
	echo "SKIP: CKPT_TEST_CEPH_CONF not set (start one: source tests/services/ceph.sh; ceph_start DIR)"
	exit 77
fi
exec "$@"
