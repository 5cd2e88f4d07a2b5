#!/usr/bin/env bash
# ckpt ls / ls --all / show / stats: table and JSON shapes of the contract,
# with values checked against what the store was built from.
. "$(dirname "$0")/lib.sh"

S=$T/store
mkstore "$S" <<'JSON'
{"checkpoints": [
 {"name": "step-50", "files": [{"path": "model.pt", "size": 1000, "seed": 9}], "state": "deleted"},
 {"name": "step-100", "files": [
   {"path": "model.pt", "size": 2100000, "seed": 1},
   {"path": "sub/opt.pt", "size": 5000, "seed": 2},
   {"path": "metrics.json", "text": "{\"val_loss\": 0.5, \"accuracy\": 0.8}"}]},
 {"name": "step-200", "files": [
   {"path": "model.pt", "size": 2100000, "seed": 1},
   {"path": "sub/opt.pt", "size": 5000, "seed": 3},
   {"path": "metrics.json", "text": "{\"val_loss\": 0.3}"}],
  "metrics": {"accuracy": 0.7}},
 {"name": "epoch=3-step=300-val_loss=0.25.ckpt", "kind": "file", "size": 70000, "seed": 4},
 {"name": "step-500", "files": [{"path": "model.pt", "size": 100, "seed": 5}],
  "state": "aborted", "reason": "writer killed by SIGKILL"},
 {"name": "tmp-400", "files": [{"path": "model.pt", "size": 100, "seed": 6}], "state": "staging"}
]}
JSON
L100=$((2100000 + 5000 + 34))
L200=$((2100000 + 5000 + 17))

# ---- ls --json
run 0 ls "$S" --json && {
	echo "$OUT" | "$PY" -m json.tool >/dev/null || fail "ls --json is not JSON"
	jcheck "ls --json: names, order, states" "$OUT" "
assert isinstance(j, list)
assert [c['name'] for c in j] == ['step-100', 'step-200', 'epoch=3-step=300-val_loss=0.25.ckpt', 'tmp-400'], [c['name'] for c in j]
assert [c['state'] for c in j] == ['committed', 'committed', 'committed', 'staging']
assert [c['kind'] for c in j] == ['dir', 'dir', 'file', 'dir']"
	jcheck "ls --json: every contract key" "$OUT" "
keys = {'name', 'kind', 'state', 'step', 'epoch', 'committed_at', 'logical_bytes', 'stored_bytes', 'metrics', 'pinned'}
for c in j:
    assert keys <= set(c), (c['name'], keys - set(c))
    assert isinstance(c['metrics'], dict) and isinstance(c['pinned'], bool)
    assert isinstance(c['logical_bytes'], int) and isinstance(c['stored_bytes'], int)"
	jcheck "ls --json: values" "$OUT" "
c = {x['name']: x for x in j}
a, b, f, s = c['step-100'], c['step-200'], c['epoch=3-step=300-val_loss=0.25.ckpt'], c['tmp-400']
assert a['step'] == 100 and a['epoch'] is None, a
assert a['logical_bytes'] == $L100, a['logical_bytes']
assert b['logical_bytes'] == $L200, b['logical_bytes']
assert a['metrics'] == {'val_loss': 0.5, 'accuracy': 0.8}, a['metrics']
assert b['metrics'] == {'val_loss': 0.3, 'accuracy': 0.7}, b['metrics']
assert f['step'] == 300 and f['epoch'] == 3 and f['metrics'] == {'val_loss': 0.25}, f
assert f['logical_bytes'] == 70000
assert a['pinned'] is False
# step-200 shares model.pt with step-100: it stored far less than its size
assert a['stored_bytes'] >= 2000000, a['stored_bytes']
assert b['stored_bytes'] < b['logical_bytes'] - 2000000, b['stored_bytes']
now = datetime.datetime.now(datetime.timezone.utc)
for x in (a, b, f):
    t = datetime.datetime.fromisoformat(x['committed_at'])
    assert t.tzinfo is not None, x['committed_at']
    assert abs((now - t).total_seconds()) < 3600, x['committed_at']
assert s['committed_at'] is None"
}

# --json anywhere after the command gives the same output
run 0 ls --json "$S" && J1=$OUT && run 0 ls "$S" --json && [ "$J1" = "$OUT" ] &&
	pass "--json before STORE" || fail "--json before STORE differs"

# ---- ls --all --json: aborted and deleted too
run 0 ls "$S" --all --json && jcheck "ls --all --json" "$OUT" "
c = {(x['name'], x['state']) for x in j}
assert ('step-500', 'aborted') in c, c
assert ('step-50', 'deleted') in c, c
assert ('tmp-400', 'staging') in c and ('step-100', 'committed') in c, c
assert len(j) == 6, len(j)"
run 0 ls "$S" --all --json && jcheck "ls --all: logical_bytes of aborted and staging ones (sum of their files)" "$OUT" "
c = {x['name']: x for x in j}
assert c['step-500']['logical_bytes'] == 100, c['step-500']
assert c['tmp-400']['logical_bytes'] == 100, c['tmp-400']"

