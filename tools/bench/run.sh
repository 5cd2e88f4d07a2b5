#!/bin/bash
# ckptfs benchmark suite: bash tools/bench/run.sh [--quick] [--peer]
#
# Builds a Release ckptfs/ckpt in build-bench/, the fixture builder
# (tools/bench/mkmany.c against the core libraries) and an fsync shim used
# only while building fixtures, then runs tools/bench/bench.py: every
# workload on a native directory and on a fresh ckptfs mount, both under one
# temp dir (same filesystem), interleaved, 3 repetitions (--quick: 1, smaller
# sizes). Prints a table (median [min-max], ratio ckptfs/native, target
# PASS/MISS) and a final RATIOS line; the output is saved to
# tools/bench/results-<date>[-quick][-<BENCH_ONLY>][-peer].txt.
# --peer: also builds bench-peerfs (tools/bench/peerfs.c, a minimal
# passthrough FUSE filesystem) and runs the write and read workloads (1, 2,
# 8) on a bench-peerfs mount of a native directory in the same run: columns
# peer, ckptfs/peer and peer/native (the FUSE transport's own cost);
# BENCH_PEER_OPTS: its -o options (e.g. ra_kb=4096,max_threads=32).
# Env: BENCH_DIR (parent of the temp dir, default /var/tmp), BENCH_ONLY
# (write,read,series,meta,commit,rss,many,pg,rados; pg starts a private PostgreSQL
# with tests/services/pg.sh under the temp dir, rados a one-node Ceph with
# tests/services/ceph.sh; BENCH_RADOS_INFLIGHT=N objects in flight), BENCH_PERF=1 (perf profile of the daemon
# during one 1 GiB write), BENCH_KEEP=1 (keep the temp dir),
# BENCH_TIMEOUT (seconds, default 5400; quick 2400), BENCH_<SIZE>=N overrides,
# BENCH_BIN=DIR (skip the build; use DIR/{ckptfs,ckpt,bench-mkmany,bench-nosync.so[,bench-peerfs]}).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=$SRC/build-bench
QUICK=0
PEER=0
for a in "$@"; do
	case $a in
	--quick) QUICK=1 ;;
	--peer) PEER=1 ;;
	-h|--help) sed -n '2,23p' "$0"; exit 0 ;;
	*) echo "usage: $0 [--quick] [--peer]" >&2; exit 2 ;;
	esac
done
PY=/usr/bin/python3

if [ -n "${BENCH_BIN:-}" ]; then
	# Prebuilt ckptfs, ckpt, bench-mkmany, bench-nosync.so (testing the harness).
	BUILD=$(cd "$BENCH_BIN" && pwd)
	echo "== using prebuilt binaries in $BUILD"
else
echo "== build (Release) in $BUILD"
mkdir -p "$BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$BUILD/bench-cmake.log" 2>&1 ||
	{ cat "$BUILD/bench-cmake.log"; exit 1; }
cmake --build "$BUILD" -j"$(nproc)" --target ckptfs ckpt ckptcore $([ $PEER = 1 ] && echo bench-peerfs) \
	>"$BUILD/bench-build.log" 2>&1 ||
	{ tail -40 "$BUILD/bench-build.log"; echo "build failed" >&2; exit 1; }
# The core's external libraries, as CMake found them (pkg-config).
LIBS=$(pkg-config --libs sqlite3 libpq libcrypto zlib libzstd libxxhash jansson 2>/dev/null) ||
	LIBS="-lsqlite3 -lpq -lcrypto -lz -lzstd -lxxhash -ljansson"
cc -O2 -Wall -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I"$SRC/core" -o "$BUILD/bench-mkmany" "$HERE/mkmany.c" \
	"$BUILD/libckptcore.a" "$BUILD/libckpt_chunk.a" "$BUILD/libckpt_meta.a" $LIBS -lrados -lm -lpthread ||
	{ echo "mkmany build failed" >&2; exit 1; }
