#!/usr/bin/env bash
# Two mounts of one PostgreSQL store (two nodes on one machine): a commit on
# A is seen on B; a directory checkpoint written through A and B commits
# once with every file, by settle (which waits for a writer open on the
# other mount) and by the rename of a temporary name on A; a deletion on A
# re-resolves latest on B; retention on A removes names on B.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/multi_lib.sh"

start_mount
start_mount_b

# (a) a commit on A, seen on B
head -c 300000 /dev/urandom >"$T/one.src"
cp "$T/one.src" "$MNT/one.bin"
wait_for is_latest_b one.bin || fail "B: latest is '$(latest_b)', not one.bin"
cmp "$T/one.src" "$MNT_B/latest" || fail "B reads other bytes through latest"
echo "ok: a commit on A is latest on B"

# (b) settle across mounts: A holds a writer open, B writes and closes
# (the writer makes the directory itself: a mkdir long before the first
# open would let the empty directory settle first on a busy machine)
head -c 200000 /dev/urandom >"$T/x.src"
head -c 200000 /dev/urandom >"$T/y.src"
rm -f "$T/go" "$T/opened"
"$PY" - "$MNT/step_1/x.bin" "$T/x.src" "$T/opened" "$T/go" <<'PYEOF' &
import os, sys, time
dst, src, opened, go = sys.argv[1:5]
os.mkdir(os.path.dirname(dst))
with open(dst, "wb") as f:
    f.write(open(src, "rb").read()[:1000])
    f.flush()
    open(opened, "w").close()
    while not os.path.exists(go):
        time.sleep(0.05)
    f.write(open(src, "rb").read()[1000:])
PYEOF
writer=$!
wait_for test -e "$T/opened" || fail "writer on A never opened its file"
wait_for test -d "$MNT_B/step_1" || fail "B does not see A's staging step_1"
cp "$T/y.src" "$MNT_B/step_1/y.bin"
sleep 1.5 # > settle_ms on both mounts: only A's open writer holds the commit
is_latest_b one.bin || fail "step_1 committed while a writer on A had a file open"
assert_eq "$("$CKPT" ls "$STORE" --json | "$PY" -c 'import json,sys; print([c["state"] for c in json.load(sys.stdin) if c["name"]=="step_1"])')" "['staging']" "step_1 before its commit"
touch "$T/go"
wait "$writer" || fail "writer on A failed"
wait_for is_latest step_1 || fail "A: latest is '$(latest_name)', not step_1"
wait_for is_latest_b step_1 || fail "B: latest is '$(latest_b)', not step_1"
cmp "$T/x.src" "$MNT_B/latest/x.bin" || fail "B: x.bin (written on A) differs"
cmp "$T/y.src" "$MNT/latest/y.bin" || fail "A: y.bin (written on B) differs"
commits=$("$CKPT" log "$STORE" --json | "$PY" -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e["event"]=="commit" and e.get("name")=="step_1"))')
assert_eq "$commits" 1 "commit events of step_1"
echo "ok: settle waits for a writer open on the other mount; one commit with both files"

# (b') Orbax: files through both mounts into a temporary name, renamed on A
tmp=step_2.orbax-checkpoint-tmp-1234
mkdir "$MNT/$tmp"
cp "$T/x.src" "$MNT/$tmp/a.bin"
wait_for test -d "$MNT_B/$tmp" || fail "B does not see $tmp"
cp "$T/y.src" "$MNT_B/$tmp/b.bin"
sleep 1 # a temporary name never settles
is_latest_b step_1 || fail "the temporary directory committed without its rename"
mv "$MNT/$tmp" "$MNT/step_2"
is_latest step_2 || fail "A: the rename did not commit step_2 at once"
wait_for is_latest_b step_2 || fail "B: latest is '$(latest_b)', not step_2"
cmp "$T/y.src" "$MNT/latest/b.bin" || fail "A: b.bin (written on B) differs"
cmp "$T/x.src" "$MNT_B/latest/a.bin" || fail "B: a.bin differs"
echo "ok: the rename of a temporary name on A commits files written through A and B"

# ckpt wait on the PostgreSQL address wakes on a commit made through B
# (--after: the commit may land before ckpt has opened the store)
"$CKPT" wait "$STORE" --after step_2 --timeout 30 >"$T/waited" &
waiter=$!
sleep 0.5
cp "$T/one.src" "$MNT_B/step_2b.bin"
wait $waiter || fail "ckpt wait on $STORE failed or timed out"
grep -q "step_2b.bin" "$T/waited" || fail "ckpt wait printed '$(cat "$T/waited")', not step_2b.bin"
echo "ok: ckpt wait on the PostgreSQL address returns the commit made on B"

# (d) a deletion on A re-resolves latest on B; retention on A removes names on B
cp "$T/one.src" "$MNT/step_3.bin"
wait_for is_latest_b step_3.bin || fail "B: latest is '$(latest_b)', not step_3.bin"
rm "$MNT/step_3.bin"
wait_for is_latest_b step_2b.bin || fail "B: latest is '$(latest_b)' after rm of step_3.bin on A"
[ ! -e "$MNT_B/step_3.bin" ] || fail "B still shows step_3.bin"
"$CKPT" policy "$STORE" keep_last=1 >/dev/null || fail "ckpt policy keep_last=1"
cp "$T/one.src" "$MNT/step_4.bin"
wait_for is_latest_b step_4.bin || fail "B: latest is '$(latest_b)', not step_4.bin"
wait_for test ! -e "$MNT_B/step_1" || fail "B still shows step_1 after retention on A"
[ ! -e "$MNT_B/one.bin" ] || fail "B still shows one.bin after retention on A"
echo "ok: deletion and retention on A are seen on B"
