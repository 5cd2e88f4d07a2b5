#!/usr/bin/env bash
# Two mounts of one PostgreSQL store: a clean unmount of A commits its own
# quiet staging work but leaves a checkpoint B also writes into to B (its
# writer may not be done): the checkpoint stays staging, B's writer goes
# on, and B commits it with the files of both mounts.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/multi_lib.sh"

start_mount
start_mount_b
head -c 200000 /dev/urandom >"$T/a.src"
head -c 200000 /dev/urandom >"$T/b.src"
mkdir "$MNT/own"
cp "$T/a.src" "$MNT/own/a.bin" # A's alone
mkdir "$MNT/shared"
cp "$T/a.src" "$MNT/shared/a.bin"
wait_for test -d "$MNT_B/shared" || fail "B does not see shared"
rm -f "$T/opened" "$T/go"
"$PY" - "$MNT_B/shared/b.bin" "$T/b.src" "$T/opened" "$T/go" <<'PYEOF' &
import os, sys, time
dst, src, opened, go = sys.argv[1:5]
data = open(src, "rb").read()
with open(dst, "wb") as f:
    f.write(data[:1000])
    f.flush()
    open(opened, "w").close()
    while not os.path.exists(go):
        time.sleep(0.05)
    f.write(data[1000:])
PYEOF
writer=$!
wait_for test -e "$T/opened" || fail "writer on B never opened its file"
stop_mount # A's clean unmount: commits quiet work of its own only
assert_eq "$(state_of own)" committed "A's own checkpoint after A's unmount"
assert_eq "$(state_of shared)" staging "the checkpoint B still writes, after A's unmount"
touch "$T/go"
wait "$writer" || fail "B's writer failed after A unmounted"
wait_for is_latest_b shared || fail "B: latest is '$(latest_b)', not shared"
cmp "$T/a.src" "$MNT_B/latest/a.bin" || fail "shared/a.bin (written on A) differs"
cmp "$T/b.src" "$MNT_B/latest/b.bin" || fail "shared/b.bin (written on B) differs"
echo "ok: A's unmount leaves a checkpoint B writes into to B, which commits it whole"
