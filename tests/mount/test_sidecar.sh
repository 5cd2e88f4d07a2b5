#!/usr/bin/env bash
# The daemon in its own PID namespace, writers outside (a FUSE sidecar
# container): FUSE reports the writers' pid as 0. Plain writes still land
# exactly and commit; the mount says it cannot see the writers (status
# notes, log, `ckpt ls`). commit_marker=.metadata commits a directory only
# when its marker closes: a writer killed before that leaves it staging,
# aborted by commit_timeout_ms or at unmount. commit=rename commits only
# temporary-name renames.
[ "$(id -u)" = 0 ] && command -v unshare >/dev/null || { echo "SKIP: needs root and unshare" >&2; exit 77; }
unshare --pid --fork true 2>/dev/null || { echo "SKIP: cannot unshare a PID namespace" >&2; exit 77; }
source "$(dirname "$0")/lib.sh"
MOUNT_WRAP=(unshare --pid --fork --kill-child)
# wait_state NAME STATE WHAT: pid-0 writers commit at the release, which the
# kernel sends just after close() returns.
wait_state() {
  local _
  for _ in $(seq 50); do [ "$(ckpt_field "$1" state)" = "$2" ] && return 0; sleep 0.1; done
  assert_eq "$(ckpt_field "$1" state)" "$2" "$3"
}

# 1. Default mode: a shell redirection (open, dup2, close, write, close).
start_mount
echo x >"$MNT/a.ckpt" || fail "echo into a new checkpoint failed"
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = a.ckpt ]" || fail "a.ckpt never committed"
assert_eq "$(cat "$MNT/a.ckpt")" "x" "a.ckpt content"
assert_eq "$(stat -c %s "$MNT/a.ckpt")" "2" "a.ckpt size"
"$PY" -c '
f = open("'"$MNT"'/b.ckpt", "wb")
for i in range(100): f.write(bytes([i]) * 100000)
f.close()'
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = b.ckpt ]" || fail "b.ckpt never committed"
"$PY" -c '
d = open("'"$MNT"'/b.ckpt", "rb").read()
assert d == b"".join(bytes([i]) * 100000 for i in range(100)), "b.ckpt content"' || fail "b.ckpt content"
status=$(cat "$MNT/.ckptfs/status")
grep -Eq '^  invisible writers: [1-9][0-9]* writes' <<<"$status" || fail "status notes count invisible writers: $status"
grep -q 'cannot see' "$LOG" || fail "the daemon log says it cannot see the writers"
"$CKPT" ls "$STORE" 2>"$T/ls.err" >/dev/null || fail "ckpt ls failed"
grep -q 'warning: .*not visible' "$T/ls.err" || fail "ckpt ls warns: $(cat "$T/ls.err")"
stop_mount

# 2. commit_marker=.metadata (torch.distributed.checkpoint's last file).
start_mount "commit_marker=.metadata,commit_timeout_ms=3000"
mkdir "$MNT/step-10"
head -c 100000 /dev/urandom >"$MNT/step-10/__0_0.distcp"
sleep 1 # past settle_ms: in default mode this would have committed
assert_eq "$(ckpt_field step-10 state)" "staging" "no marker yet"
echo '{}' >"$MNT/step-10/.metadata"
wait_state step-10 committed "committed when .metadata closed"
assert_eq "$(latest_name)" "step-10" "marker commit is latest"
# A writer killed before writing the marker.
kill_between_files "$MNT/step-20" __0_0.distcp
sleep 1
assert_eq "$(ckpt_field step-20 state)" "staging" "killed before the marker: still staging"
assert_eq "$(latest_name)" "step-10" "latest unchanged"
wait_for bash -c "! ls '$MNT' | grep -qx step-20" || fail "step-20 not aborted by commit_timeout_ms"
assert_eq "$(ckpt_field step-20 state)" "aborted" "aborted by the timeout"
grep -q "step-20: no commit marker" "$MNT/.ckptfs/status" || fail "abort reason"
stop_mount

# 3. commit=rename: only temporary-name renames (and markers) commit.
start_mount "commit=rename"
echo y >"$MNT/c.ckpt"
mkdir "$MNT/step-30" && echo z >"$MNT/step-30/model.bin"
mkdir "$MNT/tmp-step-40" && echo w >"$MNT/tmp-step-40/model.bin"
sleep 1
assert_eq "$(ckpt_field c.ckpt state)" "staging" "in-place file not committed at close"
assert_eq "$(ckpt_field step-30 state)" "staging" "in-place directory not committed by settle"
mv "$MNT/tmp-step-40" "$MNT/step-40"
assert_eq "$(latest_name)" "step-40" "rename commits"
assert_eq "$(cat "$MNT/latest/model.bin")" "w" "renamed content"
stop_mount
assert_eq "$(ckpt_field c.ckpt state)" "aborted" "uncommitted file aborted at unmount"
assert_eq "$(ckpt_field step-30 state)" "aborted" "uncommitted directory aborted at unmount"
assert_eq "$(ckpt_field step-40 state)" "committed" "renamed one stays"
echo "ok"
