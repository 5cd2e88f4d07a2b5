#!/usr/bin/env bash
# kill -9 the daemon at random points while checkpoints are written and
# committed (directories, single files, Orbax tmp-dir + rename, rotation by
# rm -rf of the oldest), 20 times; `fusermount3 -uz` the dead mount and remount the same
# store. Each time: `ckpt verify STORE` passes, every checkpoint known to be
# committed before (it appeared in the listing after settle and read back) is
# still listed and byte-identical, everything listed is a complete checkpoint
# that was written (or one whose rm -rf was cut short), and latest is complete.
source "$(dirname "$0")/../e2e/lib.sh"
FAULTS=$(cd "$(dirname "$0")" && pwd)
CF=$FAULTS/ckfault.py
e2e_init

MAN=$T/manifest.jsonl
COMMITTED=$T/committed
: >"$COMMITTED"
ITER=${CKPT_KILL_ITERATIONS:-20}
SEED=${CKPT_SEED:-$RANDOM}
log "seed $SEED, $ITER iterations"
RANDOM=$SEED

check_store() { # check_store WHEN
	local out
	if have_ckpt; then
		"$CKPT" verify "$STORE" >"$T/verify.out" 2>&1 || fail "$1: ckpt verify failed: $(tail -n 5 "$T/verify.out")"
	fi
	out=$($PY "$CF" check-listed "$MNT" "$MAN" --committed "$COMMITTED" --allow-empty 2>&1) || fail "$1: $out"
	if [ -s "$COMMITTED" ]; then
		out=$($PY "$CF" check-latest "$MNT" "$MAN" --allow-empty 2>&1) || fail "$1: $out"
	fi
}

for i in $(seq 1 "$ITER"); do
	e2e_mount
	check_store "after remount $i"
	# one checkpoint we know is committed: it shows as latest, then reads back
	$PY "$CF" write "$MNT" "sure-$i" "$MAN" $((SEED * 100 + i)) || fail "writing sure-$i failed"
	wait_latest "sure-$i"
	echo "sure-$i" >>"$COMMITTED"
	out=$($PY "$CF" check-listed "$MNT" "$MAN" --committed "$COMMITTED" --allow-empty 2>&1) || fail "before crash $i: $out"

	# writes and commits in flight, then the daemon dies
	$PY "$CF" loop "$MNT" "w$i" "$MAN" $((SEED * 1000 + i)) 2>"$T/loop.err" &
	W=$!
	KIDS+=("$W")
	sleep "0.$(printf '%03d' $((100 + RANDOM % 700)))"
	e2e_kill_daemon
	# the writer fails on its next request (ENOTCONN) and exits; let it finish
	# recording what it completed before the crash
	for _ in $(seq 40); do kill -0 "$W" 2>/dev/null || break; sleep 0.05; done
	{ kill -9 "$W"; wait "$W"; } 2>/dev/null
	e2e_crash
done
e2e_mount
check_store "final remount"
e2e_umount
if have_ckpt; then
	"$CKPT" verify "$STORE" >"$T/verify.out" 2>&1 || fail "ckpt verify after clean unmount failed: $(tail -n 5 "$T/verify.out")"
fi
log "PASS ($(wc -l <"$COMMITTED") confirmed commits, $(wc -l <"$MAN") completed saves)"
