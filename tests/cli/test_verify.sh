#!/usr/bin/env bash
# ckpt verify: passes on a clean store; a corrupted chunk file and a missing
# chunk file are each reported with a non-zero exit.
. "$(dirname "$0")/lib.sh"

S=$T/store
mkstore "$S" <<'JSON'
{"checkpoints": [
 {"name": "step-100", "files": [{"path": "m.bin", "size": 1500000, "seed": 1},
   {"path": "small.txt", "text": "hello"}]},
 {"name": "last.ckpt", "kind": "file", "size": 400000, "seed": 2}
]}
JSON

run 0 verify "$S" && grep -qi "ok" <<<"$OUT" && pass "clean store verifies" || fail "verify clean: $OUT"
run 0 verify "$S" --json && jcheck "verify --json clean" "$OUT" "
assert j['ok'] is True and j['problems'] == [], j"
[ -z "$ERR" ] && pass "no progress on stderr when it is not a terminal" || fail "verify wrote to stderr: $ERR"

mapfile -t CHUNKS < <(find "$S/chunks" -type f -size +100k | sort)
[ "${#CHUNKS[@]}" -ge 2 ] || { fail "expected chunk files under $S/chunks, found ${#CHUNKS[@]}"; finish; }

# ---- a corrupted chunk: one byte flipped in the middle
cp -a "$S" "$T/corrupt"
victim=${CHUNKS[0]/#$S/$T/corrupt}
chmod u+w "$victim"
"$PY" - "$victim" <<'PYEOF'
import os, sys
p = sys.argv[1]
n = os.path.getsize(p)
with open(p, 'r+b') as f:
    f.seek(n // 2)
    b = f.read(1)
    f.seek(n // 2)
    f.write(bytes([b[0] ^ 0xff]))
PYEOF
run 1 verify "$T/corrupt" && [ -n "$OUT" ] && pass "corrupted chunk: exit 1 and reported" ||
	fail "corrupted chunk not reported: $OUT"
grep -q "$(basename "$victim" | cut -c1-16)" <<<"$OUT" && pass "the report names the chunk" ||
	echo "note: report does not name the chunk file: $OUT"
run 1 verify "$T/corrupt" --json && jcheck "corrupted chunk --json" "$OUT" "
assert j['ok'] is False and len(j['problems']) >= 1, j"

# ---- a missing chunk
cp -a "$S" "$T/missing"
rm -f "${CHUNKS[1]/#$S/$T/missing}"
run 1 verify "$T/missing" && [ -n "$OUT" ] && pass "missing chunk: exit 1 and reported" ||
	fail "missing chunk not reported: $OUT"

# the clean store is still clean (verify is read-only)
run 0 verify "$S" && pass "original still verifies"

finish
