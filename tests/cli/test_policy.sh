#!/usr/bin/env bash
# ckpt policy: show (defaults), set with both spellings, unspecified options
# kept, metric= lists replace / clear, bad input refused without change, the
# renamed latest / best_ entries resolve in show.
. "$(dirname "$0")/lib.sh"

S=$T/store
mkstore "$S" <<'JSON'
{"checkpoints": [
 {"name": "step-100", "files": [{"path": "a.bin", "size": 100, "seed": 1}], "metrics": {"val_loss": 0.5}},
 {"name": "step-200", "files": [{"path": "a.bin", "size": 100, "seed": 2}], "metrics": {"val_loss": 0.7}}
]}
JSON

run 0 policy "$S" --json && {
	echo "$OUT" | "$PY" -m json.tool >/dev/null || fail "policy --json is not JSON"
	jcheck "policy defaults" "$OUT" "
assert j == {'keep_last': 0, 'keep_best': 0, 'keep_every': 0, 'metric': [], 'compress': 'none',
             'settle_ms': 2000, 'hide_virtual': False, 'latest_name': 'latest', 'best_prefix': 'best_',
             'plain': 'latest_checkpointed_iteration.txt'}, j"
}
run 0 policy "$S" && grep -q "keep_last" <<<"$OUT" && pass "policy text" || fail "policy text: $OUT"

# ---- ckpt policy STORE OPTION=VALUE...
run 0 policy "$S" keep_last=3 metric=val_loss:min metric=acc:max compress=zstd --json &&
	jcheck "policy STORE OPTION=VALUE prints the new policy" "$OUT" "
assert j['keep_last'] == 3 and j['compress'] == 'zstd', j
assert j['metric'] == ['val_loss:min', 'acc:max'], j['metric']"
run 0 policy "$S" --json && jcheck "policy persisted" "$OUT" "
assert j['keep_last'] == 3 and j['compress'] == 'zstd' and j['metric'] == ['val_loss:min', 'acc:max'], j"

# ---- ckpt policy set STORE OPTION...: other options kept
run 0 policy set "$S" keep_best=2 settle_ms=500 && run 0 policy "$S" --json &&
	jcheck "policy set keeps unspecified options" "$OUT" "
assert j['keep_best'] == 2 and j['settle_ms'] == 500, j
assert j['keep_last'] == 3 and j['compress'] == 'zstd', j
assert j['metric'] == ['val_loss:min', 'acc:max'], j['metric']"
# ---- ckpt policy STORE set OPTION... and comma lists (the -o syntax)
run 0 policy "$S" set keep_every=1000,metric=loss:min && run 0 policy "$S" --json &&
	jcheck "policy STORE set, comma list; a metric= list replaces the tracked metrics" "$OUT" "
assert j['keep_every'] == 1000, j
assert j['metric'] == ['loss:min'], j['metric']
assert j['keep_best'] == 2 and j['keep_last'] == 3, j"
# ---- metric= alone clears
run 0 policy "$S" metric= && run 0 policy "$S" --json && jcheck "metric= clears" "$OUT" "
assert j['metric'] == [], j['metric']
assert j['keep_every'] == 1000, j"

# ---- bad input: exit 2, nothing changed
run 0 policy "$S" --json && BEFORE=$OUT
run 2 policy "$S" keep_last=7 keep_best=oops
run 2 policy "$S" keep_last=7 nosuch=1
run 2 policy "$S" set
run 0 policy "$S" --json && [ "$OUT" = "$BEFORE" ] && pass "bad options change nothing" ||
	fail "policy changed by a refused command: $OUT"

# ---- the text `ckpt policy` prints can be given back as options
run 0 policy "$S" metric=loss:min,metric=acc:max && run 0 policy "$S" && TEXT=$OUT &&
	run 0 policy "$S" --json && BEFORE=$OUT
run 0 policy "$S" metric= keep_last=9
# shellcheck disable=SC2046
run 0 policy "$S" $(printf '%s\n' "$TEXT" | tr '\n' ' ') && run 0 policy "$S" --json &&
	[ "$OUT" = "$BEFORE" ] && pass "policy text round-trips as options" || fail "policy text round trip: $TEXT -> $OUT"

# ---- flags and names
run 0 policy "$S" hide_virtual latest_name=newest best_prefix=top_ --json && jcheck "flags and names" "$OUT" "
assert j['hide_virtual'] is True and j['latest_name'] == 'newest' and j['best_prefix'] == 'top_', j"
run 0 show "$S" newest --json && jcheck "show resolves the renamed latest" "$OUT" "
assert j['name'] == 'step-200', j['name']"
run 0 show "$S" top_val_loss --json && jcheck "show resolves the renamed best_ prefix" "$OUT" "
assert j['name'] == 'step-100', j['name']"
run 4 show "$S" latest && pass "the old latest name no longer resolves"
run 0 policy "$S" plain='*.txt:*.log' --json && jcheck "plain globs" "$OUT" "
assert j['plain'] == '*.txt:*.log', j['plain']"

finish
