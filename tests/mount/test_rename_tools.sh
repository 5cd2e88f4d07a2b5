#!/usr/bin/env bash
# Write-then-rename tools whose temporary names are their own: `sed -i` at
# the top level (sedXXXXXX) and Python's tempfile.NamedTemporaryFile(dir=MNT)
# + os.replace (tmpXXXXXXXX). Their temporary file is staging until the
# rename, so with keep_last=2 retention never counts it: the two real
# checkpoints stay, the target holds the new bytes, no temporary name is
# ever listed or committed.
source "$(dirname "$0")/lib.sh"

start_mount keep_last=2
echo a >"$MNT/a.txt"
echo b >"$MNT/b.txt"
sed -i s/b/c/ "$MNT/b.txt" || fail "sed -i failed"
[ -e "$MNT/a.txt" ] || fail "a.txt was deleted by sed -i on b.txt (keep_last=2)"
assert_eq "$(cat "$MNT/b.txt")" c "b.txt after sed -i"
is_latest b.txt || fail "latest is $(latest_name), not b.txt"
echo "ok: sed -i at the top level keeps the other checkpoints"

"$PY" - "$MNT" <<'EOF' || fail "NamedTemporaryFile + os.replace failed"
import os, sys, tempfile
mnt = sys.argv[1]
with tempfile.NamedTemporaryFile(dir=mnt, delete=False) as f:
    f.write(b"d" * 100000)
os.replace(f.name, os.path.join(mnt, "b.txt"))
EOF
[ -e "$MNT/a.txt" ] || fail "a.txt was deleted by a tempfile + os.replace of b.txt (keep_last=2)"
assert_eq "$(stat -c %s "$MNT/b.txt")" 100000 "b.txt size after os.replace"
echo "ok: tempfile + os.replace keeps the other checkpoints"

"$CKPT" log "$STORE" >"$T/log" 2>&1 || fail "ckpt log failed"
! grep -E "commit (sed|tmp)[A-Za-z0-9_]+" "$T/log" || fail "a tool's temporary name committed"
# the only deletions: b.txt's old versions replaced by the renames
dels=$(grep -w delete "$T/log" | grep -vw replaced || true)
[ -z "$dels" ] || fail "retention deleted something: $dels"
echo "ok: no temporary name committed, nothing deleted by retention"
