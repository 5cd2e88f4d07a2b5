#!/usr/bin/env bash
# ckpt diff (issue #17 item 4) against a real mount: two torch.save files and
# two safetensors files where exactly two tensors changed name exactly those
# two, decided from the chunk lists alone; a directory checkpoint with added,
# removed, same and changed files; latest / NAME~N operands; exit codes 0
# identical, 1 different, 2 usage, 4 no such checkpoint.
source "$(dirname "$0")/../mount/lib.sh"

start_mount

# jq_py JSON CODE: asserts CODE with j = the parsed JSON.
jq_py() { "$PY" -c "import json, sys
j = json.loads(sys.argv[1])
$2" "$1" || fail "JSON check failed: $2"; }

diff_rc() { # diff_rc WANT ARGS...: runs ckpt diff, output in $OUT
  local want=$1 rc=0
  shift
  OUT=$("$CKPT" diff "$MNT" "$@" 2>"$T/diff.err") || rc=$?
  [ "$rc" = "$want" ] || fail "ckpt diff $*: exit $rc, want $want: $(cat "$T/diff.err") $OUT"
}

# ---- torch.save: 6 tensors of 1 MiB, tensors 1 and 4 redrawn; as file
# checkpoints ep1.pt / ep2.pt and as ck-1/model.pt / ck-2/model.pt
"$PY" - "$MNT" <<'PYEOF'
import os, sys, torch
mnt = sys.argv[1]
torch.manual_seed(0)
sd = {f"layer{i}.weight": torch.randn(262144) for i in range(6)}
def save(step):
    torch.save(sd, f"{mnt}/ep{step}.pt")
    os.mkdir(f"{mnt}/tmp-ck-{step}")
    torch.save(sd, f"{mnt}/tmp-ck-{step}/model.pt")
    os.rename(f"{mnt}/tmp-ck-{step}", f"{mnt}/ck-{step}")
save(1)
sd["layer1.weight"] = torch.randn(262144)
sd["layer4.weight"] = torch.randn(262144)
save(2)
PYEOF
wait_for is_latest ck-2 || fail "ck-2 did not commit"
TORCH_CHECK="
f, = j['files']
assert f['status'] == 'changed' and f['format'] == 'zip', f
ch = sorted(i['name'] for i in f['items'])
assert ch == ['data/1', 'data/4'], ch          # storages of layer1 and layer4
assert all(i['status'] == 'changed' for i in f['items']), f
assert f['items_same'] == 6, f                   # data/0,2,3,5, data.pkl, version"
diff_rc 1 ep1.pt ep2.pt --json
jq_py "$OUT" "$TORCH_CHECK"
# Same file name: the zip headers match, so only the chunks under the two
# tensors differ; data is read only where an entry shares such a chunk.
diff_rc 1 ck-1 ck-2 --json
jq_py "$OUT" "$TORCH_CHECK
assert 2 * 2**20 <= f['changed_bytes'] <= 4 * 2**20 + 65536, f  # + the CD's chunk (CRCs)
assert j['summary']['bytes_read'] <= 2 * f['changed_bytes'], j['summary']"
diff_rc 1 ep1.pt ep2.pt
grep -q '^  changed  *data/1$' <<<"$OUT" && grep -q '^  changed  *data/4$' <<<"$OUT" ||
  fail "human output does not name data/1 and data/4: $OUT"
[ "$(grep -c '^  changed' <<<"$OUT")" = 2 ] || fail "more than two changed items: $OUT"
grep -q '^files: 1 changed, 0 added, 0 removed, 0 same; items: 2 changed' <<<"$OUT" ||
  fail "summary line: $OUT"
echo "ok: torch: exactly data/1 and data/4 changed; reads bounded by the changed chunks"

# ---- safetensors: 5 tensors (1 MiB each, one small), t1 and t3 changed
"$PY" - "$MNT" <<'PYEOF'
import json, os, struct, sys
import numpy as np
mnt = sys.argv[1]
def save(path, tensors):
    hdr, data, at = {}, [], 0
    for k, v in tensors.items():
        b = v.tobytes()
        hdr[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [at, at + len(b)]}
        data.append(b)
        at += len(b)
    h = json.dumps(hdr).encode()
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(data))
    os.replace(path + ".tmp", path)
