#!/usr/bin/env bash
# kill -9 the writer of a directory checkpoint at random points, 20 times.
# The writer writes several files of random size and records their sha256 in a
# manifest outside the mount only once the checkpoint is complete. After every
# kill, and at the end, `latest` is a complete earlier checkpoint (every file
# equal to the manifest of that checkpoint); every listed checkpoint is
# complete; every writer that exited normally got its checkpoint committed.
# (A writer killed after its mkdir but before opening a file leaves an empty
# directory nobody wrote into; the contract lets that commit, so an empty
# directory is accepted.)
source "$(dirname "$0")/../e2e/lib.sh"
FAULTS=$(cd "$(dirname "$0")" && pwd)
CF=$FAULTS/ckfault.py
e2e_init
e2e_mount

MAN=$T/manifest.jsonl
DONE=$T/exited-ok # names whose writer exited 0: must be committed
: >"$DONE"
ITER=${CKPT_KILL_ITERATIONS:-20}
SEED=${CKPT_SEED:-$RANDOM}
log "seed $SEED, $ITER iterations"
RANDOM=$SEED

# one complete checkpoint first, so latest always exists
$PY "$CF" write "$MNT" ck-base "$MAN" 1 || fail "first checkpoint failed"
echo ck-base >>"$DONE"
wait_latest ck-base

killed=0
for i in $(seq 1 "$ITER"); do
	CKFAULT_CHUNK_SLEEP=${CKFAULT_CHUNK_SLEEP:-0.004} $PY "$CF" write "$MNT" "ck-$i" "$MAN" $((SEED + i)) 2>"$T/w.err" &
	W=$!
	KIDS+=("$W")
	sleep "0.$(printf '%03d' $((RANDOM % 600)))"
	{ kill -9 "$W"; wait "$W"; } 2>/dev/null
	st=$?
	echo "ck-$i exit $st" >>"$T/exits"
	if [ $st -eq 0 ]; then
		echo "ck-$i" >>"$DONE"
	elif [ $st -eq 137 ]; then
		killed=$((killed + 1))
	else
		fail "writer ck-$i failed on its own (status $st): $(tail -n 3 "$T/w.err")"
	fi
	got=$($PY "$CF" check-latest "$MNT" "$MAN" --allow-empty 2>&1) || fail "iteration $i: $got"
done
log "$killed of $ITER writers were killed mid-checkpoint"

# let every abort land and every finished checkpoint settle
sleep $((SETTLE_MS * 3 / 1000 + 2))
got=$($PY "$CF" check-latest "$MNT" "$MAN" --allow-empty 2>&1) || fail "at the end: $got"
last_ok=$(tail -n 1 "$DONE")
if [ "$got" = "(empty)" ]; then # a writer killed right after its mkdir, later than $last_ok
	got=$(cur_latest)
	[ "${got#ck-}" -gt "${last_ok#ck-}" ] 2>/dev/null || fail "latest is the empty $got, older than the last complete $last_ok"
else
	[ "$got" = "$last_ok" ] || fail "latest is $got, but the last writer that completed was $last_ok"
fi
out=$($PY "$CF" check-listed "$MNT" "$MAN" --committed "$DONE" --allow-empty 2>&1) || {
	for n in $(echo "$out" | grep -o 'ck-[0-9]*' | sort -u); do
		echo "$n: writer $(grep "^$n " "$T/exits"); files: $(cd "$MNT/$n" 2>/dev/null && find . -type f -printf '%p=%s ' | sort)" >&2
		have_ckpt && "$CKPT" show "$STORE" "$n" >&2
	done
	fail "$out"
}
if have_ckpt; then
	"$CKPT" verify "$STORE" >"$T/verify.out" 2>&1 || fail "ckpt verify failed: $(tail -n 5 "$T/verify.out")"
fi
e2e_umount
log "PASS ($killed killed)"
