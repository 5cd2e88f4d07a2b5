#!/usr/bin/env bash
# A real torch training run checkpoints into the mount every epoch
# (Lightning-style names carrying val_loss), is SIGKILLed in the middle of a
# save, and resumes from MNT/latest with torch.load. The resumed run's final
# weights equal an uninterrupted run's exactly; the half-written checkpoint is
# never latest or best_*; best_val_loss is the epoch with the lowest loss.
source "$(dirname "$0")/../e2e/lib.sh"
$PY -c 'import torch, numpy' 2>/dev/null || skip "$PY lacks torch/numpy"
e2e_init
e2e_mount

TR=$E2E_DIR/torch_resume.py
EPOCHS=8
STALL=4 # epoch whose save is killed half way
name_of() { $PY -c "import sys; sys.path.insert(0, '$E2E_DIR'); import torch_resume as t; print(t.name_for($1))"; }
best_of() { # best_of LAST_EPOCH: name of the lowest val_loss among epochs 0..LAST
	$PY -c "import sys; sys.path.insert(0, '$E2E_DIR'); import torch_resume as t
e = min(range($1 + 1), key=lambda i: (t.VAL_LOSS[i], i)); print(t.name_for(e))"
}

log "reference run (outside the mount)"
mkdir "$T/ref"
$PY "$TR" train --dir "$T/ref" --epochs $EPOCHS --final "$T/final_ref.pt" || fail "reference run failed"

log "run in the mount, killed while saving epoch $STALL"
$PY "$TR" train --dir "$MNT" --epochs $EPOCHS --final "$T/unused.pt" \
	--stall-at $STALL --marker "$T/stalled" 2>"$T/run1.err" &
RUN=$!
KIDS+=("$RUN")
wait_until 60 test -e "$T/stalled" || fail "the run never reached the stalled save: $(cat "$T/run1.err")"
{ kill -9 "$RUN"; wait "$RUN"; } 2>/dev/null

PREV=$(name_of $((STALL - 1)))
PARTIAL=$(name_of $STALL)
# The killed writer's checkpoint is aborted: it leaves the listing.
wait_until 15 not_listed "$PARTIAL" || fail "half-written $PARTIAL still listed after its writer was killed"
[ "$(cur_latest)" = "$PREV" ] || fail "latest is '$(cur_latest)' after the kill, expected $PREV"
for e in $(seq 0 $((STALL - 1))); do
	n=$(name_of "$e")
	listed "$n" || fail "committed $n missing from the listing"
done
BEST=$(best_of $((STALL - 1)))
cmp -s "$MNT/best_val_loss" "$MNT/$BEST" || fail "best_val_loss is not $BEST after the kill"
cmp -s "$MNT/latest" "$MNT/$PREV" || fail "MNT/latest does not read as $PREV"

log "resume from MNT/latest"
$PY "$TR" train --dir "$MNT" --epochs $EPOCHS --final "$T/final_resumed.pt" \
	--resume "$MNT/latest" 2>"$T/run2.err" || fail "resumed run failed: $(cat "$T/run2.err")"
grep -q "resumed from epoch $((STALL - 1))" "$T/run2.err" || fail "did not resume from epoch $((STALL - 1)): $(cat "$T/run2.err")"

LAST=$(name_of $((EPOCHS - 1)))
wait_latest "$LAST"
BEST=$(best_of $((EPOCHS - 1)))
cmp -s "$MNT/best_val_loss" "$MNT/$BEST" || fail "best_val_loss is not $BEST at the end"

$PY - "$T/final_ref.pt" "$T/final_resumed.pt" "$MNT" "$T/ref" $EPOCHS <<'EOF' || fail "weights differ"
import os, sys, torch
ref = torch.load(sys.argv[1]); res = torch.load(sys.argv[2])
assert ref.keys() == res.keys(), "state_dict keys differ"
for k in ref:
    assert torch.equal(ref[k], res[k]), "tensor %s differs between the uninterrupted and the resumed run" % k
# every epoch checkpoint in the mount holds the same tensors as the reference run's
mnt, refdir, epochs = sys.argv[3], sys.argv[4], int(sys.argv[5])
names = sorted(n for n in os.listdir(refdir))
assert len(names) == epochs, names
for n in names:
    a = torch.load(os.path.join(mnt, n), weights_only=False)
    b = torch.load(os.path.join(refdir, n), weights_only=False)
    assert a["epoch"] == b["epoch"]
    for k in b["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), "%s: %s differs" % (n, k)
# latest via torch.load
l = torch.load(os.path.join(mnt, "latest"), weights_only=False)
assert l["epoch"] == epochs - 1, l["epoch"]
for k in ref:
    assert torch.equal(l["model"][k], ref[k]), "latest's %s differs from the final weights" % k
print("weights identical")
EOF

e2e_umount
log "PASS"
