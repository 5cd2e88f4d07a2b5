#!/usr/bin/env bash
# A FULL Ceph cluster under a store with chunks in RADOS. How it is made full:
# pool quotas (`ceph osd pool set-quota`) need the mgr's pool statistics, and
# our cluster has no mgr; the OSD however reports its own fullness (its
# statfs) to the mon, so lowering the cluster's ratios below what the OSD
# already uses (`ceph osd set-nearfull-ratio 0.00001`, backfillfull 0.00002,
# full 0.00003, in that order: out of order they are ignored) makes the mon
# flag the OSD and the pool full within seconds (checked in `ceph osd dump`),
# and putting the ratios back clears it. Cluster-wide: this test runs its own
# cluster (rados_lib.sh).
# While full: a save through the mount (a python3 directory checkpoint, a cp
# of a single-file one) fails with ENOSPC within `timeout 60` (never hangs),
# aborts (not listed, latest unchanged); earlier checkpoints read back
# identical; rm of a checkpoint still works (contract: deletion always works).
# Space back: saving works again, `ckpt verify` is clean, and after a remount
# everything committed reads back identical.
source "$(dirname "$0")/rados_lib.sh"
rados_fault_init

full_flag() { ceph_ osd dump | grep -Eq "^pool .*'$CKPT_TEST_CEPH_POOL'.* flags ([a-z_]*,)*full[ ,]"; }
not_full() { ! full_flag; }
e2e_mount
mkdir "$T/src"
for n in a old c d; do head -c $((3 * 1024 * 1024 + 123)) /dev/urandom >"$T/src/$n.bin"; done
mkdir "$MNT/ck-a" && cp "$T/src/a.bin" "$MNT/ck-a/w.bin" || fail "writing ck-a failed"
wait_latest ck-a
cp "$T/src/old.bin" "$MNT/ck-old.pt" || fail "writing ck-old.pt failed"
wait_latest ck-old.pt

log "filling the cluster (ratios below the OSD's use)"
ceph_ osd set-nearfull-ratio 0.00001 && ceph_ osd set-backfillfull-ratio 0.00002 &&
	ceph_ osd set-full-ratio 0.00003 || fail "cannot set the full ratios"
wait_until 60 full_flag || fail "the pool never became full: $(ceph_ osd dump | grep flags)"
ceph_ health detail >&2

out=$(save_py "$MNT/ck-big" 8 1) || fail "the save into a full cluster hung (or python failed): '$out'"
[ "$out" = ENOSPC ] || fail "the save into a full cluster gave '$out', not ENOSPC"
timeout 60 cp "$T/src/c.bin" "$MNT/ck-c.pt" 2>"$T/cp.err"
rc=$?
[ $rc -ne 124 ] || fail "cp of a single-file checkpoint into a full cluster hung"
[ $rc -ne 0 ] && grep -q "No space left on device" "$T/cp.err" ||
	fail "cp into a full cluster: rc $rc, '$(cat "$T/cp.err")', not ENOSPC"
wait_until 15 not_listed ck-big || fail "ck-big (a failed save) is still listed"
not_listed ck-c.pt || fail "ck-c.pt (a failed save) is listed"
[ "$(cur_latest)" = ck-old.pt ] || fail "latest is '$(cur_latest)' after the failed saves"
cmp "$MNT/ck-a/w.bin" "$T/src/a.bin" || fail "ck-a differs while full"
cmp "$MNT/latest" "$T/src/old.bin" || fail "latest differs while full"
timeout 60 rm "$MNT/ck-old.pt" || fail "rm of a checkpoint failed on a full cluster"
not_listed ck-old.pt || fail "ck-old.pt still listed after rm"

log "space back"
ceph_ osd set-full-ratio 0.95 && ceph_ osd set-backfillfull-ratio 0.9 &&
	ceph_ osd set-nearfull-ratio 0.85 || fail "cannot reset the full ratios"
wait_until 60 not_full ||
	fail "the pool stayed full: $(ceph_ osd dump | grep flags)"
out=$(save_py "$MNT/ck-d" 3 2) || fail "the save after space came back hung: '$out'"
[ "$out" = OK ] || fail "the save after space came back gave '$out'"
wait_latest ck-d
cp "$T/src/c.bin" "$MNT/ck-c.pt" || fail "cp after space came back failed"
wait_latest ck-c.pt
cmp "$MNT/ck-c.pt" "$T/src/c.bin" || fail "ck-c.pt differs"
e2e_umount
"$CKPT" verify "$STORE" >"$T/verify.out" 2>&1 || fail "ckpt verify: $(tail -n 5 "$T/verify.out")"
e2e_mount
cmp "$MNT/ck-a/w.bin" "$T/src/a.bin" || fail "ck-a differs after remount"
cmp "$MNT/ck-c.pt" "$T/src/c.bin" || fail "ck-c.pt differs after remount"
[ "$(cur_latest)" = ck-c.pt ] || fail "latest is '$(cur_latest)' after remount"
not_listed ck-big || fail "ck-big listed after remount"
e2e_umount
log "PASS"
