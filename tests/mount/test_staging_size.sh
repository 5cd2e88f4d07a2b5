#!/usr/bin/env bash
# Sizes of a staging directory checkpoint, asked beside the mount, are exact
# while files are created, rewritten, truncated and removed through the
# mount (`ckpt ls --json` and `ckpt show --json` sum them on request; the
# mount's own lookups no longer do), and the committed size equals them.
source "$(dirname "$0")/lib.sh"

start_mount "settle_ms=600000"
mkdir "$MNT/big"
"$PY" - "$MNT/big" <<'PY'
import os, sys
d = sys.argv[1]
for i in range(2000):
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(b"y" * (i % 97))
os.truncate(os.path.join(d, "f00096"), 5000)
os.unlink(os.path.join(d, "f00095"))
with open(os.path.join(d, "f00001"), "r+b") as f:
    f.seek(10000); f.write(b"z")
os.mkdir(os.path.join(d, "sub"))
os.rename(os.path.join(d, "f00003"), os.path.join(d, "sub", "moved"))
PY
want=$(find "$MNT/big" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
[ "$want" -gt 100000 ] || fail "test data too small: $want"
assert_eq "$(ckpt_field big state)" "staging" "still staging"
assert_eq "$(ckpt_field big logical_bytes)" "$want" "ckpt ls: staging size"
assert_eq "$("$CKPT" show "$STORE" big --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["logical_bytes"])')" \
	"$want" "ckpt show: staging size"
ls -l "$MNT" | grep -q ' big$' || fail "ls -l of the root lists the staging checkpoint"
stop_mount
assert_eq "$(ckpt_field big state)" "committed" "committed at unmount"
assert_eq "$(ckpt_field big logical_bytes)" "$want" "committed size"
echo "PASS $TEST_NAME"
