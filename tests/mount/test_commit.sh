#!/usr/bin/env bash
# Every commit trigger: last writer's close (file), settle (directory),
# rename of a temporary name (file and directory, replacing an existing
# checkpoint), and clean unmount.
source "$(dirname "$0")/lib.sh"

start_mount

# 1. A file commits when the last writer closes; visible when close() returns.
"$PY" - "$MNT" <<'EOF'
import os, sys
mnt = sys.argv[1]
def latest():
    return open(os.path.join(mnt, ".ckptfs/latest")).read().strip()
a = open(os.path.join(mnt, "w.bin"), "wb")
a.write(b"x" * 100000)
b = open(os.path.join(mnt, "w.bin"), "r+b")      # a second writer
b.seek(100000); b.write(b"y" * 10)
a.close()
assert latest() == "", "committed while a writer is still open: %r" % latest()
b.close()
assert latest() == "w.bin", "not committed when the last writer closed: %r" % latest()
assert os.path.getsize(os.path.join(mnt, "latest")) == 100010
print("ok close")
EOF
assert_eq "$(ckpt_field w.bin state)" "committed" "w.bin committed"

# 2. A directory commits settle_ms after its last change and last close.
"$PY" - "$MNT" "$SETTLE_MS" <<'EOF'
import os, sys, time
mnt, settle = sys.argv[1], int(sys.argv[2]) / 1000
def latest():
    return open(os.path.join(mnt, ".ckptfs/latest")).read().strip()
os.mkdir(os.path.join(mnt, "ckpt-10"))
f = open(os.path.join(mnt, "ckpt-10/model.bin"), "wb")
f.write(b"m" * 200000)
time.sleep(settle * 2)                # open writer: no commit however long
assert latest() == "w.bin", "committed with an open writer"
f.close()
t0 = time.monotonic()
time.sleep(settle / 2)
assert latest() == "w.bin", "committed before settle_ms"
while latest() != "ckpt-10" and time.monotonic() - t0 < 5:
    time.sleep(0.01)
dt = time.monotonic() - t0
assert latest() == "ckpt-10", "directory never committed"
assert dt <= settle + 0.25, "committed %.3f s after the last close (settle %.3f)" % (dt, settle)
print("ok settle %.3f" % dt)
EOF

# 3. A temporary file commits only by rename; the rename replaces the old one.
"$PY" - "$MNT" <<'EOF'
import os, sys, time
mnt = sys.argv[1]
def latest():
    return open(os.path.join(mnt, ".ckptfs/latest")).read().strip()
for i, payload in enumerate((b"first" * 1000, b"second" * 1000)):
    tmp = os.path.join(mnt, "last.ckpt.tmp")
    with open(tmp, "wb") as f:
        f.write(payload)
    time.sleep(0.6)                    # longer than settle: still not committed
    assert latest() != "last.ckpt" or i == 1, "temp file committed before rename"
    assert "last.ckpt.tmp" in os.listdir(mnt), "staging temp file listed"
    before = latest()
    os.replace(tmp, os.path.join(mnt, "last.ckpt"))
    assert latest() == "last.ckpt", "rename did not commit: %r" % latest()
    assert open(os.path.join(mnt, "last.ckpt"), "rb").read() == payload
    assert open(os.path.join(mnt, "latest"), "rb").read() == payload
    assert "last.ckpt.tmp" not in os.listdir(mnt)
print("ok temp file")
EOF
assert_eq "$("$CKPT" ls "$STORE" --all --json | "$PY" -c 'import json,sys; print(sum(1 for r in json.load(sys.stdin) if r["name"]=="last.ckpt" and r["state"]=="committed"))')" "1" "one committed last.ckpt after the replace"

# 4. A temporary directory: latest does not move before the rename (Orbax).
"$PY" - "$MNT" <<'EOF'
import os, sys, time
mnt = sys.argv[1]
def latest():
    return open(os.path.join(mnt, ".ckptfs/latest")).read().strip()
tmp = os.path.join(mnt, "ckpt-20.orbax-checkpoint-tmp-12345")
os.makedirs(os.path.join(tmp, "state"))
for i in range(3):
    with open(os.path.join(tmp, "state", "shard%d" % i), "wb") as f:
        f.write(os.urandom(50000))
    time.sleep(0.4)                    # quiet longer than settle between files
    assert latest() == "last.ckpt", "latest moved before the rename: %r" % latest()
os.rename(tmp, os.path.join(mnt, "ckpt-20"))
assert latest() == "ckpt-20", "directory rename did not commit"
assert sorted(os.listdir(os.path.join(mnt, "latest/state"))) == ["shard0", "shard1", "shard2"]
print("ok temp dir")
EOF
assert_eq "$(ckpt_field ckpt-20 step)" "20" "step of the renamed dir"

# 5. Renaming a committed checkpoint renames it in the index.
mv "$MNT/ckpt-10" "$MNT/ckpt-11"
assert_eq "$(ckpt_field ckpt-11 state)" "committed" "renamed committed checkpoint"
assert_missing "$MNT/ckpt-10" "old name gone"

# 6. Known formats are checked at commit: a truncated torch.save (zip) file
#    and a truncated .npy inside a directory abort their checkpoints.
before=$(latest_name)
"$PY" - "$MNT" <<'EOF'
import errno, io, os, sys, torch, numpy as np
mnt = sys.argv[1]
buf = io.BytesIO()
torch.save({"w": torch.ones(100000)}, buf)
data = buf.getvalue()
f = open(os.path.join(mnt, "trunc.pt"), "wb")
f.write(data[: len(data) // 2])
try:
    f.close()
except OSError as e:           # the close that commits reports the failed check
    assert e.errno == errno.EBADMSG, e
os.mkdir(os.path.join(mnt, "ckpt-npy"))
b = io.BytesIO()
np.save(b, np.arange(100000))
with open(os.path.join(mnt, "ckpt-npy", "opt.npy"), "wb") as f:
    f.write(b.getvalue()[:-100])
print("ok formats written")
EOF
sleep 0.8
for name in trunc.pt ckpt-npy; do
  ls "$MNT" | grep -qx "$name" && fail "$name: a failed format check still listed"
  assert_eq "$(ckpt_field "$name" state)" "aborted" "$name: aborted by the format check"
  assert_exists "$MNT/.ckptfs/aborted/$name" "$name under .ckptfs/aborted"
done
assert_eq "$(latest_name)" "$before" "latest unchanged by failed format checks"

# 7. Clean unmount commits quiet, complete directories.
stop_mount
start_mount "settle_ms=600000"
mkdir "$MNT/ckpt-30"
echo weights >"$MNT/ckpt-30/w"
sleep 0.3
assert_eq "$(ckpt_field ckpt-30 state)" "staging" "not committed before settle"
stop_mount
assert_eq "$(ckpt_field ckpt-30 state)" "committed" "committed at clean unmount"
start_mount
assert_eq "$(latest_name)" "ckpt-30" "latest after remount"
assert_eq "$(cat "$MNT/latest/w")" "weights" "content after remount"
echo "ok"
