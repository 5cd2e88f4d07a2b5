#!/usr/bin/env bash
# ckpt gc: the dry run lists every committed checkpoint with keep/delete and
# the rule; gc then deletes exactly that; pin protects; log records it.
. "$(dirname "$0")/lib.sh"

S=$T/store
mkstore "$S" <<'JSON'
{"policy": ["keep_last=2", "keep_best=1", "metric=val_loss:min"],
 "checkpoints": [
 {"name": "step-100", "files": [{"path": "m.bin", "size": 300000, "seed": 1},
   {"path": "metrics.json", "text": "{\"val_loss\": 0.9}"}]},
 {"name": "step-200", "files": [{"path": "m.bin", "size": 300000, "seed": 2},
   {"path": "metrics.json", "text": "{\"val_loss\": 0.8}"}]},
 {"name": "step-300", "files": [{"path": "m.bin", "size": 300000, "seed": 3},
   {"path": "metrics.json", "text": "{\"val_loss\": 0.1}"}]},
 {"name": "step-400", "files": [{"path": "m.bin", "size": 300000, "seed": 4},
   {"path": "metrics.json", "text": "{\"val_loss\": 0.7}"}]},
 {"name": "step-500", "files": [{"path": "m.bin", "size": 300000, "seed": 5},
   {"path": "metrics.json", "text": "{\"val_loss\": 0.6}"}]},
 {"name": "step-600", "files": [{"path": "m.bin", "size": 300000, "seed": 6},
   {"path": "metrics.json", "text": "{\"val_loss\": 0.5}"}]},
 {"name": "step-700", "files": [{"path": "m.bin", "size": 300000, "seed": 7}],
  "state": "aborted", "reason": "test abort"}
]}
JSON

run 0 pin "$S" step-100 --json && jcheck "pin --json" "$OUT" "
assert j['name'] == 'step-100' and j['pinned'] is True, j"
run 0 ls "$S" --json && jcheck "ls shows the pin" "$OUT" "
assert {c['name']: c['pinned'] for c in j}['step-100'] is True"

run 0 stats "$S" --json && BEFORE=$OUT
# ---- dry run
run 0 gc "$S" --dry-run --json && DRY=$OUT && {
	echo "$DRY" | "$PY" -m json.tool >/dev/null || fail "gc --dry-run --json is not JSON"
	jcheck "dry run: every committed checkpoint, action and rule" "$DRY" "
rows = {(r['name'], r.get('state', 'committed')): r for r in j}
for r in j:
    assert set(r) >= {'name', 'action', 'rule'}, r
    assert r['action'] in ('keep', 'delete'), r
    assert r['rule'], r
committed = [r for r in j if r.get('state', 'committed') == 'committed']
assert [r['name'] for r in committed] == ['step-%d' % s for s in range(100, 700, 100)], committed
act = {r['name']: r['action'] for r in committed}
assert act == {'step-100': 'keep', 'step-200': 'delete', 'step-300': 'keep',
               'step-400': 'delete', 'step-500': 'keep', 'step-600': 'keep'}, act
rule = {r['name']: r['rule'] for r in committed}
assert 'pinned' in rule['step-100'], rule
assert 'latest' in rule['step-600'], rule
assert 'keep_last' in rule['step-500'], rule
assert 'best_val_loss' in rule['step-300'] or 'keep_best' in rule['step-300'], rule
assert rule['step-200'].startswith('policy'), rule
assert rows[('step-700', 'aborted')]['action'] == 'delete', rows"
}
run 0 gc "$S" --dry-run && grep -q "step-200 *delete" <<<"$OUT" && grep -q "step-100 *keep" <<<"$OUT" &&
	pass "dry run table" || fail "dry run table: $OUT"
run 0 ls "$S" --all --json && jcheck "the dry run changed nothing" "$OUT" "
st = {c['name']: c['state'] for c in j}
assert all(st['step-%d' % s] == 'committed' for s in range(100, 700, 100)), st
assert st['step-700'] == 'aborted', st"

