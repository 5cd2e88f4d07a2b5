#!/usr/bin/env bash
# Orbax: a checkpoint is written into step_500.orbax-checkpoint-tmp-1234/ and
# renamed to step_500 when complete. While the temporary directory is written,
# and after it has been quiet for several settle_ms, latest does not move; the
# moment rename() returns, latest is step_500 and reads as what was written.
source "$(dirname "$0")/../e2e/lib.sh"
e2e_init
e2e_mount

# a previous checkpoint, the Orbax way too
mkdir "$T/src400" "$T/src500" "$T/src500/default" "$T/src500/default/d"
head -c 300000 /dev/urandom >"$T/src400/weights"
echo '{"step": 400}' >"$T/src400/_CHECKPOINT_METADATA"
mkdir "$MNT/step_400.orbax-checkpoint-tmp-1111" || fail "mkdir of an Orbax tmp dir failed"
cp -r "$T/src400/." "$MNT/step_400.orbax-checkpoint-tmp-1111/" || fail "cp into the tmp dir failed"
mv "$MNT/step_400.orbax-checkpoint-tmp-1111" "$MNT/step_400" || fail "rename to step_400 failed"
[ "$(cur_latest)" = step_400 ] || fail "latest is '$(cur_latest)' right after the rename to step_400"

TMP=step_500.orbax-checkpoint-tmp-1234
mkdir "$MNT/$TMP" "$MNT/$TMP/default" "$MNT/$TMP/default/d" || fail "mkdir of $TMP failed"
i=0
for f in default/_METADATA default/manifest.ocdbt default/d/0a1b default/d/2c3d default/d/4e5f _CHECKPOINT_METADATA; do
	i=$((i + 1))
	head -c $((i * 70001)) /dev/urandom >"$T/src500/$f"
	cp "$T/src500/$f" "$MNT/$TMP/$f" || fail "writing $TMP/$f failed"
	[ "$(cur_latest)" = step_400 ] || fail "latest moved to '$(cur_latest)' while $TMP was written"
	sleep 0.1
done
sleep $((SETTLE_MS * 4 / 1000 + 1)) # well past settle_ms: a temporary name still does not commit
[ "$(cur_latest)" = step_400 ] || fail "latest moved to '$(cur_latest)' after $TMP settled (temp names commit only by rename)"
listed step_500 && fail "step_500 exists before the rename"
[ "$(tree_sums "$MNT/latest")" = "$(tree_sums "$T/src400")" ] || fail "latest does not read as step_400"

mv "$MNT/$TMP" "$MNT/step_500" || fail "rename of $TMP to step_500 failed"
[ "$(cur_latest)" = step_500 ] || fail "latest is '$(cur_latest)' right after rename() returned"
[ "$(tree_sums "$MNT/latest")" = "$(tree_sums "$T/src500")" ] || fail "latest does not read as what was written to step_500"
[ "$(tree_sums "$MNT/step_500")" = "$(tree_sums "$T/src500")" ] || fail "step_500 does not read as what was written"
not_listed "$TMP" || fail "$TMP still listed after the rename"
[ "$(tree_sums "$MNT/step_400")" = "$(tree_sums "$T/src400")" ] || fail "step_400 changed"

e2e_umount
# durable: still there after a remount
e2e_mount
[ "$(cur_latest)" = step_500 ] || fail "after remount latest is '$(cur_latest)'"
[ "$(tree_sums "$MNT/step_500")" = "$(tree_sums "$T/src500")" ] || fail "step_500 differs after remount"
e2e_umount
log "PASS"
