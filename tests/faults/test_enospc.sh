#!/usr/bin/env bash
# A full disk: the store lives on a 40 MB tmpfs. Writing a checkpoint larger
# than the space (a directory one, then a single file) fails with ENOSPC, the checkpoint is aborted (not listed, not
# latest), everything committed before stays byte-identical; after rm -rf of a
# committed checkpoint the next checkpoint commits.
source "$(dirname "$0")/../e2e/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root to mount a tmpfs"
e2e_init
mkdir "$T/small"
mount -t tmpfs -o size=40m tmpfs "$T/small" 2>"$T/tmpfs.err" || skip "cannot mount tmpfs: $(cat "$T/tmpfs.err")"
EXTRA_MOUNTS+=("$T/small")
STORE=$T/small/store
e2e_mount

mkdir "$T/src"
head -c $((8 * 1024 * 1024)) /dev/urandom >"$T/src/a.bin"
head -c $((6 * 1024 * 1024)) /dev/urandom >"$T/src/b.bin"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/src/d.bin"
mkdir "$MNT/ck-a" && cp "$T/src/a.bin" "$MNT/ck-a/weights.bin" || fail "writing ck-a failed"
wait_latest ck-a
cp "$T/src/b.bin" "$MNT/ck-b.bin" || fail "writing ck-b.bin failed"
wait_latest ck-b.bin
df -k "$T/small" >&2

log "write a 64 MB checkpoint into what is left of 40 MB"
$PY - "$MNT/ck-big" <<'EOF' >"$T/big.out" 2>&1
import errno, os, sys
d = sys.argv[1]
os.mkdir(d)
first = None
try:
    with open(os.path.join(d, "huge.bin"), "wb") as f:
        for i in range(64):
            f.write(os.urandom(1 << 20))
        f.flush()
        os.fsync(f.fileno())
except OSError as e:
    first = e
if first is None:
    print("no error writing 64 MB into a 40 MB store"); sys.exit(1)
print("error: errno %d (%s)" % (first.errno, errno.errorcode.get(first.errno)))
sys.exit(0 if first.errno == errno.ENOSPC else 1)
EOF
rc=$?
log "big write: $(cat "$T/big.out")"
[ $rc -eq 0 ] || fail "the oversize write did not fail with ENOSPC: $(cat "$T/big.out")"

wait_until 15 not_listed ck-big || fail "ck-big (a failed write) is still listed"
[ "$(cur_latest)" = ck-b.bin ] || fail "latest is '$(cur_latest)' after the failed write, expected ck-b.bin"
cmp -s "$MNT/ck-a/weights.bin" "$T/src/a.bin" || fail "ck-a changed after ENOSPC"
cmp -s "$MNT/ck-b.bin" "$T/src/b.bin" || fail "ck-b.bin changed after ENOSPC"
cmp -s "$MNT/latest" "$T/src/b.bin" || fail "latest does not read as ck-b.bin"
sleep 1
not_listed ck-big || fail "ck-big reappeared"
[ "$(cur_latest)" = ck-b.bin ] || fail "latest moved to '$(cur_latest)'"

log "a single-file checkpoint too big for the space"
$PY - "$MNT/big-step=9.pt" <<'EOF' >"$T/bigfile.out" 2>&1
import errno, os, sys
try:
    with open(sys.argv[1], "wb") as f:
        for i in range(64):
            f.write(os.urandom(1 << 20))
    print("no error writing 64 MB into a 40 MB store"); sys.exit(1)
except OSError as e:
    print("error: errno %d (%s)" % (e.errno, errno.errorcode.get(e.errno)))
    sys.exit(0 if e.errno == errno.ENOSPC else 1)
EOF
rc=$?
log "big file: $(cat "$T/bigfile.out")"
[ $rc -eq 0 ] || fail "the oversize single-file write did not fail with ENOSPC: $(cat "$T/bigfile.out")"
wait_until 15 not_listed "big-step=9.pt" || fail "big-step=9.pt (a failed write) is still listed"
[ "$(cur_latest)" = ck-b.bin ] || fail "latest is '$(cur_latest)' after the failed single-file write"
cmp -s "$MNT/ck-a/weights.bin" "$T/src/a.bin" || fail "ck-a changed after ENOSPC"
cmp -s "$MNT/ck-b.bin" "$T/src/b.bin" || fail "ck-b.bin changed after ENOSPC"

log "free space by deleting ck-a, then save again"
rm -rf "$MNT/ck-a" || fail "rm -rf ck-a failed"
not_listed ck-a || fail "ck-a still listed after rm -rf"
df -k "$T/small" >&2
mkdir "$MNT/ck-d" && cp "$T/src/d.bin" "$MNT/ck-d/weights.bin" || fail "writing ck-d after freeing space failed"
wait_latest ck-d
cmp -s "$MNT/ck-d/weights.bin" "$T/src/d.bin" || fail "ck-d does not read back"
cmp -s "$MNT/latest/weights.bin" "$T/src/d.bin" || fail "latest does not read as ck-d"
cmp -s "$MNT/ck-b.bin" "$T/src/b.bin" || fail "ck-b.bin changed"
e2e_umount
# everything committed survives a remount too
e2e_mount
cmp -s "$MNT/ck-b.bin" "$T/src/b.bin" || fail "ck-b.bin differs after remount"
cmp -s "$MNT/ck-d/weights.bin" "$T/src/d.bin" || fail "ck-d differs after remount"
not_listed ck-big || fail "ck-big listed after remount"
e2e_umount
log "PASS"
