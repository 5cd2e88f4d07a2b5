#!/usr/bin/env bash
# Runs a test (its command line) against the PostgreSQL index: exports
# CKPT_TEST_INDEX=postgresql for the server CKPT_TEST_PG names. Without one:
# skip (77), except under CI=true, where the suite must have started it
# (tests/run_all.sh starts a private cluster for the whole run).
if [ -z "${CKPT_TEST_PG:-}" ]; then
	if [ "${CI:-}" = true ]; then
		echo "FAIL: CKPT_TEST_PG is not set (tests/run_all.sh starts PostgreSQL)" >&2
		exit 1
	fi
	echo "SKIP: CKPT_TEST_PG not set (start one: source tests/services/pg.sh; pg_start DIR)"
	exit 77
fi
export CKPT_TEST_INDEX=postgresql
exec "$@"
