#!/usr/bin/env bash
# Type=notify readiness (sd_notify datagrams on $NOTIFY_SOCKET, as
# ckptfs@.service uses them): `ckptfs -f` sends READY=1 only once the mount
# answers (the listener checks MNT is a mount point and stat()s it when the
# datagram arrives) and STOPPING=1 when it unmounts, for a socket path
# (stopped by fusermount3 -u) and an abstract '@' name (stopped by SIGTERM,
# as systemctl stop does).
. "$(dirname "$0")/lib.sh"

# listen ADDR OUT: receives datagrams on ADDR until STOPPING=1 (30 s cap);
# writes "MESSAGE mounted=0|1" lines to OUT, mounted = MNT answered stat
# as a mount point at the moment the datagram arrived.
listen() {
  "$PY" - "$1" "$2" "$MNT" <<'PYEOF' &
import os, socket, sys
addr, out, mnt = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
s.settimeout(30)
open(out + ".ready", "w").close()
with open(out, "w") as f:
    while True:
        msg = s.recv(4096).decode()
        try:
            up = os.path.ismount(mnt) and os.stat(mnt).st_ino == 1
        except OSError:
            up = False
        for line in msg.split("\n"):
            if line:
                f.write("%s mounted=%d\n" % (line, up))
                f.flush()
        if "STOPPING=1" in msg.split("\n"):
            break
PYEOF
  LISTENER=$!
  wait_for test -e "$2.ready" || fail "listener did not start"
}

# check_run ADDR HOW: one mount with NOTIFY_SOCKET=ADDR, stopped by HOW
# (fusermount or sigterm).
check_run() {
  local addr=$1 how=$2 out=$T/notify-$2.txt
  listen "$addr" "$out"
  NOTIFY_SOCKET=$addr start_mount
  wait_for grep -q '^READY=1 ' "$out" || fail "$how: no READY=1 from ckptfs (got: $(cat "$out"))"
  grep -q '^READY=1 mounted=1$' "$out" || fail "$how: READY=1 before the mount answered: $(cat "$out")"
  assert_eq "$(grep -c '^READY=1' "$out")" 1 "$how: READY=1 datagrams"
  grep -q '^STOPPING=1' "$out" && fail "$how: STOPPING=1 while mounted"
  printf 'x' >"$MNT/a.bin" # the mount serves
  if [ "$how" = sigterm ]; then
    kill -TERM "$DAEMON_PID"
    reap_daemon 20
  else
    stop_mount
  fi
  wait "$LISTENER" || fail "$how: listener failed"
  grep -q '^STOPPING=1 ' "$out" || fail "$how: no STOPPING=1 at unmount (got: $(cat "$out"))"
  is_mounted && fail "$how: still mounted after stop"
  return 0
}

check_run "$T/notify.sock" fusermount
check_run "@ckptfs-test-$$-$RANDOM" sigterm
echo "PASS [$TEST_NAME]"
