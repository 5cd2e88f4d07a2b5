#!/usr/bin/env bash
# Daemon and writers in one non-initial PID namespace (a container:
# `unshare --pid --fork --mount-proc`), where the process-events connector
# sees nothing: writer exits are still seen, through pidfds. A directory
# saver SIGKILLed between files and one that exits 1 after closing all its
# files are aborted, never `latest`; a saver that exits 0 commits.
if [ -z "${CKPT_IN_PIDNS:-}" ]; then
  [ "$(id -u)" = 0 ] && command -v unshare >/dev/null || { echo "SKIP: needs root and unshare" >&2; exit 77; }
  unshare --pid --fork --mount-proc true 2>/dev/null || { echo "SKIP: cannot unshare a PID namespace" >&2; exit 77; }
  # Everything below runs as pid 1's child in the new namespace; when it
  # ends, the kernel kills whatever is left in there.
  exec unshare --pid --fork --mount-proc env CKPT_IN_PIDNS=1 bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

SETTLE_MS=2000 # long enough that only the exit, not the settle, decides
start_mount

assert_eq "$(grep '^writer_exit:' "$MNT/.ckptfs/status" | cut -d' ' -f2)" "pidfd" "writer_exit method"
printf 'base' >"$MNT/base.ckpt"
assert_eq "$(latest_name)" "base.ckpt" "baseline committed"

assert_aborted() { # NAME WHAT
  local name=$1
  wait_for bash -c "! ls '$MNT' | grep -qxF '$name'" || fail "$2: $name still listed"
  assert_eq "$(latest_name)" "base.ckpt" "$2: latest unchanged"
  assert_eq "$(ckpt_field "$name" state)" "aborted" "$2: state"
  assert_exists "$MNT/.ckptfs/aborted/$name" "$2: readable under .ckptfs/aborted"
}

# 1. Killed between files: one file written and closed, the next not begun.
kill_between_files "$MNT/checkpoint-1" model.bin
assert_aborted checkpoint-1 "SIGKILL between files"
grep -q "checkpoint-1: writer pid [0-9]* killed by signal 9" "$MNT/.ckptfs/status" || fail "abort reason names the signal"

# 2. Exit 1 after closing every file.
"$PY" - "$MNT/checkpoint-2" <<'PYEOF' || true
import os, sys
d = sys.argv[1]
os.mkdir(d)
for i in range(2):
    with open(os.path.join(d, "shard%d" % i), "wb") as f:
        f.write(os.urandom(10000))
sys.exit(1)
PYEOF
assert_aborted checkpoint-2 "exit 1 after closing its files"
grep -q "checkpoint-2: writer pid [0-9]* exited with status 1" "$MNT/.ckptfs/status" || fail "abort reason names the status"

# 3. Exit 0 commits (by settle).
"$PY" - "$MNT/checkpoint-3" <<'PYEOF'
import os, sys
d = sys.argv[1]
os.mkdir(d)
with open(os.path.join(d, "model.bin"), "wb") as f:
    f.write(b"\0" * 10)
PYEOF
sleep 2.5
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = checkpoint-3 ]" || fail "clean save never committed"
assert_eq "$(ckpt_field checkpoint-2 state)" "aborted" "still aborted"
echo "ok"
