#!/usr/bin/env bash
# Deletion through the mount: rm of a file checkpoint, rmdir of a non-empty
# one (ENOTEMPTY), rm -rf of a directory checkpoint, staging ones too; the
# index records "user"; the space is reclaimed, but not while a reader
# still has the data open; retention runs after commits.
source "$(dirname "$0")/lib.sh"

start_mount
stored() { "$CKPT" stats "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])'; }

head -c 4000000 /dev/urandom >"$T/a.bin"
cp "$T/a.bin" "$MNT/one.pt"
mkdir "$T/d"; head -c 3000000 /dev/urandom >"$T/d/w.bin"; mkdir "$T/d/sub"; echo x >"$T/d/sub/x"
cp -r "$T/d" "$MNT/two"
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = two ]" || fail "two never committed"
s0=$(stored)

assert_errno ENOTEMPTY "os.rmdir('two')"
assert_errno EISDIR "os.unlink('two')"
assert_errno ENOTDIR "os.rmdir('one.pt')"

# A reader keeps deleted data readable; space comes back after it closes.
exec {rfd}<"$MNT/one.pt"
rm "$MNT/one.pt"
assert_missing "$MNT/one.pt" "rm of a file checkpoint"
assert_eq "$(ckpt_field one.pt state)" "deleted" "one.pt deleted in the index"
assert_eq "$(sha256sum <&$rfd | cut -d' ' -f1)" "$(sha "$T/a.bin")" "an open reader still reads the deleted data"
exec {rfd}<&-

rm -rf "$MNT/two"
assert_missing "$MNT/two" "rm -rf of a directory checkpoint"
assert_eq "$(ckpt_field two state)" "deleted" "two deleted in the index"
assert_missing "$MNT/latest" "no latest left"
"$CKPT" log "$STORE" --json | "$PY" -c '
import json, sys
ev = json.load(sys.stdin)
dels = {e["name"]: e["rule"] for e in ev if e["event"] == "delete"}
assert dels.get("one.pt") == "user" and dels.get("two") == "user", dels' || fail "ckpt log records user deletions"

# Space is reclaimed once nothing holds it (gc runs after deletions and commits).
echo tiny >"$MNT/tiny.pt"
wait_for bash -c "[ \$('$CKPT' stats '$STORE' --json | '$PY' -c 'import json,sys; print(json.load(sys.stdin)[\"stored_bytes\"])') -lt $((s0 - 6000000)) ]" \
  || fail "space not reclaimed: stored $(stored) (was $s0)"

# A staging checkpoint can be deleted too.
mkdir "$MNT/tmp-staging"
echo a >"$MNT/tmp-staging/a"
rm -rf "$MNT/tmp-staging"
assert_missing "$MNT/tmp-staging" "rm -rf of a staging checkpoint"

# Retention after each commit: keep_last=2.
stop_mount
start_mount "keep_last=2"
for i in 1 2 3 4; do echo "$i" >"$MNT/r-$i.pt"; done
assert_eq "$(ls "$MNT" | grep '^r-' | tr '\n' ' ')" "r-3.pt r-4.pt " "keep_last=2 after four commits"
assert_eq "$(ckpt_field r-1.pt state)" "deleted" "r-1 deleted by retention"
"$CKPT" log "$STORE" --json | "$PY" -c '
import json, sys
ev = [e for e in json.load(sys.stdin) if e["event"] == "delete" and e["name"] == "r-1.pt"]
assert ev and ev[-1]["rule"].startswith("policy"), ev' || fail "retention deletion recorded with its rule"
grep -q '^r-3.pt	keep	' "$MNT/.ckptfs/retention" || fail ".ckptfs/retention: $(cat "$MNT/.ckptfs/retention")"
echo "ok"
