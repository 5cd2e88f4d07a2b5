#!/usr/bin/env bash
# .ckptfs/checkpoints.tsv and .ckptfs/retention keep one line per
# checkpoint whatever the names hold: backslash, tab, newline, carriage
# return and other control characters in a name or metric name are written
# as \\ \t \n \r and \xHH (the PostgreSQL COPY text convention); decoding a
# field gives back the exact name.
source "$(dirname "$0")/lib.sh"

start_mount "keep_last=0"
cd "$MNT"
# Four checkpoints whose names need escaping, one plain one.
"$PY" - <<'PY'
names = ["tab\there-step=1.pt", "new\nline-step=2.pt", "back\\slash\r-step=3.pt", "bell\x07\x1f-step=4.pt", "plain-step=5.pt"]
for n in names:
    with open(n, "wb") as f:
        f.write(n.encode())
import os
os.setxattr("plain-step=5.pt", "user.ckpt.odd\tmetric", b"0.5")
PY
cd /

check_file() { # check_file FILE: every row has the right field count and decodes to a known name
  "$PY" - "$1" "$2" <<'PY'
import re, sys
path, fields = sys.argv[1], int(sys.argv[2])
want = {"tab\there-step=1.pt", "new\nline-step=2.pt", "back\\slash\r-step=3.pt", "bell\x07\x1f-step=4.pt", "plain-step=5.pt"}
data = open(path, "rb").read().decode()
lines = data.split("\n")
assert lines[-1] == "", "file ends with a newline"
rows = [l.split("\t") for l in lines[:-1]]
if fields == 6:
    assert rows[0][0] == "name", rows[0]
    rows = rows[1:]
esc = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
def unescape(s):
    return re.sub(r"\\(x[0-9a-f]{2}|.)", lambda m: esc.get(m.group(1)) or chr(int(m.group(1)[1:], 16)), s)
got = set()
for r in rows:
    assert len(r) == fields, f"row has {len(r)} fields, not {fields}: {r!r}"
    for f in r:
        assert not re.search(r"[\x00-\x1f\x7f]", f), f"raw control character in {f!r}"
    got.add(unescape(r[0]))
    if fields == 6 and unescape(r[0]) == "plain-step=5.pt":
        assert "odd\\tmetric=0.5" in r[5], f"metric name escaped: {r[5]!r}"
assert got == want, f"decoded names {got!r} != {want!r}"
PY
}
check_file "$MNT/.ckptfs/checkpoints.tsv" 6 || fail "checkpoints.tsv: $(cat -A "$MNT/.ckptfs/checkpoints.tsv")"
check_file "$MNT/.ckptfs/retention" 3 || fail "retention: $(cat -A "$MNT/.ckptfs/retention")"
stop_mount
echo "PASS $TEST_NAME"
