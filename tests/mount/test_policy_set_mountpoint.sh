#!/usr/bin/env bash
# `ckpt policy set STORE OPTION...` (the form ckpt --help lists first) takes
# a mount point as STORE like every other command: the store is the one the
# mount's .ckptfs/status names, and the running mount applies the policy
# from its next commit. Both spellings and `ckpt policy MNT OPTION...` agree.
source "$(dirname "$0")/lib.sh"

start_mount
policy_field() { "$CKPT" policy "$MNT" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

out=$("$CKPT" policy set "$MNT" keep_last=2 2>&1) || fail "ckpt policy set MNT keep_last=2: $out"
assert_eq "$(policy_field keep_last)" 2 "keep_last after ckpt policy set MNT"
out=$("$CKPT" policy "$MNT" set keep_every=7 2>&1) || fail "ckpt policy MNT set keep_every=7: $out"
assert_eq "$(policy_field keep_every)" 7 "keep_every after ckpt policy MNT set"
assert_eq "$(policy_field keep_last)" 2 "keep_last kept by a later set"

# the mount applies it: keep_last=2 over three commits
for i in 1 2 3; do echo "$i" >"$MNT/r-$i.pt"; done
assert_eq "$(ls "$MNT" | grep '^r-' | tr '\n' ' ')" "r-2.pt r-3.pt " "the mount applies keep_last=2"

# a bad STORE after set is still one clear line and exit 3
out=$("$CKPT" policy set "$T/nowhere" keep_last=1 2>&1) && fail "policy set on a missing store succeeded"
[ $(wc -l <<<"$out") -eq 1 ] || fail "policy set on a missing store: more than one line: $out"
echo "PASS [$TEST_NAME]"
