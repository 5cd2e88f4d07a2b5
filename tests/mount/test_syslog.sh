#!/usr/bin/env bash
# Without -f the operator's log goes to syslog(3), which sends datagrams to
# /dev/log. The test runs itself again in a private mount namespace
# (unshare --mount) whose /dev is a new tmpfs holding the devices the test
# needs (bind mounts of the real ones) and a /dev/log socket read by a
# python3 listener: the host's /dev and its /dev/log, if any, are never
# touched, and a machine without a syslog daemon (CI) runs it too. The
# detached daemon's mount, commit and unmount lines arrive there tagged
# ckptfs[PID] with facility daemon; with -o quiet the commit line does not.
if [ -z "${CKPT_SYSLOG_NS:-}" ]; then
  [ "$(id -u)" = 0 ] && unshare --mount true 2>/dev/null ||
    { echo "SKIP: needs root and unshare --mount" >&2; exit 77; }
  CKPT_SYSLOG_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

# The new /dev, built under T and moved over /dev (this namespace only).
mkdir "$T/dev"
mount -t tmpfs -o mode=0755 ckptfs-test-dev "$T/dev" || fail "tmpfs for /dev"
for n in null zero full random urandom fuse; do
  touch "$T/dev/$n"
  mount --bind "/dev/$n" "$T/dev/$n" || fail "bind /dev/$n"
done
ln -s /proc/self/fd "$T/dev/fd"
mount --move "$T/dev" /dev || fail "mount --move onto /dev"

"$PY" - /dev/log "$T/syslog" <<'PYEOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).rstrip(b"\n") + b"\n")
PYEOF
wait_for test -S /dev/log || fail "the listener never bound /dev/log"

# syslogged LINE: a datagram "<PRI>TIMESTAMP ckptfs[PID]: LINE" arrived from
# the daemon, PRI being daemon.notice (3 * 8 + 5) or daemon.info (3 * 8 + 6).
syslogged() { grep -qE "^<(29|30)>.* ckptfs\[$SYSLOG_PID\]: $1\$" "$T/syslog"; }

detached_mount() { # OPTIONS: ckptfs without -f; it returns once mounted
  "$CKPTFS" "$STORE" "$MNT" -o "$1" 2>"$T/err" || fail "ckptfs -o $1: $(cat "$T/err")"
  is_mounted || fail "ckptfs returned 0 without mounting"
  adopt_daemon
  SYSLOG_PID=$DAEMON_PID
}

detached_mount "settle_ms=$SETTLE_MS"
wait_for syslogged "mount store=$(ere_quote "$STORE") mnt=$MNT options=settle_ms=$SETTLE_MS" ||
  fail "no mount line in syslog: $(cat "$T/syslog")"
head -c 100000 /dev/urandom >"$MNT/one.bin"
wait_for is_latest one.bin || fail "one.bin not committed"
wait_for syslogged "commit name=one.bin step=[^ ]* bytes=100000 ms=[0-9]+" ||
  fail "no commit line in syslog: $(cat "$T/syslog")"
stop_mount
syslogged "unmount store=$(ere_quote "$STORE") mnt=$MNT" || fail "no unmount line in syslog: $(cat "$T/syslog")"

: >"$T/syslog"
detached_mount "quiet"
head -c 1000 /dev/urandom >"$MNT/two.bin"
wait_for is_latest two.bin || fail "two.bin not committed"
stop_mount
syslogged "mount store=$(ere_quote "$STORE") mnt=$MNT options=quiet" || fail "no mount line with -o quiet: $(cat "$T/syslog")"
grep -q 'commit name=' "$T/syslog" && fail "a commit line with -o quiet: $(cat "$T/syslog")"
echo "PASS [$TEST_NAME]"
