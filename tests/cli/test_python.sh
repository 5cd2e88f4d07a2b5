#!/usr/bin/env bash
# The Python helper (python/ckptfs.py, issue #16 item 7): its unit tests run
# with the system python against a real mount, with CKPT = the built tool.
source "$(dirname "$0")/../mount/lib.sh"

start_mount
cd "$CKPT_SRC/python"
CKPT=$CKPT CKPTFS_TEST_STORE=$STORE CKPTFS_TEST_MNT=$MNT PYTHONDONTWRITEBYTECODE=1 \
  "$PY" -m unittest -v test_ckptfs 2>&1 | tee "$T/unittest.out"
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "python unit tests"
grep -q "skipped" "$T/unittest.out" && fail "python unit tests were skipped"
echo "PASS [$TEST_NAME]"
