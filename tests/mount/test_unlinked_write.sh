#!/usr/bin/env bash
# A file removed while open keeps taking writes until its last close, as on
# any POSIX filesystem, also when what was removed is the checkpoint itself:
# a top-level single file (Python's tempfile.TemporaryFile(dir=MNT) creates,
# unlinks, then writes and reads back) or the directory checkpoint holding
# the file (rm -rf while a saver still writes). Nothing of it commits, and
# nothing else changes.
source "$(dirname "$0")/lib.sh"

start_mount
echo keep >"$MNT/keep.pt"
wait_for is_latest keep.pt || fail "keep.pt never committed"

# The standard library's anonymous temporary file in the mount root.
out=$(cd "$MNT" && "$PY" -c '
import tempfile
with tempfile.TemporaryFile(dir=".") as f:
    f.write(b"z" * 300000); f.flush(); f.seek(0)
    print(len(f.read()))') || fail "tempfile.TemporaryFile(dir=MNT) failed"
assert_eq "$out" 300000 "TemporaryFile in the mount root reads back what it wrote"

# A single-file checkpoint unlinked by its writer, then written, truncated, read.
"$PY" - "$MNT/gone.pt" <<'EOF' || fail "writes to an unlinked top-level file"
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
os.write(fd, b"a" * 1000)
os.unlink(p)
assert os.write(fd, b"b" * 2000000) == 2000000
os.ftruncate(fd, 1500000)
assert os.fstat(fd).st_size == 1500000 and os.fstat(fd).st_nlink == 0
assert os.pread(fd, 4, 999) == b"abbb"
os.close(fd)
EOF

# A directory checkpoint removed (rm -rf) while a file in it is open for writing.
"$PY" - "$MNT/run-5" <<'EOF' || fail "writes into a removed directory checkpoint"
import os, subprocess, sys
d = sys.argv[1]
os.mkdir(d)
fd = os.open(d + "/model.bin", os.O_WRONLY | os.O_CREAT, 0o644)
os.write(fd, b"x" * 100000)
subprocess.run(["rm", "-rf", d], check=True)
assert not os.path.exists(d)
assert os.write(fd, b"y" * 100000) == 100000
os.close(fd)
EOF

sleep $(((SETTLE_MS + 200) / 1000)).5
assert_missing "$MNT/gone.pt" "the unlinked file after its close"
assert_missing "$MNT/run-5" "the removed directory after its writer's close"
assert_eq "$(latest_name)" keep.pt "latest after writes to removed files"
assert_eq "$(ls "$MNT/.ckptfs/aborted")" "" "nothing aborted"
assert_eq "$(ckpt_field gone.pt state)" deleted "gone.pt is deleted, not committed"
assert_eq "$(ckpt_field run-5 state)" deleted "run-5 is deleted, not committed"
assert_eq "$(cat "$MNT/keep.pt")" keep "keep.pt unchanged"
stored() { "$CKPT" stats "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])'; }
reclaimed() { [ "$(stored)" -lt 100000 ]; }
wait_for reclaimed || fail "what removed files held is not reclaimed: stored $(stored)"
"$CKPT" verify "$STORE" >/dev/null || fail "ckpt verify after writes to removed files"
echo "PASS [$TEST_NAME]"