# ---- ls table: header, one aligned row per checkpoint
run 0 ls "$S" && {
	printf '%s\n' "$OUT" >"$T/ls.txt"
	"$PY" - "$T/ls.txt" <<'PYEOF' 2>"$T/.pyerr" && pass "ls table" || fail "ls table: $(tail -n 3 "$T/.pyerr")"
import re, sys
lines = open(sys.argv[1]).read().splitlines()
hdr = lines[0].split()
assert hdr == ['NAME', 'STEP', 'EPOCH', 'COMMITTED', 'LOGICAL', 'STORED', 'UNIQUE', 'METRICS', 'STATE'], hdr
rows = lines[1:]
assert [r.split()[0] for r in rows] == ['step-100', 'step-200', 'epoch=3-step=300-val_loss=0.25.ckpt', 'tmp-400'], rows
st = lines[0].index('STATE')
for r in rows:
    assert re.match(r'(staging|committed)', r[st:]), (r, st)
r100 = rows[0]
assert re.search(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d', r100), r100
assert '2.0 MiB' in r100, r100
assert 'val_loss=0.5' in r100 and 'accuracy=0.8' in r100, r100
assert 'latest' in rows[2], rows[2]
PYEOF
}
run 0 ls "$S" --all && grep -q "step-500.*aborted" <<<"$OUT" && grep -q "step-50 .*deleted" <<<"$OUT" &&
	pass "ls --all table" || fail "ls --all table: $OUT"

# ---- show
run 0 show "$S" step-100 --json && {
	echo "$OUT" | "$PY" -m json.tool >/dev/null || fail "show --json is not JSON"
	jcheck "show --json step-100" "$OUT" "
assert j['name'] == 'step-100' and j['state'] == 'committed' and j['kind'] == 'dir'
for k in ('step', 'epoch', 'committed_at', 'logical_bytes', 'stored_bytes', 'metrics', 'pinned', 'files', 'metric_sources', 'note'):
    assert k in j, k
files = {f['path']: f['size'] for f in j['files']}
assert files.get('model.pt') == 2100000, files
assert files.get('sub/opt.pt') == 5000, files
assert files.get('metrics.json') == 34, files
assert j['metric_sources'] == {'val_loss': 'metrics.json', 'accuracy': 'metrics.json'}, j['metric_sources']"
}
run 0 show "$S" step-200 --json && jcheck "show: xattr metric source overrides" "$OUT" "
assert j['metric_sources'] == {'val_loss': 'metrics.json', 'accuracy': 'xattr'}, j['metric_sources']
assert j['metrics']['accuracy'] == 0.7"
run 0 show "$S" latest --json && jcheck "show latest" "$OUT" "
assert j['name'] == 'epoch=3-step=300-val_loss=0.25.ckpt' and j['kind'] == 'file', j['name']
assert [f['size'] for f in j['files']] == [70000], j['files']
assert j['metric_sources'] == {'val_loss': 'name'}, j['metric_sources']"
run 0 show "$S" best_val_loss --json && jcheck "show best_val_loss (min)" "$OUT" "
assert j['name'] == 'epoch=3-step=300-val_loss=0.25.ckpt', j['name']"
run 0 show "$S" best_accuracy --json && jcheck "show best_accuracy (max)" "$OUT" "
assert j['name'] == 'step-100', j['name']"
run 0 show "$S" step-500 --json && jcheck "show aborted, with its reason" "$OUT" "
assert j['state'] == 'aborted', j['state']
assert 'SIGKILL' in (j['note'] or ''), j['note']"
run 0 show "$S" step-50 --json && jcheck "show deleted" "$OUT" "
assert j['state'] == 'deleted', j['state']"
run 0 show "$S" tmp-400 --json && jcheck "show staging" "$OUT" "
assert j['state'] == 'staging' and j['committed_at'] is None"
run 0 show "$S" step-100 && grep -q "^name: *step-100" <<<"$OUT" && grep -q "val_loss=0.5 (metrics.json)" <<<"$OUT" &&
	grep -q "2100000  *model.pt" <<<"$OUT" && pass "show table" || fail "show text: $OUT"

# ---- stats
run 0 stats "$S" --json && {
	echo "$OUT" | "$PY" -m json.tool >/dev/null || fail "stats --json is not JSON"
	jcheck "stats --json" "$OUT" "
for k in ('checkpoints', 'logical_bytes', 'stored_bytes', 'chunks', 'dedup_ratio', 'compression_ratio'):
    assert k in j, k
assert j['checkpoints'] == 3, j['checkpoints']
assert j['logical_bytes'] == $L100 + $L200 + 70000, j['logical_bytes']
assert j['chunks'] >= 5, j['chunks']
assert j['dedup_ratio'] > 1.5, j['dedup_ratio']        # model.pt stored once
assert 0.9 < j['compression_ratio'] < 1.2, j['compression_ratio']  # compress=none, random data
assert j['stored_bytes'] < j['logical_bytes'], j"
}
run 0 stats "$S" && grep -q "dedup" <<<"$OUT" && pass "stats text" || fail "stats text: $OUT"

# ---- help
run 0 --help && for c in ls show policy gc verify stats export pin unpin log commit; do
	grep -q "ckpt $c" <<<"$OUT" || fail "ckpt --help lacks $c"
done
for c in ls show policy gc verify stats export pin unpin log commit; do
	run 0 "$c" --help && grep -q "usage: ckpt $c" <<<"$OUT" || fail "ckpt $c --help: $OUT"
done
pass "help"

# ---- malformed metadata: committed anyway, the reason shown by show
S2=$T/store2
mkstore "$S2" <<'JSON'
{"checkpoints": [
 {"name": "step-700", "files": [{"path": "metrics.json", "text": "{not json"}, {"path": "m.bin", "size": 10, "seed": 1}]}
]}
JSON
run 0 show "$S2" step-700 --json && jcheck "malformed metrics.json: committed, note in show" "$OUT" "
assert j['state'] == 'committed' and j['step'] == 700, j
assert j['note'] and 'metrics.json' in j['note'], j['note']"
run 0 show "$S2" step-700 && grep -q "^note: .*metrics.json" <<<"$OUT" && pass "show text has the note" ||
	fail "show text note: $OUT"

# Read-only commands changed nothing (no recovery ran: staging stays staging).
run 0 show "$S" tmp-400 --json && jcheck "read commands leave staging alone" "$OUT" "
assert j['state'] == 'staging'"

finish
