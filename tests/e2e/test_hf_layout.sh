#!/usr/bin/env bash
# Hugging Face Trainer layout: checkpoint-{step}/ directories (model.safetensors
# written by hand, optimizer.pt, scheduler.pt, rng_state.pth,
# trainer_state.json, in the Trainer's order), save_total_limit=2 rotation by
# shutil.rmtree, and the two resume logics: A = get_last_checkpoint() over a
# listing of checkpoint-*, B = MNT/latest/trainer_state.json. Both resume the
# last complete step; a save SIGKILLed between files is never picked.
source "$(dirname "$0")/../e2e/lib.sh"
$PY -c 'import torch, numpy' 2>/dev/null || skip "$PY lacks torch/numpy"
e2e_init
e2e_mount

HF=$E2E_DIR/hf_trainer.py
MAN=$T/manifest.jsonl
EVALS="100:0.9,200:0.4,300:0.6,400:0.5,500:0.7"

ckpts() { ls -1 "$MNT" | grep -E '^checkpoint-[0-9]+$' | sort -t- -k2 -n | tr '\n' ' '; }
both_resume() { # both_resume STEP
	local got
	got=$($PY "$HF" resume-both "$MNT" "$MAN" 2>"$T/r.err") || fail "resume failed: $(tail -n 3 "$T/r.err") (listing: $(ckpts))"
	[ "${got% *}" = "$1" ] || fail "resume A (get_last_checkpoint) picked step '${got% *}', expected $1 (listing: $(ckpts))"
	[ "${got#* }" = "$1" ] || fail "resume B (latest/trainer_state.json) gave step '${got#* }', expected $1"
}

log "save checkpoint-100..400 with save_total_limit=2"
$PY "$HF" train "$MNT" "$MAN" "$EVALS" 100 200 300 400 2>"$T/train.err" || fail "training run failed: $(tail -n 5 "$T/train.err")"
wait_latest checkpoint-400
[ "$(ckpts)" = "checkpoint-300 checkpoint-400 " ] || fail "after rotation the listing is '$(ckpts)'"
both_resume 400

log "save checkpoint-500, SIGKILLed after optimizer.pt"
$PY "$HF" save "$MNT" 500 "$EVALS" "$MAN" --stall-after optimizer.pt --marker "$T/stalled" 2>"$T/kill.err" &
W=$!
KIDS+=("$W")
wait_until 60 test -e "$T/stalled" || fail "the save never stalled: $(cat "$T/kill.err")"
{ kill -9 "$W"; wait "$W"; } 2>/dev/null
wait_until 15 not_listed checkpoint-500 || fail "killed checkpoint-500 still listed"
sleep 1 # several settle periods: the killed save must not commit later
not_listed checkpoint-500 || fail "killed checkpoint-500 reappeared in the listing"
[ "$(cur_latest)" = checkpoint-400 ] || fail "latest is '$(cur_latest)' after the killed save"
both_resume 400

log "resumed training saves checkpoint-500 again"
$PY "$HF" train "$MNT" "$MAN" "$EVALS" 500 2>"$T/train.err" || fail "second save of checkpoint-500 failed: $(tail -n 5 "$T/train.err")"
wait_latest checkpoint-500
[ "$(ckpts)" = "checkpoint-400 checkpoint-500 " ] || fail "after rotation the listing is '$(ckpts)'"
both_resume 500
# best_eval_loss: 400 (0.5) beats 500 (0.7); 200 (0.4) was rotated away
gs=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["global_step"])' "$MNT/best_eval_loss/trainer_state.json") ||
	fail "cannot read best_eval_loss/trainer_state.json"
[ "$gs" = 400 ] || fail "best_eval_loss is step $gs, expected 400"

e2e_umount
log "PASS"
