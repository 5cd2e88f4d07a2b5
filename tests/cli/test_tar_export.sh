#!/usr/bin/env bash
# ckpt export NAME DEST.tar | DEST.tar.zst | - (issue #17 item 5) against a
# real mount: extracted with GNU tar (and tar --zstd, zstd -d) byte for byte
# equal to the checkpoint (cmp), modes, mtimes and symlinks as stored; a
# file checkpoint is one entry; `- | tar t`; a damaged chunk fails the export
# (non-zero exit, a message, no archive left, stdout not a complete archive);
# an existing DEST is refused. Prints the max RSS of a 512 MiB export.
source "$(dirname "$0")/../mount/lib.sh"

start_mount

# ---- a directory checkpoint with a tree, modes, mtimes, a symlink
mkdir -p "$T/src/sub/deep"
head -c 3500000 /dev/urandom >"$T/src/model.bin"
head -c 100 /dev/urandom >"$T/src/sub/deep/opt.bin"
printf '#!/bin/sh\n' >"$T/src/run.sh" && chmod 755 "$T/src/run.sh"
: >"$T/src/empty"
chmod 600 "$T/src/model.bin"
ln -s sub/deep/opt.bin "$T/src/link"
touch -d @1700000000 "$T/src/model.bin"
cp -a "$T/src" "$MNT/tmp-step-1" && mv "$MNT/tmp-step-1" "$MNT/step-1"
head -c 2000000 /dev/urandom >"$T/last.ckpt"
cp "$T/last.ckpt" "$MNT/last.ckpt"
wait_for is_latest last.ckpt || fail "last.ckpt did not commit"

# same_tree A B: entries, types, bytes (cmp), modes, file mtimes, link targets
same_tree() {
  local a=$1 b=$2 p
  diff <(cd "$a" && find . | sort) <(cd "$b" && find . | sort) || fail "entries differ: $a $b"
  while IFS= read -r p; do
    if [ -L "$a/$p" ]; then
      assert_eq "$(readlink "$b/$p")" "$(readlink "$a/$p")" "symlink $p"
    elif [ -f "$a/$p" ]; then
      cmp "$a/$p" "$b/$p" || fail "bytes of $p differ"
      assert_eq "$(stat -c '%a %Y' "$b/$p")" "$(stat -c '%a %Y' "$a/$p")" "mode/mtime of $p"
    fi
  done < <(cd "$a" && find . -mindepth 1)
}

mkdir "$T/out"
"$CKPT" export "$MNT" step-1 "$T/out/s.tar" >"$T/out.txt" || fail "export .tar"
grep -q "exported step-1 to $T/out/s.tar: 4 file(s)" "$T/out.txt" || fail "report: $(cat "$T/out.txt")"
mkdir "$T/x1" && tar -xf "$T/out/s.tar" -C "$T/x1" || fail "GNU tar cannot extract"
same_tree "$MNT/step-1" "$T/x1/step-1"
same_tree "$T/src" "$T/x1/step-1"
echo "ok: .tar round trip (tar -x, cmp, modes, mtimes, symlink)"

"$CKPT" export "$MNT" step-1 "$T/out/s.tar.zst" --json >"$T/out.json" || fail "export .tar.zst"
"$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['archive']=='tar.zst' and j['files']==4, j" "$T/out.json" ||
  fail "export --json: $(cat "$T/out.json")"
zstd -t -q "$T/out/s.tar.zst" || fail "not a zstd stream"
mkdir "$T/x2" && tar --zstd -xf "$T/out/s.tar.zst" -C "$T/x2" || fail "tar --zstd cannot extract"
same_tree "$T/src" "$T/x2/step-1"
zstd -d -q -c "$T/out/s.tar.zst" | cmp - "$T/out/s.tar" || fail ".tar.zst does not decompress to the .tar"
echo "ok: .tar.zst round trip (tar --zstd, zstd -d)"