# ---- real gc: deletes exactly what the dry run said
run 0 gc "$S" --json && GC=$OUT && {
	echo "$GC" | "$PY" -m json.tool >/dev/null || fail "gc --json is not JSON"
	jcheck "gc deleted what the dry run listed" "$(printf '[%s,%s]' "$DRY" "$GC")" "
dry, gc = j
d1 = sorted((r['name'], r.get('state')) for r in dry if r['action'] == 'delete')
d2 = sorted((r['name'], r.get('state')) for r in gc if r['action'] == 'delete')
assert d1 == d2, (d1, d2)"
}
run 0 ls "$S" --all --json && jcheck "after gc: the store agrees with the dry run" "$(printf '[%s,%s]' "$DRY" "$OUT")" "
dry, ls = j
live = {c['name'] for c in ls if c['state'] in ('committed', 'staging')}
want = {r['name'] for r in dry if r['action'] == 'keep'}
assert live == want, (live, want)
assert not [c for c in ls if c['state'] == 'aborted'], 'aborted ones survived gc'
dele = {c['name'] for c in ls if c['state'] == 'deleted'}
assert {'step-200', 'step-400'} <= dele, dele"
run 0 stats "$S" --json && jcheck "gc reclaimed space" "$(printf '[%s,%s]' "$BEFORE" "$OUT")" "
b, a = j
assert a['checkpoints'] == 4, a
assert a['stored_bytes'] <= b['stored_bytes'] - 3 * 300000, (b['stored_bytes'], a['stored_bytes'])"
run 0 gc "$S" --dry-run --json && jcheck "second dry run: nothing left to delete" "$OUT" "
assert all(r['action'] == 'keep' for r in j), j"

# ---- log: commits, deletions with their rule, gc
run 0 log "$S" --json && {
	echo "$OUT" | "$PY" -m json.tool >/dev/null || fail "log --json is not JSON"
	jcheck "log records commits, policy deletions and gc" "$OUT" "
for e in j:
    assert set(e) >= {'time', 'event', 'name', 'rule'}, e
ev = [(e['event'], e['name']) for e in j]
for s in range(100, 700, 100):
    assert ('commit', 'step-%d' % s) in ev, ('commit', s)
dels = {e['name']: e['rule'] for e in j if e['event'] == 'delete'}
assert dels.get('step-200', '').startswith('policy'), dels
assert dels.get('step-400', '').startswith('policy'), dels
assert any(e['event'] == 'abort' and e['name'] == 'step-700' for e in j), ev
assert any(e['event'] == 'gc' for e in j), ev
datetime.datetime.fromisoformat(j[0]['time'])"
}
run 0 log "$S" && grep -q "delete *step-200 *policy" <<<"$OUT" && pass "log table" || fail "log table: $OUT"

# ---- unpin: the next gc deletes it
run 0 unpin "$S" step-100 && grep -q "unpinned step-100" <<<"$OUT" || fail "unpin text: $OUT"
run 0 gc "$S" --dry-run --json && jcheck "unpinned is no longer kept" "$OUT" "
act = {r['name']: r['action'] for r in j}
assert act['step-100'] == 'delete', act"
run 0 gc "$S" && grep -q "deleted 1 committed" <<<"$OUT" || fail "gc text: $OUT"
freed=$(sed -n 's/.*freed .*(\([0-9]*\) bytes).*/\1/p' <<<"$OUT")
[ -n "$freed" ] && [ "$freed" -ge 300000 ] && pass "gc reports the bytes freed ($freed)" || fail "gc freed: $OUT"
run 0 ls "$S" --json && jcheck "step-100 gone" "$OUT" "
assert 'step-100' not in [c['name'] for c in j]"
run 0 show "$S" step-100 --json && jcheck "show of a deleted one says deleted" "$OUT" "
assert j['state'] == 'deleted', j['state']"

finish
