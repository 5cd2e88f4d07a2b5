#!/usr/bin/env bash
# The daemon killed with SIGKILL in the middle of a write: after
# `fusermount3 -uz` and a remount every committed checkpoint is
# byte-identical and the interrupted one is aborted, never latest. A second
# mount of a mounted store is refused before mounting; an unusable STORE
# too; a daemonized mount (no -f) works and exits on unmount.
source "$(dirname "$0")/lib.sh"

start_mount
mkdir -p "$T/d"
head -c 3000000 /dev/urandom >"$T/d/a.bin"
head -c 1000 /dev/urandom >"$T/d/b.bin"
cp -r "$T/d" "$MNT/checkpoint-1"
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = checkpoint-1 ]" || fail "checkpoint-1 never committed"
head -c 5000000 /dev/urandom >"$T/f.bin"
cp "$T/f.bin" "$MNT/model-2.pt"
assert_eq "$(latest_name)" "model-2.pt" "model-2.pt committed at close"

# Second mount of the same store: refused with one line, exit 1, nothing
# mounted (a PostgreSQL store takes several mounts: tests/mount/test_multi_*).
mkdir "$T/mnt2"
if [ "${CKPT_TEST_MOUNT_INDEX:-}" != postgresql ]; then
  set +e
  msg=$(timeout 20 "$CKPTFS" "$STORE" "$T/mnt2" -f 2>&1)
  rc=$?
  set -e
  assert_eq "$rc" "1" "second mount exit status"
  assert_eq "$(wc -l <<<"$msg")" "1" "second mount: one line ($msg)"
  grep -qi "mounted\|in use\|busy" <<<"$msg" || fail "second mount message says why: $msg"
  awk -v m="$T/mnt2" '$2 == m { exit 1 }' /proc/self/mounts || fail "second mount mounted anyway"
fi

# An unusable store (a regular file): refused too.
touch "$T/not-a-dir"
set +e
msg=$("$CKPTFS" "$T/not-a-dir" "$T/mnt2" -f 2>&1)
rc=$?
set -e
assert_eq "$rc" "1" "unusable store exit status"
assert_eq "$(wc -l <<<"$msg")" "1" "unusable store: one line ($msg)"

# Kill -9 the daemon while a writer is in the middle of a file.
"$PY" - "$MNT/partial.pt" "$T/ready" <<'EOF' &
import os, sys, time
path, ready = sys.argv[1:3]
try:
    with open(path, "wb") as f:
        for i in range(1000):
            f.write(os.urandom(1 << 16))
            if i == 20:
                open(ready, "w").close()
            time.sleep(0.01)
except OSError:
    pass
EOF
writer=$!
wait_for test -e "$T/ready" || fail "writer never got going"
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
wait $writer 2>/dev/null || true
fusermount3 -uz "$MNT" || fail "fusermount3 -uz after the crash"

start_mount
assert_eq "$(sha "$MNT/checkpoint-1/a.bin")" "$(sha "$T/d/a.bin")" "dir checkpoint byte-identical after the crash"
diff -r "$T/d" "$MNT/checkpoint-1" >/dev/null || fail "dir checkpoint tree after the crash"
assert_eq "$(sha "$MNT/model-2.pt")" "$(sha "$T/f.bin")" "file checkpoint byte-identical after the crash"
assert_eq "$(latest_name)" "model-2.pt" "latest after the crash"
ls "$MNT" | grep -qx partial.pt && fail "interrupted checkpoint listed after remount"
assert_eq "$(ckpt_field partial.pt state)" "aborted" "interrupted checkpoint aborted at mount"
if "$CKPT" verify "$STORE" >"$T/verify.out" 2>&1; then :; else cat "$T/verify.out" >&2; fail "ckpt verify after the crash"; fi
stop_mount

# A daemonized mount (no -f): the parent returns once mounted; unmounting ends the daemon.
"$CKPTFS" "$STORE" "$MNT" -o settle_ms=300 || fail "daemonized mount failed"
is_mounted || fail "daemonized mount not mounted"
assert_eq "$(cat "$MNT/model-2.pt" | sha256sum | cut -d' ' -f1)" "$(sha "$T/f.bin")" "read through the daemonized mount"
adopt_daemon
fusermount3 -u "$MNT"
for i in $(seq 1 100); do
  kill -0 "$DAEMON_PID" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$DAEMON_PID" 2>/dev/null && fail "daemon still running (holding the store) 10 s after unmount"
DAEMON_PID=
echo "ok"