cc -O2 -Wall -shared -fPIC -o "$BUILD/bench-nosync.so" "$HERE/nosync.c" ||
	{ echo "nosync build failed" >&2; exit 1; }
fi

PARENT=${BENCH_DIR:-/var/tmp}
WORK=$(mktemp -d "$PARENT/ckptfs-bench.XXXXXX") || exit 1
: >"$WORK/pids"
: >"$WORK/mounts"
PYPID=

cleanup() {
	trap - EXIT INT TERM HUP
	if [ -n "$PYPID" ] && kill -0 "$PYPID" 2>/dev/null; then
		kill -TERM "$PYPID" 2>/dev/null
		for _ in $(seq 300); do kill -0 "$PYPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$PYPID" 2>/dev/null
	fi
	# Unmount everything this run mounted, then end only our own daemons.
	while read -r m; do
		[ -n "$m" ] || continue
		if grep -qs " $m " /proc/self/mountinfo; then
			fusermount3 -u "$m" 2>/dev/null || { sleep 1; fusermount3 -u "$m" 2>/dev/null; } ||
				fusermount3 -uz "$m" 2>/dev/null
		fi
	done <"$WORK/mounts"
	while read -r p; do
		[ -n "$p" ] || continue
		if kill -0 "$p" 2>/dev/null && grep -qsE 'ckptfs|bench-peerfs' "/proc/$p/cmdline"; then
			for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
			if kill -0 "$p" 2>/dev/null; then
				kill -TERM "$p" 2>/dev/null; sleep 2; kill -KILL "$p" 2>/dev/null
			fi
		fi
	done <"$WORK/pids"
	# the private PostgreSQL and Ceph last: no daemon holds a connection any more
	! declare -F pg_stop >/dev/null || pg_stop
	! declare -F ceph_stop >/dev/null || ceph_stop
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "kept $WORK"
	else
		rm -rf --one-file-system "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

STAMP=$(date +%Y%m%d-%H%M)
ONLY=${BENCH_ONLY:+-${BENCH_ONLY//,/-}}
OUT=$HERE/results-$STAMP$([ $QUICK = 1 ] && echo -quick)$ONLY$([ $PEER = 1 ] && echo -peer).txt
TMO=${BENCH_TIMEOUT:-$([ $QUICK = 1 ] && echo 2400 || echo 5400)}
echo "== run (WORK=$WORK), output also in $OUT"
export CKPTFS=$BUILD/ckptfs CKPT=$BUILD/ckpt MKMANY=$BUILD/bench-mkmany NOSYNC=$BUILD/bench-nosync.so
export WORK QUICK
if [ $PEER = 1 ]; then
	[ -x "$BUILD/bench-peerfs" ] || { echo "no $BUILD/bench-peerfs" >&2; exit 1; }
	export PEERFS=$BUILD/bench-peerfs
fi
case ",${BENCH_ONLY:-pg}," in
*,pg,*)
	# searchable by the postgres user the server runs as (mktemp made it 0700)
	chmod 755 "$WORK"
	. "$SRC/tests/services/pg.sh"
	if pg_start "$WORK/pg"; then
		export BENCH_PG=$CKPT_TEST_PG
	else
		echo "== no PostgreSQL: the pg workload will fail" >&2
	fi
	;;
esac
case ",${BENCH_ONLY:-rados}," in
*,rados,*)
	. "$SRC/tests/services/ceph.sh"
	if ceph_start "$WORK/ceph"; then
		export BENCH_CEPH="pool=$CKPT_TEST_CEPH_POOL,conf=$CKPT_TEST_CEPH_CONF,id=$CKPT_TEST_CEPH_ID,keyring=$CKPT_TEST_CEPH_KEYRING"
	else
		echo "== no Ceph: the rados workload will fail" >&2
	fi
	;;
esac
timeout -s TERM "$TMO" $PY -u "$HERE/bench.py" > >(tee "$OUT") 2>&1 &
PYPID=$!
wait $PYPID
rc=$?
PYPID=
sleep 0.2
exit $rc
