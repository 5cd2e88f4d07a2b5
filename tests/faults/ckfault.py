"""Writers and checkers for the fault tests. Manifests live OUTSIDE the mount:
one JSON line per checkpoint, {"name", "kind": "dir"|"file", "files": {relpath: sha256}}
(a single-file checkpoint has one entry under the path ""). Writers record
what they are about to write in MANIFEST.intended first.

    ckfault.py write MNT NAME MANIFEST SEED          # one directory checkpoint
    ckfault.py loop MNT PREFIX MANIFEST SEED         # checkpoints (dir, file, tmp-dir + rename) and
                                                     # rotation (MANIFEST.deleting) until killed or an error
    ckfault.py check-latest MNT MANIFEST [--allow-empty]   # latest equals a manifest entry
    ckfault.py check-listed MNT MANIFEST [--require-all] [--committed FILE] [--allow-empty]

--allow-empty: a directory with no regular file in it is accepted without a
manifest entry (a writer killed after mkdir, before opening its first file:
nobody wrote into it, so per the contract it may commit, as an empty checkpoint).
    ckfault.py soak MNT PREFIX MANIFEST PRE SEED STOP   # saves until STOP exists
    ckfault.py read-soak MNT VIEW PRE STOP OUT          # reads VIEW whole until STOP exists
    ckfault.py check-best MNT MANIFEST                  # best_val_loss = lowest val_loss

soak records each checkpoint in PRE (every version that may ever be read)
before writing it, and in MANIFEST once its save returned (completed).
"""
import hashlib
import json
import os
import random
import shutil
import sys
import time

VIRTUAL_PREFIXES = ("best_",)
CHUNK = 65536
CHUNK_SLEEP = float(os.environ.get("CKFAULT_CHUNK_SLEEP", "0"))  # slows writers so kills land mid-write


