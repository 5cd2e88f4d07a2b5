#!/usr/bin/env bash
# The whole test suite: release build + every test (unit and real mounts),
# the unit tests again under AddressSanitizer + UBSan, and the fuzzers briefly.
# The last lines are ctest's summary of the whole suite.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
cd "$src"

echo "== style (.clang-format)"
bash tools/format.sh --check

echo "== build (RelWithDebInfo)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCKPT_PG_UNIT=ON >/dev/null
cmake --build build -j"$jobs"

echo "== build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCKPT_SANITIZE=ON -DCKPT_PG_UNIT=ON >/dev/null
cmake --build build-asan -j"$jobs"

# One private PostgreSQL for the whole run: the index/store suites run
# against it too (their _pg variants, label pg). Under CI it must start.
echo "== PostgreSQL (private cluster for the _pg unit variants)"
source tests/services/pg.sh
pg_tmp=$(mktemp -d /tmp/ckpg.XXXXXX)
chmod 755 "$pg_tmp" # the server runs as postgres when we are root
trap 'pg_stop; rm -rf "$pg_tmp"' EXIT
trap 'exit 143' TERM INT # a stopped run still stops its cluster (the EXIT trap)
if ! _pg_bin >/dev/null 2>&1 && [ "${CI:-}" != true ]; then
  echo "skip: no PostgreSQL 15 installed (postgresql-15); the _pg variants are skipped"
elif ! pg_start "$pg_tmp/pg"; then
  [ "${CI:-}" != true ] || { echo "FAIL: PostgreSQL did not start" >&2; exit 1; }
  echo "skip: PostgreSQL did not start; the _pg variants are skipped"
fi

# One private Ceph (one mon, one OSD, loopback) for the whole run: the chunk
# backend suite and the rados mount/fault tests (label ceph). Under CI it must start.
echo "== Ceph (private cluster for the RADOS chunk backend tests)"
source tests/services/ceph.sh
ceph_tmp=$(mktemp -d /tmp/ckceph.XXXXXX)
trap 'ceph_stop; pg_stop; rm -rf "$pg_tmp" "$ceph_tmp"' EXIT
if ! command -v ceph-osd >/dev/null && [ "${CI:-}" != true ]; then
  echo "skip: no Ceph installed (ceph-mon ceph-osd ceph-common); the rados tests are skipped"
elif ! ceph_start "$ceph_tmp/ceph"; then
  [ "${CI:-}" != true ] || { echo "FAIL: Ceph did not start" >&2; exit 1; }
  echo "skip: Ceph did not start; the rados tests are skipped"
fi

status=0
echo "== unit tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L unit --output-on-failure -j"$jobs" || status=1

echo "== mount and CLI tests with the ASan + UBSan daemon and CLI"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -R '^(mount|cli)_' --output-on-failure || status=1

echo "== fuzzers, ${CKPT_FUZZ_SECONDS:-15} s each (a longer run: bash tests/fuzz/run.sh 600)"
bash tests/fuzz/run.sh "${CKPT_FUZZ_SECONDS:-15}" || status=1

echo "== all tests (unit + mount)"
ctest --test-dir build --output-on-failure || status=1
exit $status
