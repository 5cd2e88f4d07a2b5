#!/usr/bin/env bash
# Contradictory name options are refused at mount with one line and exit 1,
# nothing mounted and the stored policy unchanged: a plain= glob that
# matches the virtual latest name, a best_ name or .ckptfs, and a
# latest_name that is a best_ name. `ckpt policy` refuses the same
# combinations (exit 2). The non-contradictory DeepSpeed setup mounts, and
# its plain `latest` file is writable.
source "$(dirname "$0")/lib.sh"

plain_opt() { "$CKPT" policy "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["plain"])'; }

start_mount
stop_mount
before=$(plain_opt)
for bad in "plain=latest" "latest_name=x,plain=x" "plain=lat*" "plain=a.txt:latest" \
	   "latest_name=ckpt_latest,plain=ckpt_*" "plain=best_val_loss" "plain=best_*" \
	   "best_prefix=top-,plain=top-acc" "plain=.ckptfs" "latest_name=best_loss"; do
  set +e
  # Without -f the parent exits with the verdict (it mounts on success).
  msg=$("$CKPTFS" "$STORE" "$MNT" -o "$bad" 2>&1)
  rc=$?
  set -e
  is_mounted && { fusermount3 -u "$MNT"; sleep 0.5; fail "mounted despite -o $bad"; }
  assert_eq "$rc" "1" "exit status for -o $bad ($msg)"
  assert_eq "$(wc -l <<<"$msg")" "1" "one line for -o $bad ($msg)"
  grep -q '^ckptfs: ' <<<"$msg" || fail "message for -o $bad: $msg"
  assert_eq "$(plain_opt)" "$before" "refused -o $bad changed the stored policy"

  set +e
  "$CKPT" policy "$STORE" ${bad//,/ } >/dev/null 2>"$T/err"
  rc=$?
  set -e
  assert_eq "$rc" "2" "ckpt policy $bad exit status ($(cat "$T/err"))"
  assert_eq "$(plain_opt)" "$before" "refused ckpt policy $bad changed the stored policy"
done

# Not contradictory: the DeepSpeed setup, and globs that only some unusual
# best_ name could match.
start_mount "latest_name=latest_ckpt,plain=latest:*.txt"
echo one >"$MNT/step-1.pt"
echo global_step1 >"$MNT/latest"
assert_eq "$(cat "$MNT/latest")" "global_step1" "plain latest file"
assert_eq "$(cat "$MNT/latest_ckpt")" "one" "virtual latest_ckpt"
stop_mount

# A stored policy that became contradictory is fixed by the options of the
# next mount, and that mount then works.
start_mount "latest_name=latest,plain=latest_checkpointed_iteration.txt"
assert_eq "$(cat "$MNT/latest")" "one" "virtual latest back"
stop_mount
echo "PASS $TEST_NAME"