# ---- a file checkpoint is one entry; latest; stdout
"$CKPT" export "$MNT" latest - | tar -t >"$T/list.txt" || fail "export latest - | tar t"
assert_eq "$(cat "$T/list.txt")" "last.ckpt" "entries of a file checkpoint"
"$CKPT" export "$MNT" last.ckpt - | tar -xO last.ckpt | cmp - "$T/last.ckpt" || fail "stdout archive bytes"
"$CKPT" export "$MNT" step-1 - | tar -t | sort >"$T/list2.txt"
assert_eq "$(tr '\n' ' ' <"$T/list2.txt")" "step-1/ step-1/empty step-1/link step-1/model.bin step-1/run.sh step-1/sub/ step-1/sub/deep/ step-1/sub/deep/opt.bin " "tar t of a directory checkpoint"
echo "ok: file checkpoint as one entry, latest, - | tar t"

# ---- refusals
rc=0; "$CKPT" export "$MNT" step-1 "$T/out/s.tar" 2>"$T/err" || rc=$?
assert_eq "$rc" 1 "export over an existing .tar"
grep -q "existing" "$T/err" || fail "no message: $(cat "$T/err")"
rc=0; "$CKPT" export "$MNT" step-1 - --json >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "--json with -"

# ---- a damaged chunk: non-zero exit, a message, no archive left behind
stop_mount
"$PY" - "$STORE" <<'PYEOF'
import os, sqlite3, sys
# the second chunk of model.bin (chunk lists: 44 bytes per chunk, SHA-256 first)
db = sqlite3.connect(f"file:{sys.argv[1]}/index.db?mode=ro", uri=True)
blob, = db.execute("SELECT chunks FROM nodes WHERE name = 'model.bin'").fetchone()
h = blob[44:76].hex()
p = os.path.join(sys.argv[1], "chunks", h[:2], h)
with open(p, "r+b") as f:
    f.seek(os.path.getsize(p) // 2); b = f.read(1)
    f.seek(os.path.getsize(p) // 2); f.write(bytes([b[0] ^ 0xff]))
PYEOF
rc=0; "$CKPT" export "$STORE" step-1 "$T/out/bad.tar" 2>"$T/err" || rc=$?
assert_ne "$rc" 0 "export of a damaged checkpoint"
grep -q "model.bin" "$T/err" || fail "message does not name the file: $(cat "$T/err")"
assert_missing "$T/out/bad.tar" "archive of a damaged checkpoint"
[ -z "$(ls -A "$T/out" | grep -v '^s\.tar')" ] || fail "temporary files left: $(ls -A "$T/out")"
rc=0; "$CKPT" export "$STORE" step-1 - 2>"$T/err" >"$T/bad-stdout.tar" || rc=$?
assert_ne "$rc" 0 "export - of a damaged checkpoint"
grep -q "model.bin" "$T/err" || fail "stdout: no message: $(cat "$T/err")"
tar -tf "$T/bad-stdout.tar" >/dev/null 2>&1 && fail "a damaged export to stdout reads as a complete archive"
echo "ok: damaged chunk: exit $rc, message, no complete archive"

# ---- memory: a 512 MiB checkpoint (report the max RSS, no assertion on it)
start_mount
head -c $((512 << 20)) /dev/urandom >"$MNT/big.bin"
wait_for is_latest big.bin || fail "big.bin did not commit"
/usr/bin/time -v "$CKPT" export "$MNT" big.bin "$T/out/big.tar.zst" >/dev/null 2>"$T/time.txt" || fail "big export"
echo "max RSS of a 512 MiB .tar.zst export: $(grep 'Maximum resident' "$T/time.txt" | awk '{print $NF}') KiB"
/usr/bin/time -v "$CKPT" export "$MNT" big.bin - 2>"$T/time.txt" | tar -xO big.bin | cmp - "$MNT/big.bin" ||
  fail "512 MiB via stdout differs"
echo "max RSS of a 512 MiB export to stdout: $(grep 'Maximum resident' "$T/time.txt" | awk '{print $NF}') KiB"
echo "PASS [$TEST_NAME]"
