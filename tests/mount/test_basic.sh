#!/usr/bin/env bash
# Single-file and directory checkpoints through a real mount: what `ls`,
# `stat`, `cat`, `cp -r` see, `latest` as a real directory or file, and
# the .ckptfs control files.
source "$(dirname "$0")/lib.sh"
SETTLE_MS=3000 # "staging right after cp" must hold however slow ckpt ls runs (ASan, load)

start_mount

# A fresh mount: only .ckptfs, no latest.
assert_eq "$(ls "$MNT")" "" "empty mount lists nothing"
assert_eq "$(ls -a "$MNT" | tr '\n' ' ')" ". .. .ckptfs " "ls -a of an empty mount"
assert_missing "$MNT/latest" "latest before any commit"
assert_eq "$(latest_name)" "" ".ckptfs/latest before any commit"

# Single-file checkpoint: committed when close() returns.
head -c 3000000 /dev/urandom >"$T/a.bin"
cp "$T/a.bin" "$MNT/model-step=100.pt"
assert_eq "$(ckpt_field model-step=100.pt state)" "committed" "file checkpoint committed at close"
assert_eq "$(latest_name)" "model-step=100.pt" ".ckptfs/latest after the file commit"
assert_eq "$(sha "$MNT/latest")" "$(sha "$T/a.bin")" "latest is the file, byte-identical"
assert_eq "$(stat -c %F "$MNT/latest")" "regular file" "latest of a file checkpoint is a regular file"
assert_eq "$(stat -c %s "$MNT/model-step=100.pt")" "3000000" "stat size"
assert_eq "$(ckpt_field model-step=100.pt step)" "100" "step from the name"

# Directory checkpoint by cp -r: committed after settle.
mkdir -p "$T/src/sub/deeper"
head -c 1500000 /dev/urandom >"$T/src/weights.bin"
echo '{"global_step": 200, "metrics": {"val_loss": 0.5}}' >"$T/src/metadata.json"
printf 'hello\n' >"$T/src/sub/deeper/note.txt"
ln -s ../weights.bin "$T/src/sub/link"
cp -r "$T/src" "$MNT/checkpoint-200"
assert_eq "$(ckpt_field checkpoint-200 state)" "staging" "directory staged right after cp"
committed() { [ "$(ckpt_field checkpoint-200 state)" = committed ]; }
wait_for committed || fail "directory not committed after settle_ms"
assert_eq "$(latest_name)" "checkpoint-200" "latest moved to the directory"
assert_eq "$(stat -c %F "$MNT/latest")" "directory" "latest of a dir checkpoint is a directory"
assert_eq "$(sha "$MNT/latest/weights.bin")" "$(sha "$T/src/weights.bin")" "latest/weights.bin"
assert_eq "$(cat "$MNT/latest/sub/deeper/note.txt")" "hello" "nested file through latest"
assert_eq "$(readlink "$MNT/checkpoint-200/sub/link")" "../weights.bin" "symlink inside a checkpoint is stored"
diff -r "$T/src" "$MNT/checkpoint-200" >/dev/null || fail "diff -r source vs checkpoint"
mkdir "$T/restore"
cp -r "$MNT/latest" "$T/restore/r"
diff -r "$T/src" "$T/restore/r" >/dev/null || fail "cp -r latest restores the tree"
assert_eq "$(ckpt_field checkpoint-200 step)" "200" "step from metadata.json"

# The root listing: checkpoints, latest, best_val_loss, .ckptfs (hidden).
assert_eq "$(ls "$MNT" | tr '\n' ' ')" "best_val_loss checkpoint-200 latest model-step=100.pt " "ls of the root"
assert_eq "$(sha "$MNT/best_val_loss/weights.bin")" "$(sha "$T/src/weights.bin")" "best_val_loss resolves"

# .ckptfs files.
assert_eq "$(ls "$MNT/.ckptfs" | tr '\n' ' ')" "aborted checkpoints.tsv latest metrics retention status trash trash.tsv " ".ckptfs listing"
status=$(cat "$MNT/.ckptfs/status")
grep -q '^checkpoints: 2$' <<<"$status" || fail "status counts 2 checkpoints: $status"
grep -q '^staging: 0$' <<<"$status" || fail "status counts 0 staging"
grep -q '^aborted: 0$' <<<"$status" || fail "status counts 0 aborted"
grep -q '^logical_bytes: 4500' <<<"$status" || fail "status logical bytes: $status"
grep -q '^process_exit_connector: ' <<<"$status" || fail "status shows the connector state"
grep -q 'settle_ms' <<<"$status" || fail "status shows the policy"
tsv=$(cat "$MNT/.ckptfs/checkpoints.tsv")
assert_eq "$(head -1 <<<"$tsv")" "$(printf 'name\tstate\tstep\tepoch\tcommitted_at\tmetrics')" "tsv header"
row=$(grep '^checkpoint-200	' <<<"$tsv") || fail "tsv row for checkpoint-200"
assert_eq "$(cut -f2,3 <<<"$row")" "$(printf 'committed\t200')" "tsv state and step"
[[ "$(cut -f5 <<<"$row")" =~ ^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:]+Z$ ]] || fail "tsv committed_at ISO 8601: $row"
grep -q 'val_loss=0.5' <<<"$(cut -f6 <<<"$row")" || fail "tsv metrics: $row"
ret=$(cat "$MNT/.ckptfs/retention")
assert_eq "$(wc -l <<<"$ret")" "2" "retention lists every committed checkpoint"
grep -q "^checkpoint-200	keep	" <<<"$ret" || fail "retention row: $ret"

# Staging entries are listed; control files are read-only.
mkdir "$MNT/tmp-checkpoint-300"
ls "$MNT" | grep -qx tmp-checkpoint-300 || fail "staging checkpoint listed"
assert_eq "$(latest_name)" "checkpoint-200" "a staging entry is never latest"
assert_errno EROFS "open('.ckptfs/status','w')"
assert_errno EPERM "os.rmdir('.ckptfs')"
assert_errno EEXIST "os.mkdir('.ckptfs')"

# Everything committed survives a remount.
stop_mount
start_mount
assert_eq "$(sha "$MNT/model-step=100.pt")" "$(sha "$T/a.bin")" "file after remount"
diff -r "$T/src" "$MNT/checkpoint-200" >/dev/null || fail "dir after remount"
assert_missing "$MNT/tmp-checkpoint-300" "staging left at unmount (temp name) is aborted at mount"

# Shared mmap (safetensors, np.load(mmap_mode=...)) by the checkpoint's own
# name and through latest.
"$PY" - "$MNT" <<'EOF'
import numpy as np, os, sys
mnt = sys.argv[1]
np.save(os.path.join(mnt, "arr.npy"), np.arange(1000))
a = np.load(os.path.join(mnt, "arr.npy"), mmap_mode="r")
assert int(a.sum()) == 499500, "mmap by name"
b = np.load(os.path.join(mnt, "latest"), mmap_mode="r")
assert int(b.sum()) == 499500, "mmap through latest"
EOF
echo "ok"
