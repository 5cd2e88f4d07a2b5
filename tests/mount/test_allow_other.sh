#!/usr/bin/env bash
# `-o allow_other` implies default_permissions: another user gets what the
# mode bits give (read 0644/0755 checkpoints) and no more: removing,
# creating, renaming and writing are refused and change nothing.
[ "$(id -u)" = 0 ] && command -v useradd >/dev/null && command -v setpriv >/dev/null ||
  { echo "SKIP: needs root, useradd and setpriv" >&2; exit 77; }
source "$(dirname "$0")/lib.sh"
chmod 0755 "$T"
U=ckptu$$
useradd --no-create-home --shell /usr/sbin/nologin "$U" || fail "useradd $U"
EXTRA_CLEANUP+=("userdel $U")
as_other() { setpriv --reuid="$U" --regid="$U" --clear-groups "$@"; }

start_mount "allow_other"
mkdir "$MNT/checkpoint-1" && echo data >"$MNT/checkpoint-1/model.bin"
echo one >"$MNT/one.ckpt"
for _ in $(seq 50); do [ "$(ckpt_field checkpoint-1 state)" = committed ] && break; sleep 0.1; done
assert_eq "$(ckpt_field checkpoint-1 state)" "committed" "checkpoint-1 committed"
latest=$(latest_name)

# Reading is what 0644/0755 give.
assert_eq "$(as_other cat "$MNT/checkpoint-1/model.bin")" "data" "other user reads"
as_other ls "$MNT" >/dev/null || fail "other user lists"
# Everything else is refused.
as_other rm -rf "$MNT/checkpoint-1" 2>"$T/err" && fail "other user removed checkpoint-1"
grep -Eq 'Permission denied|Operation not permitted' "$T/err" || fail "rm error: $(cat "$T/err")"
as_other rm -f "$MNT/one.ckpt" 2>/dev/null && fail "other user removed one.ckpt"
as_other sh -c "echo evil >'$MNT/evil.ckpt'" 2>/dev/null && fail "other user created a checkpoint"
as_other sh -c "echo evil >'$MNT/one.ckpt'" 2>/dev/null && fail "other user overwrote one.ckpt"
as_other mv "$MNT/one.ckpt" "$MNT/two.ckpt" 2>/dev/null && fail "other user renamed one.ckpt"
as_other mkdir "$MNT/checkpoint-9" 2>/dev/null && fail "other user made a directory"
sleep 0.5
assert_eq "$(cat "$MNT/checkpoint-1/model.bin")" "data" "checkpoint-1 intact"
assert_eq "$(cat "$MNT/one.ckpt")" "one" "one.ckpt intact"
assert_missing "$MNT/evil.ckpt" "no checkpoint from the other user"
assert_eq "$(latest_name)" "$latest" "latest unchanged"
assert_eq "$(ckpt_field evil.ckpt state)" "none" "nothing recorded for the other user"
echo "ok"
