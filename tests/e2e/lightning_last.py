"""Lightning's last.ckpt, overwritten every epoch, read concurrently.

    lightning_last.py writer MNT direct|replace N SCRATCH VERSIONS READY
    lightning_last.py reader MNT VERSIONS STOP OUT [PATHS]   # PATHS default last.ckpt,latest

writer: for each version i, torch.save(state_i) to MNT/last.ckpt (direct) or
to MNT/last.ckpt.tmp then os.replace onto last.ckpt (replace). The sha256 of
the exact bytes torch.save produces for that file name (saved once into
SCRATCH, outside the mount) is appended to VERSIONS *before* the save starts.
READY is created once the first version is in place; the writer then waits
for READY.go before the next versions.
reader: creates STOP.go after its first read (the test links it to READY.go); until STOP exists, open MNT/last.ckpt and MNT/latest, read them whole,
and check that the bytes are one of VERSIONS exactly and torch.load them.
Writes "reads=N distinct=M" to OUT; exits 1 on the first torn read.
"""
import hashlib
import io
import os
import sys
import time

import torch


def state(i):
    g = torch.Generator().manual_seed(1000 + i)
    n = 20000 + (i * 37717) % 400000  # sizes vary: 80 KB .. 1.7 MB
    return {"epoch": i, "global_step": 100 * i,
            "state_dict": {"w": torch.randn(n, generator=g), "b": torch.randn(64, generator=g)},
            "optimizer_states": [{"lr": 1e-3 / (i + 1)}], "callbacks": {"ModelCheckpoint": {"best": i}}}


def writer(mnt, mode, n, scratch, versions, ready):
    for i in range(n):
        st = state(i)
        name = "last.ckpt" if mode == "direct" else "last.ckpt.tmp"
        local = os.path.join(scratch, name)
        torch.save(st, local)
        with open(local, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        with open(versions, "a") as v:
            v.write("%s %d\n" % (digest, i))
        if mode == "direct":
            torch.save(st, os.path.join(mnt, "last.ckpt"))
        else:
            torch.save(st, os.path.join(mnt, "last.ckpt.tmp"))
            os.replace(os.path.join(mnt, "last.ckpt.tmp"), os.path.join(mnt, "last.ckpt"))
        if i == 0:  # wait until the reader is reading before going on
            open(ready, "w").close()
            for _ in range(1200):
                if os.path.exists(ready + ".go"):
                    break
                time.sleep(0.05)
        time.sleep(0.02)
    # the final version reads back exactly
    with open(os.path.join(mnt, "last.ckpt"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest, "last.ckpt is not the last version written"


def known(versions):
    with open(versions) as v:
        return dict(line.split() for line in v if line.endswith("\n") and line.strip())  # skip a line being appended


def reader(mnt, versions, stop, out, paths=("last.ckpt", "latest")):
    reads, seen = 0, set()
    while not os.path.exists(stop):
        for p in paths:
            with open(os.path.join(mnt, p), "rb") as f:
                data = f.read()
            d = hashlib.sha256(data).hexdigest()
            k = known(versions)
            if d not in k:
                with open(out, "w") as o:
                    o.write("TORN read of %s: %d bytes, sha256 %s matches no written version\n" % (p, len(data), d))
                sys.exit(1)
            st = torch.load(io.BytesIO(data))
            assert st["epoch"] == int(k[d]), (p, st["epoch"], k[d])
            reads += 1
            seen.add(d)
            if reads == 1:
                open(stop + ".go", "w").close()
    with open(out, "w") as o:
        o.write("reads=%d distinct=%d\n" % (reads, len(seen)))


if __name__ == "__main__":
    if sys.argv[1] == "writer":
        writer(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7])
    else:
        reader(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5],
               *([sys.argv[6].split(",")] if len(sys.argv) > 6 else []))
