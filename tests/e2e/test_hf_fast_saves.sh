#!/usr/bin/env bash
# Hugging Face Trainer saving checkpoint-100..600 back to back (no training
# time between saves, save_total_limit=2 rotation right after each save).
# After everything settled, latest must be checkpoint-600 (the last one
# completed, and the last one to go quiet), so both resume logics agree.
# Ready checkpoints commit in the order they went quiet (fs/track.c).
source "$(dirname "$0")/../e2e/lib.sh"
$PY -c 'import torch, numpy' 2>/dev/null || skip "$PY lacks torch/numpy"
e2e_init
e2e_mount
HF=$E2E_DIR/hf_trainer.py
MAN=$T/manifest.jsonl
for round in 1 2 3; do
	HF_TRAIN_PAUSE=0 $PY "$HF" train "$MNT" "$MAN" "100:0.9,200:0.4,300:0.6,400:0.5,500:0.7,600:0.3" \
		100 200 300 400 500 600 2>"$T/train.err" || fail "training failed: $(tail -n 3 "$T/train.err")"
	wait_until 10 latest_is checkpoint-600 || true
	got=$($PY "$HF" resume-both "$MNT" "$MAN" 2>"$T/r.err") || fail "resume failed: $(tail -n 3 "$T/r.err")"
	[ "$got" = "600 600" ] || { have_ckpt && "$CKPT" log "$STORE" | grep commit | tail -n 3 >&2; fail "round $round: resume A/B gave '$got', latest is '$(cur_latest)'"; }
	rm -rf "$MNT"/checkpoint-* || fail "cleanup rm failed"
	: >"$MAN"
done
e2e_umount
log "PASS"
