#!/usr/bin/env bash
# Two mounts of one PostgreSQL store with commit_marker=.metadata (the way
# torch.distributed.checkpoint saves: every rank writes its shard, then rank
# 0 writes .metadata): shards written through A and B, the marker closed on
# B, commit once with every file; both mounts resolve latest to it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/multi_lib.sh"

start_mount commit_marker=.metadata
start_mount_b commit_marker=.metadata

mkdir "$MNT/step_1"
head -c 300000 /dev/urandom >"$T/s0"
head -c 300000 /dev/urandom >"$T/s1"
cp "$T/s0" "$MNT/step_1/__0_0.distcp"
wait_for test -d "$MNT_B/step_1" || fail "B does not see step_1"
cp "$T/s1" "$MNT_B/step_1/__1_0.distcp"
sleep 1 # > settle_ms: under commit_marker only the marker commits
[ -z "$(latest_b)" ] || fail "B: latest is '$(latest_b)' before the marker"
echo '{"ranks": 2}' >"$T/meta"
cp "$T/meta" "$MNT_B/step_1/.metadata"
is_latest_b step_1 || fail "B: closing .metadata did not commit step_1 at once"
wait_for is_latest step_1 || fail "A: latest is '$(latest_name)', not step_1"
cmp "$T/s0" "$MNT_B/latest/__0_0.distcp" || fail "B: A's shard differs"
cmp "$T/s1" "$MNT/latest/__1_0.distcp" || fail "A: B's shard differs"
cmp "$T/meta" "$MNT/latest/.metadata" || fail "A: .metadata differs"
echo "ok: shards through A and B commit with .metadata closed on B"
