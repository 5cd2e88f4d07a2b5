#!/usr/bin/env bash
# One damaged index.db page (the b-tree behind `latest`): `ckpt verify`
# reports the index damage and exits 1; `ckpt show STORE latest` fails with
# an I/O error, not "no such checkpoint"; the mount refuses the store with a
# one-line error and deletes nothing. With the page restored all is well.
source "$(dirname "$0")/lib.sh"
sqlite_only "about the SQLite index file and DIR store addresses"

chunk_list() { (cd "$STORE_DIR/chunks" && find . -type f | sort | xargs -r sha256sum); }

start_mount
head -c 2500000 /dev/urandom >"$T/a.bin"
cp "$T/a.bin" "$MNT/step-1.pt"
echo two >"$MNT/step-2.pt"
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = step-2.pt ]" || fail "step-2.pt never committed"
stop_mount
CHUNKS=$(chunk_list)
"$CKPT" verify "$STORE" >/dev/null || fail "verify before the damage"

# Overwrite the first page of the ckpt_latest index with garbage.
cp "$STORE_DIR/index.db" "$T/index.good"
"$PY" - "$STORE_DIR/index.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
page = db.execute("select rootpage from sqlite_master where name='ckpt_latest'").fetchone()[0]
psize = db.execute("pragma page_size").fetchone()[0]
db.close()
with open(sys.argv[1], "r+b") as f:
    f.seek((page - 1) * psize)
    f.write(b"\xa5" * psize)
EOF
"$PY" - "$STORE_DIR/index.db" <<'EOF' || fail "the damage is not one SQLite sees"
import sqlite3, sys
try:
    r = sqlite3.connect(sys.argv[1]).execute("pragma integrity_check").fetchone()[0]
except sqlite3.DatabaseError as e:
    r = str(e)
sys.exit(r == "ok")
EOF

rc=0; "$CKPT" verify "$STORE" >"$T/out" 2>&1 || rc=$?
assert_eq "$rc" "1" "ckpt verify exit code on a damaged index ($(cat "$T/out"))"
grep -q "^.*index" "$T/out" || fail "verify does not name the index: $(cat "$T/out")"
rc=0; "$CKPT" verify "$STORE" --json >"$T/out" 2>&1 || rc=$?
assert_eq "$rc" "1" "ckpt verify --json exit code"
"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["ok"] is False and any("index" in p for p in j["problems"]), j' \
  "$T/out" || fail "verify --json: $(cat "$T/out")"

rc=0; "$CKPT" show "$STORE" latest >"$T/out" 2>"$T/err" || rc=$?
assert_eq "$rc" "1" "ckpt show latest on a damaged index: an error, not 'no such checkpoint' ($(cat "$T/err"))"
grep -qi "input/output" "$T/err" || fail "ckpt show latest: $(cat "$T/err")"

rc=0
timeout 5 "$CKPTFS" "$STORE" "$MNT" -f -o settle_ms=$SETTLE_MS >"$T/out" 2>"$T/err" || rc=$?
if is_mounted; then unmount_quietly; fail "mounted a damaged index"; fi
[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || fail "ckptfs on a damaged index: exit $rc"
assert_eq "$(wc -l <"$T/err")" "1" "one line on stderr ($(cat "$T/err"))"
grep -q "damaged" "$T/err" || fail "the mount's error: $(cat "$T/err")"
assert_eq "$(chunk_list)" "$CHUNKS" "chunk files after the refused mount"

cp "$T/index.good" "$STORE_DIR/index.db"
"$CKPT" verify "$STORE" >/dev/null || fail "verify after the page is restored"
start_mount
assert_eq "$(latest_name)" "step-2.pt" "latest after the page is restored"
assert_eq "$(sha "$MNT/step-1.pt")" "$(sha "$T/a.bin")" "step-1.pt after the page is restored"
echo "PASS [$TEST_NAME]"
