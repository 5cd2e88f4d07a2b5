#!/bin/bash
# profile.sh: what bounds the ckptfs daemon on the paths the benchmark shows
# slow. Uses the binaries run.sh built in build-bench/ (or BENCH_BIN=DIR).
#
#   bash tools/bench/profile.sh [SIZE_MIB]      (default 1024)
#
# 1. sequential write of SIZE MiB (dd bs=1M conv=fsync): perf self time, then
#    the same again under strace -c (per-chunk syscalls)
# 2. cold sequential read of it through MNT/latest: perf, self time; then a
#    warm re-read: the reader's kernel time, the requests that reach the
#    daemon, and the page-cache folio sizes of native vs FUSE (folios.py)
# 3. 100 small file checkpoints: syscalls of the daemon (strace -c)
# 4. stat latest/model.bin with 10,000 checkpoints: perf, with callers
#    (dwarf), and SQLite's plan for the query that resolves latest
# Only same-machine relative figures mean anything; output goes to stdout.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BIN=${BENCH_BIN:-$SRC/build-bench}
SIZE=${1:-1024}
for b in ckptfs bench-mkmany bench-nosync.so; do
	[ -e "$BIN/$b" ] || { echo "missing $BIN/$b: run tools/bench/run.sh first" >&2; exit 1; }
done
WORK=$(mktemp -d "${BENCH_DIR:-/var/tmp}/ckptfs-prof.XXXXXX") || exit 1
MNT=$WORK/mnt
mkdir -p "$MNT"
DPID=