rng = np.random.default_rng(1)
t = {f"t{i}": rng.standard_normal(262144).astype(np.float32) for i in range(5)}
t["bias"] = rng.standard_normal(100).astype(np.float32)
save(f"{mnt}/a.safetensors", t)
t["t1"] = rng.standard_normal(262144).astype(np.float32)
t["t3"] = rng.standard_normal(262144).astype(np.float32)
save(f"{mnt}/b.safetensors", t)
PYEOF
wait_for is_latest b.safetensors || fail "b.safetensors did not commit"
diff_rc 1 a.safetensors latest --json
jq_py "$OUT" "
f, = j['files']
assert j['a'] == 'a.safetensors' and j['b'] == 'b.safetensors', j
assert f['format'] == 'safetensors', f
assert sorted((i['name'], i['status']) for i in f['items']) == [('t1', 'changed'), ('t3', 'changed')], f
assert f['items_same'] == 4, f
assert j['summary']['bytes_read'] == 0, j['summary']"
echo "ok: safetensors: exactly t1 and t3 changed, latest as an operand"

# ---- identical: a checkpoint against itself and a copy of it
diff_rc 0 a.safetensors a.safetensors
cp "$MNT/a.safetensors" "$T/a.copy" && cp "$T/a.copy" "$MNT/c.safetensors"
wait_for is_latest c.safetensors || fail "c.safetensors did not commit"
diff_rc 0 a.safetensors c.safetensors --json
jq_py "$OUT" "assert j['identical'] is True and j['files'][0]['status'] == 'same', j"
echo "ok: identical checkpoints: exit 0"

# ---- directory checkpoints: added, removed, same, changed (a symlink too)
mkdir "$T/src"
head -c 3000000 /dev/urandom >"$T/src/model.bin"
echo one >"$T/src/old.txt"
mkdir -p "$T/src/sub" && echo same >"$T/src/sub/keep.txt"
ln -s model.bin "$T/src/link"
cp -a "$T/src" "$MNT/tmp-run-1" && mv "$MNT/tmp-run-1" "$MNT/run-1"
"$PY" - "$T/src/model.bin" <<'PYEOF'
import sys
with open(sys.argv[1], "r+b") as f:   # one byte in the second MiB
    f.seek(1500000); b = f.read(1); f.seek(1500000); f.write(bytes([b[0] ^ 1]))
PYEOF
rm "$T/src/old.txt" "$T/src/link"
ln -s sub/keep.txt "$T/src/link"
echo new >"$T/src/sub/new.txt"
cp -a "$T/src" "$MNT/tmp-run-2" && mv "$MNT/tmp-run-2" "$MNT/run-2"
diff_rc 1 run-1 run-2 --json
jq_py "$OUT" "
st = {f['path']: f['status'] for f in j['files']}
assert st == {'link': 'changed', 'model.bin': 'changed', 'old.txt': 'removed',
              'sub/keep.txt': 'same', 'sub/new.txt': 'added'}, st
m, = [f for f in j['files'] if f['path'] == 'model.bin']
assert m['changed_bytes'] == 2**20 and m['format'] is None, m
s = j['summary']
assert (s['files_changed'], s['files_added'], s['files_removed'], s['files_same']) == (2, 1, 1, 1), s"
diff_rc 1 run-1 run-2
grep -q '^removed  old.txt$' <<<"$OUT" && grep -q '^added    sub/new.txt$' <<<"$OUT" &&
  grep -q '^changed  model.bin  (1.0 MiB in changed chunks)$' <<<"$OUT" || fail "human diff: $OUT"
grep -q 'keep.txt' <<<"$OUT" && fail "a same file was printed: $OUT"
echo "ok: directory diff: added, removed, same, changed"

# ---- NAME~N: two aborted checkpoints of one name (writers killed)
kill_between_files "$MNT/job" a.bin
wait_for test ! -e "$MNT/job" || fail "first job not aborted"
kill_between_files "$MNT/job" a.bin
wait_for test ! -e "$MNT/job" || fail "second job not aborted"
diff_rc 1 job~2 job --json
jq_py "$OUT" "
assert [f['status'] for f in j['files']] == ['changed'], j   # random bytes each time
assert j['a'] == 'job~2' and j['b'] == 'job', j"
echo "ok: NAME~N operands"

# ---- errors
diff_rc 4 run-1 no-such
diff_rc 2 run-1
echo "PASS [$TEST_NAME]"
