#!/usr/bin/env bash
# A full disk: the STORE on a 20 MiB tmpfs. A write that fails with ENOSPC
# aborts its staging checkpoint; committed data stays intact; once space is
# freed the next checkpoint commits.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root for mount -t tmpfs" >&2; exit 77; }
mkdir "$T/small"
mount -t tmpfs -o size=20m tmpfs "$T/small" || { echo "SKIP: cannot mount tmpfs" >&2; exit 77; }
EXTRA_CLEANUP+=("umount -l '$T/small'")
STORE=$T/small/store

head -c 6000000 /dev/urandom >"$T/small/ballast" # freed later
start_mount
head -c 2000000 /dev/urandom >"$T/good.bin"
cp "$T/good.bin" "$MNT/good.pt"
assert_eq "$(latest_name)" "good.pt" "first checkpoint committed"

# Writing 30 MiB into 20 MiB fails with ENOSPC.
"$PY" - "$MNT/big.pt" <<'EOF'
import errno, os, sys
try:
    with open(sys.argv[1], "wb") as f:
        for _ in range(30):
            f.write(os.urandom(1 << 20))
            f.flush()
    print("FAIL: no error writing 30 MiB into 20 MiB"); sys.exit(1)
except OSError as e:
    if e.errno != errno.ENOSPC:
        print("FAIL: expected ENOSPC, got", errno.errorcode.get(e.errno)); sys.exit(1)
EOF
ls "$MNT" | grep -qx big.pt && { cat "$MNT/.ckptfs/status" >&2; "$CKPT" log "$STORE" >&2; fail "the failed checkpoint is still listed"; }
# The abort is recorded once the space its open data held is released.
for _ in $(seq 50); do [ "$(ckpt_field big.pt state)" = aborted ] && break; sleep 0.1; done
assert_eq "$(ckpt_field big.pt state)" "aborted" "the failed checkpoint is aborted"
assert_eq "$(latest_name)" "good.pt" "latest unchanged"
assert_eq "$(sha "$MNT/good.pt")" "$(sha "$T/good.bin")" "committed data intact"
grep -q "big.pt" "$MNT/.ckptfs/status" || fail "status lists the aborted checkpoint"
# the operator's log says the disk is full and which checkpoint it aborted
grep -qE "^ckptfs: full disk store=$STORE: write failed( at [a-z]+)?: No space left on device\$" "$LOG" ||
  fail "no full disk line in the log: $(cat "$LOG")"
grep -qE '^ckptfs: abort name=big.pt reason=.*No space left on device' "$LOG" ||
  fail "no abort line for big.pt: $(cat "$LOG")"

# Free space: the next checkpoint commits.
rm -f "$T/small/ballast"
cp "$T/good.bin" "$MNT/after.pt" || fail "write after freeing space"
head -c 1000000 /dev/urandom >"$T/more.bin"
cp "$T/more.bin" "$MNT/more.pt" || fail "second write after freeing space"
assert_eq "$(latest_name)" "more.pt" "commits work again"
assert_eq "$(sha "$MNT/latest")" "$(sha "$T/more.bin")" "latest content"

stop_mount
start_mount
assert_eq "$(sha "$MNT/good.pt")" "$(sha "$T/good.bin")" "committed data intact after remount"
assert_eq "$(sha "$MNT/more.pt")" "$(sha "$T/more.bin")" "later commit intact after remount"
echo "ok"
