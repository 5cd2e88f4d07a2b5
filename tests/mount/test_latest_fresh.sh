#!/usr/bin/env bash
# A commit is visible to every lookup that starts after the committing call
# returns (close() of a file checkpoint, rename() of a temporary name):
# MNT/latest, MNT/best_<metric> and the name itself never give the previous
# version's bytes, whether or not readers hold the old version open (in the
# writer's own process or another). 200 iterations per case.
source "$(dirname "$0")/lib.sh"

start_mount "settle_ms=60000"
N=${CKPT_FRESH_ITERS:-200}

# Another process reading latest and best_* in a loop (keeps the kernel's
# caches of the old versions warm); killed by the EXIT trap.
"$PY" -c 'import os, sys, time
while True:
    for p in ("latest", "best_loss", "best_acc"):
        try:
            with open(os.path.join(sys.argv[1], p), "rb") as f:
                f.read()
        except OSError:
            pass
    time.sleep(0.001)' "$MNT" &

"$PY" - "$MNT" "$N" <<'EOF'
import os, sys
mnt, n = sys.argv[1], int(sys.argv[2])
bad = []

def read(path):
    with open(path, "rb") as f:
        return f.read()

def check(case, i, path, want):
    got = read(path)
    if got != want:
        bad.append("%s iter %d: %s gave %r, want %r" % (case, i, path, got[:24], want[:24]))

def body(tag, i):
    return ("%s-%06d|" % (tag, i)).encode() * 700   # ~8 KiB, distinct per version

# 1. One file checkpoint overwritten in place (Lightning's last.ckpt), with
#    and without this process holding latest and the name open for reading.
for hold in (False, True):
    case = "file overwrite, readers held=%s" % hold
    held = []
    for i in range(n):
        want = body("last%d" % hold, i)
        if hold and i:
            held = [open(os.path.join(mnt, p), "rb") for p in ("latest", "last.ckpt")]
            for h in held:
                h.read(1)
        with open(os.path.join(mnt, "last.ckpt"), "wb") as f:
            f.write(want)
        check(case, i, os.path.join(mnt, "latest"), want)
        check(case, i, os.path.join(mnt, "last.ckpt"), want)
        for h in held:
            h.close()
        held = []

# 2. New file checkpoints with a falling metric: latest and best_ both move.
held = []
for i in range(n):
    want = body("best", i)
    if i % 2:
        held = [open(os.path.join(mnt, p), "rb") for p in ("latest", "best_loss")]
    with open(os.path.join(mnt, "step=%d-loss=%d.ckpt" % (i, 10**6 - i)), "wb") as f:
        f.write(want)
    check("file best", i, os.path.join(mnt, "latest"), want)
    check("file best", i, os.path.join(mnt, "best_loss"), want)
    for h in held:
        h.close()
    held = []

# 3. Directory checkpoints committed by renaming a temporary name, with a
#    directory handle and a file of the previous latest held open.
for i in range(n):
    want = body("dir", i)
    held = []
    if i % 2:
        held = [open(os.path.join(mnt, "latest", "m.bin"), "rb"),
                os.open(os.path.join(mnt, "latest"), os.O_RDONLY | os.O_DIRECTORY),
                open(os.path.join(mnt, "best_acc", "m.bin"), "rb")]
    tmp = os.path.join(mnt, "tmp-d%d" % i)
    os.mkdir(tmp)
    with open(os.path.join(tmp, "m.bin"), "wb") as f:
        f.write(want)
    with open(os.path.join(tmp, "metrics.json"), "w") as f:
        f.write('{"acc": %d}' % i)
    os.rename(tmp, os.path.join(mnt, "ckpt-%d" % i))
    check("dir", i, os.path.join(mnt, "latest", "m.bin"), want)
    check("dir", i, os.path.join(mnt, "best_acc", "m.bin"), want)
    check("dir", i, os.path.join(mnt, "ckpt-%d" % i, "m.bin"), want)
    for h in held:
        if isinstance(h, int):
            os.close(h)
        else:
            h.close()

for b in bad[:20]:
    print("STALE:", b)
if bad:
    print("FAIL: %d stale reads" % len(bad))
    sys.exit(1)
print("ok")
EOF
echo ok