def write_file(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for i in range(0, len(data), CHUNK):
            os.write(fd, data[i:i + CHUNK])
            if CHUNK_SLEEP:
                time.sleep(CHUNK_SLEEP)
    finally:
        os.close(fd)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def record(path, entry):
    with open(path, "a") as m:
        m.write(json.dumps(entry) + "\n")
        m.flush()


def write_dir_ckpt(mnt, name, manifest, rnd, max_size=1 << 20, final=None):
    """Writes directory NAME; with FINAL, renames it to FINAL once complete
    (tmp-dir + rename). The content is recorded in MANIFEST.intended before
    it is written, and in MANIFEST once complete."""
    content = {}
    for i in range(rnd.randint(3, 6)):
        rel = "part%d.bin" % i if i % 3 else os.path.join("sub", "part%d.bin" % i)
        content[rel] = rnd.randbytes(rnd.randint(0, max_size))
    entry = {"name": final or name, "kind": "dir", "files": {k: sha(v) for k, v in content.items()}}
    record(manifest + ".intended", entry)
    root = os.path.join(mnt, name)
    os.mkdir(root)
    for rel, data in content.items():
        if rel.startswith("sub"):
            os.makedirs(os.path.join(root, "sub"), exist_ok=True)
        write_file(os.path.join(root, rel), data)
    if final:
        os.rename(root, os.path.join(mnt, final))
    record(manifest, entry)  # complete: only now is it recorded


def write_file_ckpt(mnt, name, manifest, rnd, max_size=1 << 20):
    data = rnd.randbytes(rnd.randint(1, max_size))
    entry = {"name": name, "kind": "file", "files": {"": sha(data)}}
    record(manifest + ".intended", entry)
    write_file(os.path.join(mnt, name), data)
    record(manifest, entry)


def load_manifest(path):
    out = {}
    if os.path.exists(path):
        with open(path) as m:
            for line in m:
                if not line.endswith("\n"):
                    break  # a line being appended right now
                if line.strip():
                    e = json.loads(line)
                    out[e["name"]] = e
    return out


def sha_fd(fd):
    h = hashlib.sha256()
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        h.update(b)
    return h.hexdigest()


def read_entry(path):
    """Reads a checkpoint (dir or file) whole through one handle: {relpath: sha}."""
    fd = os.open(path, os.O_RDONLY)
    try:
        import stat
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            return "file", {"": sha_fd(fd)}
        files = {}
        for dirpath, _dirs, names, dfd in os.fwalk(".", dir_fd=fd):
            for n in names:
                f = os.open(n, os.O_RDONLY, dir_fd=dfd)
                try:
                    files[os.path.normpath(os.path.join(dirpath, n))] = sha_fd(f)
                finally:
                    os.close(f)
        return "dir", files
    finally:
        os.close(fd)


def match(manifest_path, kind, files):
    for e in load_manifest(manifest_path).values():
        if e["kind"] == kind and e["files"] == files:
            return e["name"]
    return None


def check_latest(mnt, manifest, allow_empty=False):
    kind, files = read_entry(os.path.join(mnt, "latest"))
    if allow_empty and kind == "dir" and not files:
        print("(empty)")
        return
    name = match(manifest, kind, files)
    if name is None:
        time.sleep(0.5)  # a manifest line may land just after the commit; re-read once
        name = match(manifest, kind, files)
    if name is None and os.path.exists(manifest + ".intended"):
        # complete content whose save did not see its close()/rename() return
        # (the daemon died replying)
        name = match(manifest + ".intended", kind, files)
    if name is None:
        try:
            with open(os.path.join(mnt, ".ckptfs", "latest")) as f:
                lname = f.read().strip()
        except OSError:
            lname = "?"
        deleting = ""
        if os.path.exists(manifest + ".deleting"):
            with open(manifest + ".deleting") as d:
                if lname in {l.strip() for l in d}:
                    deleting = ", whose rm -rf had started"
        sys.exit("latest (.ckptfs/latest: %s%s; %s, %d files) matches no complete checkpoint in the manifest: %s"
                 % (lname, deleting, kind, len(files), sorted(files)))
    print(name)


def check_listed(mnt, manifest, require_all=False, committed=None, allow_empty=False):
    man = load_manifest(manifest)
    listed = [n for n in os.listdir(mnt)
              if n not in ("latest", ".ckptfs") and not n.startswith(VIRTUAL_PREFIXES)]
    bad = []
    deleting = set()
    if os.path.exists(manifest + ".deleting"):
        with open(manifest + ".deleting") as d:
            deleting = {l.strip() for l in d if l.endswith("\n")}
    for n in sorted(listed):
        if n in deleting:
            continue  # an rm -rf cut short: what remains stays readable, it is never latest
        e = man.get(n)
        if e is None and allow_empty and read_entry(os.path.join(mnt, n)) == ("dir", {}):
            continue
        if e is None:
            # a save whose last close()/rename() did not return (the daemon
            # died replying) may still have committed: then it is complete
            e = load_manifest(manifest + ".intended").get(n)
        if e is None:
            bad.append("%s is listed but was never completely written" % n)
            continue
        kind, files = read_entry(os.path.join(mnt, n))
        if (kind, files) != (e["kind"], e["files"]):
            bad.append("%s differs from what was written (%s, files %s vs %s)"
                       % (n, kind, sorted(files), sorted(e["files"])))
    must = set(man) if require_all else set()
    if committed and os.path.exists(committed):
        with open(committed) as c:
            must |= {l.strip() for l in c if l.strip()}
    for n in sorted(must - set(listed)):
        bad.append("%s was committed but is not listed" % n)
    if bad:
        sys.exit("\n".join(bad))
    print(len(listed))


def soak(mnt, prefix, manifest, pre, rnd, stop):
    n = 0
    while not os.path.exists(stop):
        n += 1
        v = round(rnd.uniform(0.1, 5.0), 4)
        if n % 3 == 0:
            name = "%s-dir-step=%d" % (prefix, n)
            content = {"metrics.json": json.dumps({"val_loss": v, "step": n}).encode()}
            for i in range(rnd.randint(1, 3)):
                content["shard%d.bin" % i] = rnd.randbytes(rnd.randint(1, 300000))
            kind = "dir"
        else:
            name = "%s-step=%d-val_loss=%.4f.ckpt" % (prefix, n, v)
            content = {"": b"SOAKTEST" + rnd.randbytes(rnd.randint(1, 400000))}
            kind = "file"
        entry = {"name": name, "kind": kind, "val_loss": v, "step": n,
                 "files": {k: hashlib.sha256(b).hexdigest() for k, b in content.items()}}
        with open(pre, "a") as m:
            m.write(json.dumps(entry) + "\n")
        if kind == "dir":
            os.mkdir(os.path.join(mnt, name))
            for k, b in content.items():
                with open(os.path.join(mnt, name, k), "wb") as f:
                    f.write(b)
        else:
            with open(os.path.join(mnt, name), "wb") as f:
                for i in range(0, len(content[""]), CHUNK):
                    f.write(content[""][i:i + CHUNK])
        with open(manifest, "a") as m:
            m.write(json.dumps(entry) + "\n")
        time.sleep(rnd.random() * 0.05)


def read_soak(mnt, view, pre, stop, out):
    reads, seen = 0, set()
    path = os.path.join(mnt, view)
    while not os.path.exists(stop):
        kind, files = read_entry(path)
        if match(pre, kind, files) is None:
            with open(out, "w") as o:
                o.write("TORN read of %s: %s %s matches no written checkpoint\n" % (view, kind, files))
            sys.exit(1)
        reads += 1
        seen.add(json.dumps(files, sort_keys=True))
    with open(out, "w") as o:
        o.write("%s: reads=%d distinct=%d\n" % (view, reads, len(seen)))


def check_best(mnt, manifest):
    man = load_manifest(manifest)
    key = min((e["val_loss"], e["step"]) for e in man.values())
    cands = [e for e in man.values() if (e["val_loss"], e["step"]) == key]  # ties: lower step, then commit order
    kind, files = read_entry(os.path.join(mnt, "best_val_loss"))
    if not any((kind, files) == (e["kind"], e["files"]) for e in cands):
        sys.exit("best_val_loss is %s, expected %s (val_loss %s)"
                 % (match(manifest, kind, files), [e["name"] for e in cands], key[0]))
    print(cands[0]["name"])


def main():
    cmd = sys.argv[1]
    if cmd == "write":
        write_dir_ckpt(sys.argv[2], sys.argv[3], sys.argv[4], random.Random(int(sys.argv[5])))
    elif cmd == "loop":
        mnt, prefix, manifest = sys.argv[2], sys.argv[3], sys.argv[4]
        rnd = random.Random(int(sys.argv[5]))
        i, done = 0, []
        try:
            while True:
                name = "%s-%d" % (prefix, i)
                if i % 4 == 2:
                    write_file_ckpt(mnt, name + ".bin", manifest, rnd, 1 << 19)
                    done.append(name + ".bin")
                elif i % 4 == 3:  # Orbax-style: temporary directory, then rename
                    write_dir_ckpt(mnt, name + ".orbax-checkpoint-tmp-%d" % i, manifest, rnd, 1 << 19, final=name)
                    done.append(name)
                else:
                    write_dir_ckpt(mnt, name, manifest, rnd, 1 << 19)
                    done.append(name)
                if i % 5 == 4 and len(done) > 2:  # rotation: delete the oldest (recorded first)
                    old = done.pop(0)
                    with open(manifest + ".deleting", "a") as d:
                        d.write(old + "\n")
                    p = os.path.join(mnt, old)
                    shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
                i += 1
                time.sleep(rnd.random() * 0.3)
        except OSError as e:
            print("writer stopped: %s" % e, file=sys.stderr)
            sys.exit(2)
    elif cmd == "soak":
        soak(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], random.Random(int(sys.argv[6])), sys.argv[7])
    elif cmd == "read-soak":
        read_soak(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6])
    elif cmd == "check-best":
        check_best(sys.argv[2], sys.argv[3])
    elif cmd == "check-latest":
        check_latest(sys.argv[2], sys.argv[3], "--allow-empty" in sys.argv)
    elif cmd == "check-listed":
        committed = sys.argv[sys.argv.index("--committed") + 1] if "--committed" in sys.argv else None
        check_listed(sys.argv[2], sys.argv[3], "--require-all" in sys.argv, committed, "--allow-empty" in sys.argv)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
