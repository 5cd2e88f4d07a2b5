#!/usr/bin/env bash
# ckpt beside a live mount: read commands open read-only (no lock), changing
# commands fall back to index-only changes (STORE_SHARED), gc leaves
# reclamation to the mount, export of latest matches what was written.
. "$(dirname "$0")/lib.sh"

if [ -z "${CKPTFS:-}" ] || [ ! -x "$CKPTFS" ]; then echo "skip: CKPTFS not built"; exit 77; fi
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then echo "skip: no FUSE here"; exit 77; fi

S=$T/store
M=$T/mnt
mkdir -p "$M"
PID=
unmount() {
	if [ -n "$PID" ]; then
		fusermount3 -u "$M" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$PID" 2>/dev/null; then
			kill "$PID" 2>/dev/null
			sleep 0.2
			fusermount3 -u -z "$M" 2>/dev/null
		fi
		wait "$PID" 2>/dev/null
		PID=
	fi
}
trap 'unmount; cleanup_tmp' EXIT
trap 'exit 1' INT TERM HUP

"$CKPTFS" "$S" "$M" -f -o settle_ms=200 >"$T/ckptfs.log" 2>&1 &
PID=$!
for _ in $(seq 100); do mountpoint -q "$M" && break; kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
if ! mountpoint -q "$M"; then
	fail "ckptfs did not mount: $(tail -n 5 "$T/ckptfs.log")"
	finish
fi

DESC='{"checkpoints": [
 {"name": "step-100", "files": [
   {"path": "model.pt", "size": 1500000, "seed": 1, "mode": 420},
   {"path": "sub/opt.bin", "size": 30000, "seed": 2, "mode": 384},
   {"path": "metrics.json", "text": "{\"val_loss\": 0.4}"},
   {"path": "link", "symlink": "sub/opt.bin"}]},
 {"name": "step-200", "files": [
   {"path": "model.pt", "size": 1500000, "seed": 1},
   {"path": "metrics.json", "text": "{\"val_loss\": 0.3}"}]}
]}'
mkplain "$T/src" <<<"$DESC"

# wait_committed NAME: polls ckpt ls beside the mount (at most 5 s)
wait_committed() {
	for _ in $(seq 50); do
		"$CKPT" ls "$S" --json 2>/dev/null | "$PY" -c "import json, sys
sys.exit(0 if any(c['name'] == '$1' and c['state'] == 'committed' for c in json.load(sys.stdin)) else 1)" && return 0
		sleep 0.1
	done
	return 1
}

# Written under a temporary name and renamed: the rename commits, so a busy
# machine cannot commit a half-copied directory after settle_ms.
cp -r "$T/src/step-100" "$M/tmp-step-100" && mv "$M/tmp-step-100" "$M/step-100" || fail "cp -r + mv into the mount"
wait_committed step-100 && pass "ckpt ls beside the mount sees the commit" || fail "step-100 not committed within 5 s"
cp -r "$T/src/step-200" "$M/tmp-step-200" && mv "$M/tmp-step-200" "$M/step-200" || fail "cp -r + mv step-200"
wait_committed step-200 || fail "step-200 not committed within 5 s"

run 0 show "$S" latest --json && jcheck "show latest beside the mount" "$OUT" "
assert j['name'] == 'step-200' and j['metrics'] == {'val_loss': 0.3}, j"
run 0 stats "$S" --json && jcheck "stats beside the mount (dedup of model.pt)" "$OUT" "
assert j['checkpoints'] == 2 and j['dedup_ratio'] > 1.5, j"
run 0 verify "$S" && pass "verify beside the mount"

# export through the CLI equals what was written and what the mount serves
run 0 export "$S" best_val_loss "$T/exp" && {
	diff -r "$T/src/step-200" "$T/exp" >/dev/null && pass "export beside the mount equals the source" ||
		fail "export differs from the source"
}
run 0 export "$S" step-100 "$T/exp100" && cp -r "$M/step-100" "$T/viamount" &&
	diff -r "$T/exp100" "$T/viamount" >/dev/null && [ "$(readlink "$T/exp100/link")" = sub/opt.bin ] &&
	pass "export equals a copy through the mount" || fail "export vs mount copy differ"

# an aborted checkpoint (its writer was killed) promoted by ckpt commit beside the mount
mkdir "$M/step-300" || fail "mkdir step-300"
{
	"$PY" -c "import os
f = open('$M/step-300/w.bin', 'wb')
f.write(b'x' * 100000)
f.flush()
os.kill(os.getpid(), 9)" &
	wait $!
} 2>/dev/null # killed by SIGKILL, as intended: no "Killed" noise
aborted=
for _ in $(seq 30); do
	"$CKPT" ls "$S" --all --json 2>/dev/null | "$PY" -c "import json, sys
sys.exit(0 if ('step-300', 'aborted') in [(c['name'], c['state']) for c in json.load(sys.stdin)] else 1)" && aborted=1 && break
	sleep 0.1
done
if [ -n "$aborted" ]; then
	pass "killed writer: ckpt ls --all shows the aborted checkpoint"
	[ ! -e "$M/step-300" ] || fail "aborted step-300 still listed in the mount"
	run 0 commit "$S" step-300 && grep -q "committed step-300" <<<"$OUT" || fail "commit beside the mount: $OUT"
	run 0 show "$S" latest --json && jcheck "promoted one is latest" "$OUT" "
assert j['name'] == 'step-300' and j['state'] == 'committed', j"
	for _ in $(seq 20); do [ -e "$M/step-300/w.bin" ] && break; sleep 0.1; done
	[ "$(stat -c %s "$M/step-300/w.bin" 2>/dev/null)" = 100000 ] && pass "the mount serves the promoted checkpoint" ||
		fail "the mount does not show the promoted step-300"
	[ "$(stat -c %s "$M/latest/w.bin" 2>/dev/null)" = 100000 ] && pass "latest in the mount is the promoted one" ||
		fail "MNT/latest is not the promoted step-300"
else
	fail "the killed writer's checkpoint was not aborted within 3 s"
fi

# changing commands beside the mount
run 0 pin "$S" step-100 && run 0 ls "$S" --json && jcheck "pin beside the mount" "$OUT" "
assert {c['name']: c['pinned'] for c in j}['step-100'] is True"
run 0 policy "$S" keep_last=1 --json && jcheck "policy set beside the mount" "$OUT" "
assert j['keep_last'] == 1, j"
run 0 unpin "$S" step-100
run 0 gc "$S" --dry-run --json && DRY=$OUT
run 0 gc "$S" && grep -qi "left to the mount" <<<"$OUT" && pass "gc says reclamation was left to the mount" ||
	fail "gc output beside the mount: $OUT"
run 0 ls "$S" --json && jcheck "gc beside the mount deleted what the dry run said" "$(printf '[%s,%s]' "$DRY" "$OUT")" "
dry, ls = j
assert sorted(c['name'] for c in ls) == sorted(r['name'] for r in dry if r['action'] == 'keep'), (dry, ls)
assert [c['name'] for c in ls] == ['step-300'], ls"
for _ in $(seq 20); do [ -e "$M/step-100" ] || break; sleep 0.1; done
[ ! -e "$M/step-100" ] && pass "the mount no longer shows the deleted checkpoint" || fail "step-100 still in the mount"

unmount
run 0 verify "$S" && pass "verify after unmount"
run 0 ls "$S" --json && jcheck "after unmount" "$OUT" "
assert [c['name'] for c in j] == ['step-300'], j"

finish
