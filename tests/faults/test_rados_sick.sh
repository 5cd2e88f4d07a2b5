#!/usr/bin/env bash
# A SICK Ceph cluster under a store with chunks in RADOS (spec timeout=3):
# the test's own cluster's OSD is stopped (SIGSTOP; SIGCONT in the trap).
# A read of a checkpoint the mount has not cached fails with EIO, and a
# 64 MiB save fails with EIO, each within `timeout 60` (a hang fails the
# test; the save must fail within 30 s: a few 3 s timeouts, not one per
# chunk); no chunk is called damaged for it (no "corrupt" note, event or log
# line, the log says the chunk store did not answer: the
# data is fine, the cluster is not answering; `ckpt verify` fails without
# calling any chunk damaged); the mount stays usable (ls, .ckptfs). After SIGCONT: the same read gives
# the right bytes, a save commits, the failed one is not listed, `ckpt
# verify` is clean, and a remount reads everything committed back.
source "$(dirname "$0")/rados_lib.sh"
rados_fault_init timeout=3

e2e_mount
mkdir "$T/src"
for n in a b; do head -c $((4 * 1024 * 1024 + 77)) /dev/urandom >"$T/src/$n.bin"; done
mkdir "$MNT/ck-a" && cp "$T/src/a.bin" "$MNT/ck-a/w.bin" || fail "writing ck-a failed"
wait_latest ck-a
cp "$T/src/b.bin" "$MNT/ck-b.pt" || fail "writing ck-b.pt failed"
wait_latest ck-b.pt
e2e_umount
e2e_mount # nothing of ck-a cached

log "stopping the OSD"
rados_osd_stop
s=$SECONDS
timeout 60 cat "$MNT/ck-a/w.bin" >/dev/null 2>"$T/cat.err"
rc=$?
log "read: rc $rc after $((SECONDS - s)) s: $(cat "$T/cat.err")"
[ $rc -ne 124 ] || fail "a read from a stopped OSD hung"
[ $rc -ne 0 ] && grep -q "Input/output error" "$T/cat.err" || fail "a read from a stopped OSD: rc $rc, not EIO"
! grep -i corrupt "$T/daemon.log" || fail "the mount's log calls a read the cluster did not answer corrupt"
grep -q "read failed: the chunk store did not answer" "$T/daemon.log" ||
	fail "the mount's log does not say the chunk store did not answer: $(tail -n 3 "$T/daemon.log")"
s=$SECONDS
out=$(save_py "$MNT/ck-s" 64 1)
rc=$?
log "save: '$out' after $((SECONDS - s)) s"
[ $rc -ne 124 ] || fail "a save into a stopped OSD hung (or took over 60 s)"
# a bound on liveness, not speed: a few 3 s timeouts, never one per chunk
# (without the backend's sick window this save took ~50 s)
[ $((SECONDS - s)) -le 30 ] || fail "a save into a stopped OSD took $((SECONDS - s)) s to fail (one timeout per chunk?)"
[ "$out" = EIO ] || fail "a save into a stopped OSD gave '$out', not EIO"
timeout 10 ls "$MNT" >/dev/null || fail "ls of the mount failed while the OSD is stopped"
[ "$(timeout 10 cat "$MNT/.ckptfs/latest")" = ck-b.pt ] || fail "latest is not ck-b.pt while the OSD is stopped"
! timeout 10 grep -i corrupt "$MNT/.ckptfs/status" ||
	fail "a cluster that does not answer is reported as corrupt data"
wait_until 15 not_listed ck-s || fail "ck-s (a failed save) is still listed"
timeout 60 "$CKPT" verify "$STORE" >"$T/verify.sick" 2>&1
rc=$?
log "verify while stopped: rc $rc: $(tail -n 3 "$T/verify.sick")"
[ $rc -ne 124 ] || fail "ckpt verify hung on a stopped OSD"
[ $rc -ne 0 ] || fail "ckpt verify was clean on a stopped OSD"
! grep -i damaged "$T/verify.sick" || fail "ckpt verify calls chunks damaged when the cluster does not answer"

log "continuing the OSD"
rados_osd_cont
reads() { timeout 60 cmp -s "$MNT/ck-a/w.bin" "$T/src/a.bin"; }
wait_until 60 reads || fail "ck-a does not read back after SIGCONT"
out=$(save_py "$MNT/ck-t" 4 2) || fail "the save after SIGCONT hung: '$out'"
[ "$out" = OK ] || fail "the save after SIGCONT gave '$out'"
wait_latest ck-t
not_listed ck-s || fail "ck-s (a failed save) is listed"
cmp "$MNT/ck-b.pt" "$T/src/b.bin" || fail "ck-b.pt differs"
e2e_umount
"$CKPT" verify "$STORE" >"$T/verify.out" 2>&1 || fail "ckpt verify: $(tail -n 5 "$T/verify.out")"
"$CKPT" log "$STORE" >"$T/log.out" 2>&1 || fail "ckpt log failed"
! grep -w corrupt "$T/log.out" || fail "ckpt log shows a corrupt event for a cluster that did not answer"
e2e_mount
cmp "$MNT/ck-a/w.bin" "$T/src/a.bin" || fail "ck-a differs after remount"
cmp "$MNT/ck-b.pt" "$T/src/b.bin" || fail "ck-b.pt differs after remount"
[ "$(cur_latest)" = ck-t ] || fail "latest is '$(cur_latest)' after remount"
e2e_umount
log "PASS"
