#!/usr/bin/env bash
# POSIX conformance inside checkpoints (tests/tools/posix_conf.c: what
# libfuse's test/test_syscalls.c covers for files and directories, and
# more), run in a staging checkpoint directory and in a temporary-named
# one, then again inside a committed checkpoint (copy-on-write). The
# checkpoints stay intact: nothing aborts, the committed one still commits.
source "$(dirname "$0")/lib.sh"

CONF=$CKPT_BUILD/posix_conf
[ -x "$CONF" ] || fail "$CONF is not built"

start_mount "settle_ms=60000" # staging for the whole run

mkdir "$MNT/conf-staging" "$MNT/tmp-conf"
"$CONF" "$MNT/conf-staging" || fail "posix_conf in a staging checkpoint"
"$CONF" "$MNT/tmp-conf" || fail "posix_conf in a temporary-named checkpoint"
assert_eq "$(ckpt_field conf-staging state)" "staging" "conf-staging still staging"

# A committed checkpoint: every change starts a new version; the old one
# stays readable through latest until that one commits.
mkdir "$MNT/tmp-c" && echo keep >"$MNT/tmp-c/keep.txt" && mkdir "$MNT/tmp-c/work"
mv "$MNT/tmp-c" "$MNT/conf-committed"
assert_eq "$(latest_name)" "conf-committed" "committed by the rename"
"$CONF" "$MNT/conf-committed/work" || fail "posix_conf in a committed checkpoint"
assert_eq "$(cat "$MNT/conf-committed/keep.txt")" "keep" "untouched file kept"
stop_mount
start_mount
assert_eq "$(ckpt_field conf-committed state)" "committed" "the new version committed at unmount"
assert_eq "$(cat "$MNT/conf-committed/keep.txt")" "keep" "after remount"
assert_eq "$(ls -A "$MNT/conf-committed/work")" "" "work dir empty after the run"
echo ok
