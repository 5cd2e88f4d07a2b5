#!/usr/bin/env bash
# latest (commit order, not step) and best_<metric> (direction by name,
# ties to the lower step) after commits and deletions with non-monotone
# metrics; a real name shadows a virtual one; unknown metrics are ENOENT.
source "$(dirname "$0")/lib.sh"

start_mount

save() { printf '%s' "$2" >"$MNT/$1"; }
save "epoch=0-step=10-val_loss=0.50.ckpt" c10
save "epoch=1-step=20-val_loss=0.30.ckpt" c20
save "epoch=2-step=30-val_loss=0.40.ckpt" c30
save "epoch=3-step=40-val_loss=0.30.ckpt" c40 # ties with step 20: step 20 wins
assert_eq "$(cat "$MNT/latest")" "c40" "latest after four commits"
assert_eq "$(cat "$MNT/best_val_loss")" "c20" "best_val_loss: minimum, tie to the lower step"
save "epoch=9-step=5-val_loss=0.90.ckpt" c5
assert_eq "$(cat "$MNT/latest")" "c5" "latest is commit order, not step"
assert_eq "$(latest_name)" "epoch=9-step=5-val_loss=0.90.ckpt" ".ckptfs/latest"

# Directory checkpoints with a max-direction metric from metrics.json.
for spec in d1:0.7 d2:0.9 d3:0.8; do
  name=${spec%%:*} acc=${spec#*:}
  mkdir "$T/$name"
  echo "{\"accuracy\": $acc, \"step\": ${name#d}}" >"$T/$name/metrics.json"
  echo "$name" >"$T/$name/id"
  cp -r "$T/$name" "$MNT/$name"
  wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = $name ]" || fail "$name never committed"
done
assert_eq "$(cat "$MNT/best_accuracy/id")" "d2" "best_accuracy: maximum"
assert_eq "$(cat "$MNT/latest/id")" "d3" "latest after the directories"
assert_eq "$(cat "$MNT/best_val_loss")" "c20" "best_val_loss unchanged by other metrics"

listing=$(ls "$MNT")
grep -qx best_val_loss <<<"$listing" || fail "best_val_loss listed"
grep -qx best_accuracy <<<"$listing" || fail "best_accuracy listed"
grep -qx latest <<<"$listing" || fail "latest listed"
grep -q '^best_step$\|^best_epoch$' <<<"$listing" && fail "no best_step / best_epoch"
assert_errno ENOENT "os.stat('best_nonexistent')"
assert_errno ENOENT "os.stat('best_step')"
assert_errno ENOENT "os.stat('best_epoch')"

# Deletions re-resolve at once.
rm "$MNT/epoch=1-step=20-val_loss=0.30.ckpt"
assert_eq "$(cat "$MNT/best_val_loss")" "c40" "best after deleting the best: the tied one"
rm "$MNT/epoch=3-step=40-val_loss=0.30.ckpt"
assert_eq "$(cat "$MNT/best_val_loss")" "c30" "best after deleting both 0.30"
rm -rf "$MNT/d2"
assert_eq "$(cat "$MNT/best_accuracy/id")" "d3" "best_accuracy after rm -rf"
rm -rf "$MNT/d3"
assert_eq "$(cat "$MNT/latest/id")" "d1" "latest after deleting the newest"
assert_eq "$(latest_name)" "d1" ".ckptfs/latest after deleting the newest"

# Removing part of a committed checkpoint withdraws it from latest/best.
rm "$MNT/d1/id"
assert_eq "$(cat "$MNT/latest")" "c5" "withdrawn checkpoint is not latest"
assert_exists "$MNT/d1/metrics.json" "withdrawn checkpoint stays readable under its name"
assert_errno ENOENT "os.stat('best_accuracy')"

# A real checkpoint shadows a virtual name.
save best_model.pt "real"
assert_eq "$(cat "$MNT/best_model.pt")" "real" "a checkpoint named best_model.pt is that checkpoint"
assert_eq "$(ckpt_field best_model.pt state)" "committed" "shadowing name committed"

# Other prefixes / names via the policy.
stop_mount
start_mount "latest_name=newest,best_prefix=top-"
assert_eq "$(cat "$MNT/newest")" "real" "latest_name renames latest"
assert_eq "$(cat "$MNT/top-val_loss")" "c30" "best_prefix renames best_"
assert_missing "$MNT/latest" "the old latest name is gone"
echo "ok"
