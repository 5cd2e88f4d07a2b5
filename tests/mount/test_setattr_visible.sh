#!/usr/bin/env bash
# Path-based setattr (truncate, chmod, utime) on a committed single-file
# checkpoint is visible to stat and read of the name, latest included, when
# the call returns, and it commits then (a path setattr is a whole change,
# like an open-write-close). A truncate that breaks a known format fails
# with EBADMSG and leaves the committed file as it was.
source "$(dirname "$0")/lib.sh"

start_mount "settle_ms=60000" # settle never hides a late commit here

"$PY" - "$MNT" <<'EOF'
import os, stat, subprocess, sys, zipfile
mnt = sys.argv[1]
def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)
def read(p):
    with open(p, "rb") as f:
        return f.read()

p, latest = os.path.join(mnt, "w.bin"), os.path.join(mnt, "latest")
data = bytes(range(256)) * 40
with open(p, "wb") as f:
    f.write(data)
os.chmod(p, 0o644)
check(read(latest) == data, "committed at close")

for size in (5000, 100, 0, 3000):
    os.truncate(p, size)
    want = (data + b"\0" * size)[:size] if size <= 5000 else None
    if size == 3000:
        want = b"\0" * 3000          # grown from 0
    check(os.stat(p).st_size == size, "truncate(path, %d): stat size %d" % (size, os.stat(p).st_size))
    check(read(p) == want, "truncate(path, %d): read of the name" % size)
    check(read(latest) == want, "truncate(path, %d): read of latest" % size)
    data = want

# coreutils, too
subprocess.run(["truncate", "-s", "10", p], check=True)
check(os.stat(p).st_size == 10 and read(p) == b"\0" * 10, "truncate(1) visible")

os.chmod(p, 0o600)
check(stat.S_IMODE(os.stat(p).st_mode) == 0o600, "chmod(path) visible: %o" % os.stat(p).st_mode)
check(stat.S_IMODE(os.stat(latest).st_mode) == 0o600, "chmod(path) visible through latest")
subprocess.run(["chmod", "640", p], check=True)
check(stat.S_IMODE(os.stat(p).st_mode) == 0o640, "chmod(1) visible")

os.utime(p, ns=(1_600_000_000_111_111_111, 1_500_000_000_123_456_789))
st = os.stat(p)
check(st.st_mtime_ns == 1_500_000_000_123_456_789, "utime(path) mtime visible: %d" % st.st_mtime_ns)
check(os.stat(latest).st_mtime_ns == 1_500_000_000_123_456_789, "utime(path) visible through latest")
subprocess.run(["touch", "-m", "-d", "@1400000000", p], check=True)
check(os.stat(p).st_mtime_ns == 1_400_000_000 * 10**9, "touch(1) visible")

# A zip (torch.save) truncated in place fails its format check: EBADMSG,
# and the committed file stays whole.
z = os.path.join(mnt, "model.ckpt")
with zipfile.ZipFile(z, "w") as zf:
    zf.writestr("data.pkl", b"x" * 5000)
good = read(z)
try:
    os.truncate(z, 100)
    check(False, "truncating a zip checkpoint in place succeeded")
except OSError as e:
    check(e.errno == 74, "truncated zip: errno %d, want EBADMSG" % e.errno)
check(os.stat(z).st_size == len(good) and read(z) == good, "the committed zip is unchanged")
print("ok")
EOF
# Nothing is left staging: every change above committed when its call returned.
assert_eq "$(grep -c $'\tstaging\t' "$MNT/.ckptfs/checkpoints.tsv" || true)" "0" "no staging checkpoint left"
echo ok
