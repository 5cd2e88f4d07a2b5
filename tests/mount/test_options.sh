#!/usr/bin/env bash
# Mount options: policy options are stored (a later mount without them
# keeps them; given again they replace them; a metric= list replaces the
# tracked metrics), FUSE options pass through, bad options are refused
# before mounting; hide_virtual; DeepSpeed's own `latest` file with
# latest_name/plain; malformed metadata noted in .ckptfs/status; clean
# shutdown on SIGTERM and SIGINT; changes made by `ckpt` beside the mount.
source "$(dirname "$0")/lib.sh"

policy() { "$CKPT" policy "$STORE" --json | "$PY" -c 'import json,sys; p=json.load(sys.stdin); print(p[sys.argv[1]])' "$1"; }

start_mount "keep_last=3,metric=val_loss:min,metric=acc:max,default_permissions"
assert_eq "$(policy keep_last)" "3" "keep_last stored"
assert_eq "$(policy metric)" "['val_loss:min', 'acc:max']" "tracked metrics stored"
grep -q default_permissions /proc/self/mounts || fail "FUSE option passed to the mount"
stop_mount

start_mount
assert_eq "$(policy keep_last)" "3" "a mount without options keeps the stored policy"
assert_eq "$(policy metric)" "['val_loss:min', 'acc:max']" "tracked metrics kept"
stop_mount

start_mount "metric=loss:min"
assert_eq "$(policy metric)" "['loss:min']" "a metric= list replaces the tracked metrics"
assert_eq "$(policy keep_last)" "3" "options not given keep their value"
stop_mount

# Bad options: one line, exit 1, nothing mounted.
for bad in "keep_last=abc" "compress=lz4" "no_such_fuse_option"; do
  set +e
  msg=$("$CKPTFS" "$STORE" "$MNT" -f -o "$bad" 2>&1)
  rc=$?
  set -e
  assert_eq "$rc" "1" "exit status for -o $bad"
  assert_eq "$(wc -l <<<"$msg")" "1" "one line for -o $bad ($msg)"
  is_mounted && fail "mounted despite -o $bad"
done
assert_eq "$(policy keep_last)" "3" "a refused option changed nothing"

# The command line goes through libfuse's parser: --help lists ckptfs's
# options and libfuse's; an unknown option is named, exit 1, and the
# policy options beside it are not stored; libfuse's loop options mount.
out=$("$CKPTFS" --help) || fail "--help exited $?"
for o in keep_last settle_ms commit_marker quiet index allow_other auto_unmount max_threads clone_fd; do
  grep -q -- "-o $o" <<<"$out" || fail "--help does not list -o $o: $out"
done
set +e
msg=$("$CKPTFS" "$STORE" "$MNT" -f -o keep_last=7,bogus=1 2>&1)
rc=$?
set -e
assert_eq "$rc" "1" "exit status for an unknown option"
assert_eq "$msg" "ckptfs: unknown option 'bogus=1'" "the unknown option named"
is_mounted && fail "mounted despite -o bogus=1"
assert_eq "$(policy keep_last)" "3" "keep_last beside an unknown option not stored"
start_mount "max_threads=4,max_idle_threads=2,clone_fd"
echo loop >"$MNT/loop.pt"
wait_for is_latest loop.pt || fail "loop.pt not committed with max_threads/clone_fd"
stop_mount

# hide_virtual: latest and best_* resolve but are not listed.
start_mount "keep_last=0,hide_virtual"
echo one >"$MNT/a-val_loss=0.5.pt"
ls "$MNT" | grep -qx latest && fail "latest listed with hide_virtual"
ls "$MNT" | grep -q '^best_' && fail "best_* listed with hide_virtual"
assert_eq "$(cat "$MNT/latest")" "one" "latest resolves with hide_virtual"
assert_eq "$(cat "$MNT/best_val_loss")" "one" "best_val_loss resolves with hide_virtual"
stop_mount

# DeepSpeed: its own `latest` tag file beside the virtual entry.
start_mount "hide_virtual=false,latest_name=latest_ckpt,plain=latest:latest_checkpointed_iteration.txt"
mkdir "$MNT/global_step10"
echo w >"$MNT/global_step10/mp_rank_00_model_states.pt"
echo global_step10 >"$MNT/latest"
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = global_step10 ]" || fail "global_step10 never committed"
assert_eq "$(cat "$MNT/latest")" "global_step10" "DeepSpeed's latest file reads back"
assert_eq "$(cat "$MNT/latest_ckpt/mp_rank_00_model_states.pt")" "w" "latest_ckpt is the virtual entry"
echo global_step20 >"$MNT/latest"
assert_eq "$(cat "$MNT/latest")" "global_step20" "the plain latest file is rewritable"
stop_mount

# Malformed metadata never blocks a commit; the reason is in status.
start_mount "latest_name=latest,plain=latest_checkpointed_iteration.txt"
mkdir "$MNT/ckpt-bad"
echo '{"val_loss": 0.3,' >"$MNT/ckpt-bad/metrics.json"
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = ckpt-bad ]" || fail "malformed metadata blocked the commit"
grep -A50 '^metric problems:' "$MNT/.ckptfs/status" | grep -q 'ckpt-bad' || fail "status names the metric problem: $(cat "$MNT/.ckptfs/status")"

# Changes by `ckpt` beside the mount: gc purges aborted ones, commit promotes one.
"$PY" -c '
import os
f = open("'"$MNT"'/dead.pt", "wb"); f.write(b"partial"); f.flush(); os._exit(1)' || true
wait_for test -e "$MNT/.ckptfs/aborted/dead.pt" || fail "dead.pt not aborted"
"$CKPT" commit "$STORE" dead.pt >/dev/null || fail "ckpt commit beside the mount"
wait_for test -e "$MNT/dead.pt" || fail "promoted checkpoint not visible in the mount"
assert_eq "$(cat "$MNT/dead.pt")" "partial" "promoted data"
assert_eq "$(latest_name)" "dead.pt" "a promoted checkpoint becomes latest"
"$PY" -c '
import os
f = open("'"$MNT"'/dead2.pt", "wb"); f.write(b"x"); f.flush(); os._exit(1)' || true
wait_for test -e "$MNT/.ckptfs/aborted/dead2.pt" || fail "dead2.pt not aborted"
"$CKPT" gc "$STORE" >/dev/null || fail "ckpt gc beside the mount"
wait_for bash -c "[ -z \"\$(ls '$MNT/.ckptfs/aborted')\" ]" || fail "gc did not purge aborted ones: $(ls "$MNT/.ckptfs/aborted")"
"$CKPT" pin "$STORE" ckpt-bad >/dev/null
assert_eq "$(getfattr --absolute-names --only-values -n user.ckpt.pinned "$MNT/ckpt-bad")" "1" "pin beside the mount shows in the xattr"

# SIGTERM: a clean shutdown that commits quiet, complete work.
stop_mount
start_mount "settle_ms=600000"
mkdir "$MNT/ckpt-term"
echo t >"$MNT/ckpt-term/f"
kill -TERM "$DAEMON_PID"
reap_daemon 20
is_mounted && fail "still mounted after SIGTERM"
assert_eq "$(ckpt_field ckpt-term state)" "committed" "SIGTERM commits quiet work"

start_mount "settle_ms=600000"
mkdir "$MNT/ckpt-int"
echo i >"$MNT/ckpt-int/f"
kill -INT "$DAEMON_PID"
reap_daemon 20
is_mounted && fail "still mounted after SIGINT"
assert_eq "$(ckpt_field ckpt-int state)" "committed" "SIGINT commits quiet work"
echo "ok"
