#!/usr/bin/env bash
# 4 writer processes save different checkpoints at once (single files and
# directories, val_loss in the name or metrics.json) while readers read
# latest and best_val_loss whole, for CKPT_SOAK_SECONDS (default 10). No torn
# read (every read is exactly a checkpoint that was written), no lost commit
# (every completed save is listed and byte-identical), best_val_loss is the
# lowest val_loss, `ckpt verify` passes.
source "$(dirname "$0")/../e2e/lib.sh"
FAULTS=$(cd "$(dirname "$0")" && pwd)
CF=$FAULTS/ckfault.py
e2e_init
e2e_mount

SECS=${CKPT_SOAK_SECONDS:-10}
MAN=$T/completed.jsonl
PRE=$T/written.jsonl
: >"$MAN"
: >"$PRE"
SEED=${CKPT_SEED:-$RANDOM}
log "seed $SEED, soak ${SECS}s"

WRITERS=()
for k in 1 2 3 4; do
	$PY "$CF" soak "$MNT" "w$k" "$MAN" "$PRE" $((SEED * 10 + k)) "$T/stop" 2>"$T/w$k.err" &
	WRITERS+=($!)
	KIDS+=($!)
done
wait_until 30 test -e "$MNT/best_val_loss" || fail "no best_val_loss appeared: $(tail -n 3 "$T/w1.err")"
wait_until 30 test -e "$MNT/latest" || fail "no latest appeared"
READERS=()
for v in latest best_val_loss latest; do
	$PY "$CF" read-soak "$MNT" "$v" "$PRE" "$T/stop" "$T/r${#READERS[@]}.out" 2>"$T/r${#READERS[@]}.err" &
	READERS+=($!)
	KIDS+=($!)
done
sleep "$SECS"
touch "$T/stop"
for k in 0 1 2 3; do
	wait "${WRITERS[$k]}" || fail "writer $((k + 1)) failed: $(tail -n 5 "$T/w$((k + 1)).err")"
done
for k in 0 1 2; do
	wait "${READERS[$k]}" || fail "reader $k: $(cat "$T/r$k.out" 2>/dev/null) $(tail -n 5 "$T/r$k.err")"
	log "reader $k: $(cat "$T/r$k.out")"
done
log "$(wc -l <"$MAN") saves completed"

sleep $((SETTLE_MS * 3 / 1000 + 1)) # let the last directories settle
out=$($PY "$CF" check-listed "$MNT" "$MAN" --require-all 2>&1) || fail "$out"
out=$($PY "$CF" check-latest "$MNT" "$MAN" 2>&1) || fail "$out"
out=$($PY "$CF" check-best "$MNT" "$MAN" 2>&1) || fail "$out"
if have_ckpt; then
	"$CKPT" verify "$STORE" >"$T/verify.out" 2>&1 || fail "ckpt verify failed: $(tail -n 5 "$T/verify.out")"
fi
e2e_umount
if have_ckpt; then
	"$CKPT" verify "$STORE" >"$T/verify.out" 2>&1 || fail "ckpt verify after unmount failed: $(tail -n 5 "$T/verify.out")"
fi
log "PASS"
