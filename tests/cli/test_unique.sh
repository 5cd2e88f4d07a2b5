#!/usr/bin/env bash
# What deleting frees (issue #17): `ckpt ls` UNIQUE / unique_bytes (stored
# bytes only that checkpoint holds), the total of `ckpt gc --dry-run` and
# `ckpt stats` reclaimable_bytes equal the bytes the real gc then frees
# (stored_bytes before - after), with chunks shared between checkpoints
# and an aborted one.
. "$(dirname "$0")/lib.sh"

S=$T/store
mkstore "$S" <<'JSON'
{"checkpoints": [
 {"name": "step-1", "files": [{"path": "m.bin", "size": 3145728, "seed": 1}]},
 {"name": "step-2", "files": [{"path": "m.bin", "size": 5242880, "seed": 1},
   {"path": "o.bin", "size": 1000000, "seed": 2}]},
 {"name": "step-3", "files": [{"path": "m.bin", "size": 1048576, "seed": 3}]},
 {"name": "step-4", "files": [{"path": "m.bin", "size": 2000000, "seed": 4}],
  "state": "aborted", "reason": "test abort"}
]}
JSON

stored() { "$CKPT" stats "$S" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])'; }
uniq_of() { "$CKPT" ls "$S" --all --json | "$PY" -c 'import json,sys
print([r["unique_bytes"] for r in json.load(sys.stdin) if r["name"] == sys.argv[1]][0])' "$1"; }
dry_total() { "$CKPT" gc "$S" --dry-run | sed -n 's/^dry run: gc would free .*(\([0-9]*\) bytes)$/\1/p'; }
freed_of() { sed -n 's/.*freed .*(\([0-9]*\) bytes)$/\1/p' <<<"$1"; }

run 0 ls "$S" && { grep -q "UNIQUE" <<<"$OUT" && pass "ls has a UNIQUE column" || fail "ls has no UNIQUE column: $OUT"; }
u1=$(uniq_of step-1); u2=$(uniq_of step-2); u3=$(uniq_of step-3)
# step-1's 3 MiB are the first 3 of step-2's m.bin: it holds nothing alone
[ "$u1" = 0 ] && pass "a checkpoint whose chunks another holds: unique 0" || fail "step-1 unique $u1, want 0"
[ "$u2" -gt 3000000 ] && [ "$u2" -lt 4000000 ] && pass "step-2 unique = its 2 MiB + o.bin" || fail "step-2 unique $u2"
[ "$u3" -gt 1000000 ] && pass "step-3 unique = all of it" || fail "step-3 unique $u3"

# 1) gc with no policy: removes the aborted step-4 only
d=$(dry_total); s0=$(stored)
run 0 gc "$S" && f=$(freed_of "$OUT")
s1=$(stored)
[ -n "$d" ] && [ "$d" = "$((s0 - s1))" ] && [ "$d" = "$f" ] && [ "$d" -ge 2000000 ] \
  && pass "dry run total == bytes freed ($d), aborted checkpoint" || fail "dry run $d, freed $f, stored $s0 -> $s1"

# 2) keep_last=2 deletes step-1: frees its unique bytes, i.e. nothing
run 0 policy "$S" keep_last=2 || true
d=$(dry_total); s0=$(stored)
run 0 gc "$S"
s1=$(stored)
[ "$d" = "$u1" ] && [ "$((s0 - s1))" = "$u1" ] && pass "deleting step-1 frees its UNIQUE ($u1)" || fail "step-1: unique $u1, dry $d, freed $((s0 - s1))"

# 3) keep_last=1 deletes step-2: now it holds all its chunks alone
u2=$(uniq_of step-2)
r=$("$CKPT" stats "$S" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["gc_would_free_bytes"])')
run 0 policy "$S" keep_last=1 || true
d=$(dry_total); s0=$(stored)
run 0 gc "$S"
s1=$(stored)
[ "$r" = 0 ] && pass "stats gc_would_free_bytes 0 before the policy" || fail "gc_would_free_bytes $r"
[ "$d" = "$u2" ] && [ "$((s0 - s1))" = "$u2" ] && [ "$u2" -gt 5000000 ] \
  && pass "deleting step-2 frees its UNIQUE ($u2)" || fail "step-2: unique $u2, dry $d, freed $((s0 - s1))"
run 0 stats "$S" --json && jcheck "stats: reclaimable 0, trashed 0 after gc" "$OUT" "
assert j['reclaimable_bytes'] == 0 and j['trashed'] == 0, j"
run 0 verify "$S"
finish