cleanup() {
	trap - EXIT INT TERM HUP
	if grep -qs " $MNT " /proc/self/mountinfo; then
		fusermount3 -u "$MNT" 2>/dev/null || { sleep 1; fusermount3 -u "$MNT" 2>/dev/null; } ||
			fusermount3 -uz "$MNT" 2>/dev/null
	fi
	if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
		for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -TERM "$DPID" 2>/dev/null
	fi
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mount_store() { # STORE
	"$BIN/ckptfs" "$1" "$MNT" -f >>"$WORK/ckptfs.log" 2>&1 &
	DPID=$!
	for _ in $(seq 1000); do grep -qs " $MNT " /proc/self/mountinfo && return 0; sleep 0.01; done
	echo "mount failed: $(tail -3 "$WORK/ckptfs.log")" >&2
	exit 1
}
umount_store() {
	fusermount3 -u "$MNT"
	wait "$DPID"
	DPID=
}
perf_on() { # NAME [perf record options]
	local name=$1
	shift
	perf record -F 999 "$@" -p "$DPID" -o "$WORK/$name.data" >/dev/null 2>&1 &
	PERF=$!
	sleep 0.5
}
perf_off() { # NAME
	kill -INT "$PERF"
	wait "$PERF" 2>/dev/null
	perf report -i "$WORK/$1.data" --stdio --no-children --sort dso,sym -g none --percent-limit 2 2>/dev/null |
		grep -v '^#' | grep . | head -25
}

/usr/bin/python3 -c "
import numpy as np
r = np.random.default_rng(7)
r.integers(0, 2**64 - 1, size=$SIZE << 17, dtype=np.uint64, endpoint=True).tofile('$WORK/src')"
sync

mount_store "$WORK/store"
echo "== 1. write $SIZE MiB (dd bs=1M conv=fsync) as one file checkpoint; daemon self time"
perf_on write -g
dd if="$WORK/src" of="$MNT/big.bin" bs=1M conv=fsync 2>&1 | tail -1
perf_off write
echo "   again (big2.bin), daemon syscalls (strace -c -f):"
strace -c -f -p "$DPID" -o "$WORK/strace-w.txt" 2>/dev/null &
ST=$!
sleep 1
dd if="$WORK/src" of="$MNT/big2.bin" bs=1M conv=fsync 2>&1 | tail -1
kill -INT "$ST"
wait "$ST" 2>/dev/null
head -18 "$WORK/strace-w.txt" | sed 's/^/   /'
echo "   native, same source:"
dd if="$WORK/src" of="$WORK/native.bin" bs=1M conv=fsync 2>&1 | tail -1

echo "== 2. cold read through latest; daemon self time"
sync
echo 3 >/proc/sys/vm/drop_caches
perf_on read -g
dd if="$MNT/latest" of=/dev/null bs=1M 2>&1 | tail -1
perf_off read
echo "   native, cold:"
echo 3 >/proc/sys/vm/drop_caches
dd if="$WORK/native.bin" of=/dev/null bs=1M 2>&1 | tail -1

echo "== 2b. warm re-read through latest (page cache): the reader's own kernel time"
perf record -F 999 -g -o "$WORK/warm.data" -- dd if="$MNT/latest" of=/dev/null bs=1M 2>&1 | grep copied
perf report -i "$WORK/warm.data" --stdio --no-children --sort sym -g none --percent-limit 3 2>/dev/null |
	grep -v '^#' | grep . | head -10
echo "   daemon requests during another warm re-read (strace -c -f):"
strace -c -f -p "$DPID" -o "$WORK/strace-r.txt" 2>/dev/null &
ST=$!
sleep 1
dd if="$MNT/latest" of=/dev/null bs=1M 2>&1 | tail -1
kill -INT "$ST"
wait "$ST" 2>/dev/null
grep -E ' (read|writev)$' "$WORK/strace-r.txt" | sed 's/^/   /'
echo "   native, warm:"
dd if="$WORK/native.bin" of=/dev/null bs=1M 2>&1 | tail -1
echo "   page-cache folio sizes (tools/bench/folios.py):"
/usr/bin/python3 "$HERE/folios.py" "$WORK/native.bin" "$MNT/latest" | sed 's/^/   /'

echo "== 3. 100 file checkpoints of 64 KiB (write, close = commit): daemon syscalls (strace -c -f)"
strace -c -f -p "$DPID" -o "$WORK/strace.txt" 2>/dev/null &
ST=$!
sleep 1
/usr/bin/python3 -c "
import os, time
lat = []
for i in range(100):
    fd = os.open('$MNT/c-%03d.bin' % i, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, os.urandom(65536))
    t = time.perf_counter(); os.close(fd); lat.append((time.perf_counter() - t) * 1000)
lat.sort()
print('   close() (under strace) p50 %.2f ms p99 %.2f ms' % (lat[49], lat[98]))"
kill -INT "$ST"
wait "$ST" 2>/dev/null
head -14 "$WORK/strace.txt" | sed 's/^/   /'
umount_store

echo "== 4. stat latest/model.bin vs NAME/model.bin, 10,000 checkpoints"
LD_PRELOAD=$BIN/bench-nosync.so "$BIN/bench-mkmany" "$WORK/meta" 0 10000
mount_store "$WORK/meta"
perf_on stat --call-graph dwarf,16384
/usr/bin/python3 -c "
import os, time
for p in ('$MNT/latest/model.bin', '$MNT/ckpt-0009999/model.bin'):
    t = time.perf_counter()
    for _ in range(300):
        os.stat(p)
    print('   %-40s %.1f us/stat' % (p[len('$MNT/'):], (time.perf_counter() - t) / 300 * 1e6))"
kill -INT "$PERF"
wait "$PERF" 2>/dev/null
perf report -i "$WORK/stat.data" --stdio --children --sort sym -g none 2>/dev/null | grep -v '^#' |
	grep -E 'fs_op_|store_|sqlite3_step|sqlite3VdbeExec|Btree(Insert|Delete)' | head -12
umount_store
# The SQL of store_resolve_latest, as the source has it now.
Q=$(/usr/bin/python3 - "$SRC"/core/store*.c <<'PY'
import re, sys
for path in sys.argv[1:]:
    src = open(path).read()
    i = src.find("int store_resolve_latest(")
    if i >= 0:
        j = src.find("store_stmt(", i)
        k = src.find(");", j)
        print("".join(re.findall(r'"((?:[^"\\]|\\.)*)"', src[j:k])))
        break
PY
)
echo "   SQLite plan of store_resolve_latest's query ($Q):"
sqlite3 "file:$WORK/meta/index.db?mode=ro" "EXPLAIN QUERY PLAN $Q;" | sed 's/^/   /'
