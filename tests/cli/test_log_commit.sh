#!/usr/bin/env bash
# ckpt log (commit / abort / delete events with their rule) and ckpt commit
# (promote an aborted checkpoint, NAME~2 display names, refusals).
. "$(dirname "$0")/lib.sh"

S=$T/store
mkstore "$S" <<'JSON'
{"checkpoints": [
 {"name": "step-100", "files": [{"path": "a.bin", "size": 100, "seed": 1}]},
 {"name": "step-150", "files": [{"path": "a.bin", "size": 100, "seed": 9}], "state": "deleted", "rule": "user"},
 {"name": "step-200", "files": [{"path": "a.bin", "size": 100, "seed": 2}]},
 {"name": "step-300", "files": [{"path": "a.bin", "size": 100, "seed": 3}], "state": "aborted",
  "reason": "writer killed by SIGKILL"},
 {"name": "step-600", "files": [{"path": "a.bin", "size": 111, "seed": 6}], "state": "aborted", "reason": "first"},
 {"name": "step-600", "files": [{"path": "a.bin", "size": 222, "seed": 7}], "state": "aborted", "reason": "second"}
]}
JSON

# ---- log
run 0 log "$S" --json && {
	echo "$OUT" | "$PY" -m json.tool >/dev/null || fail "log --json is not JSON"
	jcheck "log: commits, abort with reason, user deletion" "$OUT" "
ev = [(e['event'], e['name']) for e in j]
for n in ('step-100', 'step-150', 'step-200'):
    assert ('commit', n) in ev, (n, ev)
ab = [e for e in j if e['event'] == 'abort' and e['name'] == 'step-300']
assert ab and 'SIGKILL' in (ab[0]['rule'] or ''), ab
de = [e for e in j if e['event'] == 'delete' and e['name'] == 'step-150']
assert de and de[0]['rule'] == 'user', de
times = [datetime.datetime.fromisoformat(e['time']) for e in j]
assert times == sorted(times), 'log not in time order'"
}
run 0 log "$S" && grep -q "abort *step-300 *writer killed" <<<"$OUT" && grep -q "^TIME *EVENT *NAME *RULE" <<<"$OUT" &&
	pass "log table" || fail "log table: $OUT"

# ---- display names of two aborted checkpoints of one name
run 0 ls "$S" --all --json && jcheck "aborted display names NAME, NAME~2" "$OUT" "
ab = sorted(c['name'] for c in j if c['state'] == 'aborted')
assert ab == ['step-300', 'step-600', 'step-600~2'], ab"
run 0 show "$S" 'step-600~2' --json && jcheck "NAME~2 is the older one" "$OUT" "
assert [f['size'] for f in j['files']] == [111], j['files']
assert j['note'] == 'first', j['note']"

# ---- commit NAME promotes
run 0 commit "$S" step-300 --json && jcheck "commit --json" "$OUT" "
assert j['name'] == 'step-300' and j['state'] == 'committed', j"
run 0 ls "$S" --json && jcheck "promoted one is listed as committed" "$OUT" "
st = {c['name']: c['state'] for c in j}
assert st.get('step-300') == 'committed', st"
run 0 show "$S" latest --json && jcheck "promoted one is the latest (commit order)" "$OUT" "
assert j['name'] == 'step-300', j['name']"
run 0 log "$S" --json && jcheck "log records the promotion" "$OUT" "
last = [e for e in j if e['name'] == 'step-300'][-1]
assert last['event'] in ('commit', 'promote'), last"

run 0 commit "$S" 'step-600~2' && grep -q "committed step-600" <<<"$OUT" || fail "commit step-600~2: $OUT"
run 0 show "$S" step-600 --json && jcheck "NAME~2 promoted is the older one" "$OUT" "
assert j['state'] == 'committed' and [f['size'] for f in j['files']] == [111], j"
run 1 commit "$S" step-600 && pass "promoting over a live name is refused (1)"
run 0 ls "$S" --all --json && jcheck "the refused one is still aborted" "$OUT" "
assert ('step-600', 'aborted') in [(c['name'], c['state']) for c in j]"
run 1 commit "$S" step-100 && pass "commit of a committed checkpoint is refused (1)"

# ---- a commit runs retention, as every commit does
S2=$T/store2
mkstore "$S2" <<'JSON'
{"policy": ["keep_last=1"],
 "checkpoints": [
 {"name": "a", "files": [{"path": "x", "size": 10, "seed": 1}]},
 {"name": "b", "files": [{"path": "x", "size": 10, "seed": 2}], "state": "aborted"}
]}
JSON
run 0 commit "$S2" b && grep -q "retention deleted a" <<<"$OUT" || fail "commit did not run retention: $OUT"
run 0 ls "$S2" --json && jcheck "retention after commit" "$OUT" "
assert [c['name'] for c in j] == ['b'], j"

finish
