#!/usr/bin/env bash
# /dev/fd/N as the mountpoint, as Kubernetes CSI drivers pass it: the
# caller opens /dev/fuse, mounts it with mount(2) (the options fusermount3
# gives the kernel: fd=N,rootmode=40000,user_id=,group_id=) and execs
# `ckptfs STORE /dev/fd/N -f` with the descriptor inherited. The daemon
# serves that mount: a file written into MNT commits and is `latest`; after
# umount the daemon exits 0.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: mount(2) needs root" >&2; exit 77; }

"$PY" - "$STORE" "$MNT" "$CKPTFS" "$SETTLE_MS" >>"$LOG" 2>&1 <<'PYEOF' &
import ctypes, os, sys
store, mnt, ckptfs, settle = sys.argv[1:5]
fd = os.open("/dev/fuse", os.O_RDWR)
data = "fd=%d,rootmode=40000,user_id=0,group_id=0" % fd
libc = ctypes.CDLL(None, use_errno=True)
if libc.mount(store.encode(), mnt.encode(), b"fuse.ckptfs", 0, data.encode()) != 0:
    sys.exit("mount(2): " + os.strerror(ctypes.get_errno()))
os.set_inheritable(fd, True)
os.execv(ckptfs, [ckptfs, store, "/dev/fd/%d" % fd, "-f", "-o", "settle_ms=" + settle])
PYEOF
DAEMON_PID=$!
wait_for is_mounted || fail "mount(2) of /dev/fuse did not happen: $(cat "$LOG")"
wait_for test -e "$MNT/.ckptfs/latest" || fail "ckptfs does not serve /dev/fd/N: $(cat "$LOG")"
awk -v m="$MNT" '$2 == m { print $1, $3 }' /proc/self/mounts | grep -qxF "$(mounts_escape "$STORE") fuse.ckptfs" ||
  fail "mount source/type: $(grep " $MNT " /proc/self/mounts)"

head -c 100000 /dev/urandom >"$T/w.bin"
cp "$T/w.bin" "$MNT/w.bin"
wait_for is_latest w.bin || fail "w.bin not committed: latest='$(latest_name)'"
cmp "$T/w.bin" "$MNT/latest" || fail "latest differs from what was written"

umount "$MNT" || fail "umount failed"
for i in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$DAEMON_PID" 2>/dev/null && fail "ckptfs still running after umount"
wait "$DAEMON_PID"
rc=$?
DAEMON_PID=
assert_eq "$rc" 0 "ckptfs exit status after umount"
"$CKPT" ls "$STORE" | grep -q '^w.bin ' || fail "w.bin not in the store after unmount"
echo "ok: /dev/fd/N mount commits and exits cleanly"
