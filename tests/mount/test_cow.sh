#!/usr/bin/env bash
# Copy-on-write and version binding: overwriting last.ckpt (in place and by
# os.replace) while a reader holds the old version open; a reader through
# latest; a working directory inside latest keeps its version after latest
# moves and retention deletes the checkpoint; saving again into a committed
# directory shares unchanged data.
source "$(dirname "$0")/lib.sh"

start_mount

head -c 8000000 /dev/urandom >"$T/v1"
head -c 6000000 /dev/urandom >"$T/v2"
head -c 7000000 /dev/urandom >"$T/v3"
cp "$T/v1" "$MNT/last.ckpt"

# reader PATH READY GO: reads half, says ready, waits for GO, reads the rest, prints sha256.
cat >"$T/reader.py" <<'EOF'
import hashlib, os, sys, time
path, ready, go = sys.argv[1:4]
h = hashlib.sha256()
with open(path, "rb") as f:
    size = os.fstat(f.fileno()).st_size
    h.update(f.read(size // 2))
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.02)
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        h.update(b)
print(h.hexdigest())
EOF

run_reader_case() { # PATH_TO_READ HOW_TO_OVERWRITE NEW_FILE OLD_FILE WHAT
  local path=$1 how=$2 new=$3 old=$4 what=$5
  rm -f "$T/ready" "$T/go"
  "$PY" "$T/reader.py" "$path" "$T/ready" "$T/go" >"$T/reader.out" &
  local reader=$!
  wait_for test -e "$T/ready" || fail "$what: reader never got going"
  eval "$how"
  assert_eq "$(sha "$MNT/last.ckpt")" "$(sha "$new")" "$what: a new lookup sees the new version"
  assert_eq "$(sha "$MNT/latest")" "$(sha "$new")" "$what: latest is the new version"
  touch "$T/go"
  wait $reader || fail "$what: reader failed"
  assert_eq "$(cat "$T/reader.out")" "$(sha "$old")" "$what: the reader saw the old bytes to EOF"
}

run_reader_case "$MNT/last.ckpt" 'cp "$T/v2" "$MNT/last.ckpt"' "$T/v2" "$T/v1" "overwrite in place (O_TRUNC)"
run_reader_case "$MNT/latest" 'cp "$T/v3" "$MNT/last.ckpt.tmp" && mv "$MNT/last.ckpt.tmp" "$MNT/last.ckpt"' \
  "$T/v3" "$T/v2" "os.replace over it, reader through latest"
assert_eq "$(ckpt_field last.ckpt state)" "committed" "last.ckpt committed"

# A working directory inside latest keeps its version.
mkdir "$T/a" "$T/b"
echo A >"$T/a/which"; head -c 100000 /dev/urandom >"$T/a/data"
echo B >"$T/b/which"
cp -r "$T/a" "$MNT/ckpt-a"
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = ckpt-a ]" || fail "ckpt-a never committed"
"$CKPT" policy "$STORE" keep_last=1 >/dev/null || fail "ckpt policy keep_last=1 beside the mount"
"$PY" - "$MNT" "$T/b" "$(sha "$T/a/data")" <<'EOF'
import hashlib, os, shutil, subprocess, sys, time
mnt, b, want = sys.argv[1:4]
def latest():
    return open(os.path.join(mnt, ".ckptfs/latest")).read().strip()
os.chdir(os.path.join(mnt, "latest"))
shutil.copytree(b, os.path.join(mnt, "ckpt-b"))
t0 = time.time()
while latest() != "ckpt-b":
    assert time.time() - t0 < 5, "ckpt-b never committed"
    time.sleep(0.05)
assert open(os.path.join(mnt, "latest/which")).read() == "B\n", "a new lookup of latest sees ckpt-b"
assert open("which").read() == "A\n", "cwd inside latest still sees ckpt-a"
assert sorted(os.listdir(".")) == ["data", "which"], os.listdir(".")
# Retention (keep_last=1, set below before ckpt-b) deleted ckpt-a meanwhile.
assert not os.path.exists(os.path.join(mnt, "ckpt-a")), "retention deleted ckpt-a"
assert open("which").read() == "A\n", "cwd still reads after the checkpoint is deleted"
assert hashlib.sha256(open("data", "rb").read()).hexdigest() == want
fd = os.open(".", os.O_RDONLY)
assert os.read(os.open("which", os.O_RDONLY, dir_fd=fd), 10) == b"A\n", "openat through the bound dir"
os.chdir("/")
print("ok cwd")
EOF

"$CKPT" policy "$STORE" keep_last=0 >/dev/null || fail "ckpt policy keep_last=0"

# Saving again into a committed directory: a new version, unchanged data shared.
mkdir "$T/big"
head -c 4000000 /dev/urandom >"$T/big/unchanged.bin"
echo 1 >"$T/big/small.txt"
cp -r "$T/big" "$MNT/checkpoint-500"
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = checkpoint-500 ]" || fail "checkpoint-500 never committed"
before=$("$CKPT" stats "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])')
echo 2 >"$MNT/checkpoint-500/small.txt" # resave into it
assert_eq "$(cat "$MNT/checkpoint-500/small.txt")" "2" "the new version is visible under its name"
assert_eq "$(cat "$MNT/latest/small.txt")" "1" "latest keeps the committed version until the new one commits"
wait_for bash -c "[ \"\$(cat '$MNT/latest/small.txt')\" = 2 ]" || fail "the new version never committed"
after=$("$CKPT" stats "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])')
[ $((after - before)) -lt 1000000 ] || fail "unchanged data was copied: stored $before -> $after"
assert_eq "$(sha "$MNT/checkpoint-500/unchanged.bin")" "$(sha "$T/big/unchanged.bin")" "unchanged file intact"

# A sparse file: its hole slots are one zero chunk, made by this flush (the
# first in the store) and found by the others; the checkpoint's stored bytes
# count it once, as the store grew.
stored_all() { "$CKPT" stats "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])'; }
before=$(stored_all)
truncate -s 4194304 "$MNT/sparse.ckpt"
wait_for is_latest sparse.ckpt || fail "sparse.ckpt never committed"
assert_eq "$(ckpt_field sparse.ckpt stored_bytes)" "$(($(stored_all) - before))" \
  "sparse.ckpt's stored bytes (the store grew by)"
echo "ok"
