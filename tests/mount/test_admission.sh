#!/usr/bin/env bash
# Space-aware admission (-o min_free / max_bytes, issue #17): the STORE on a
# 64 MiB tmpfs, trash on, min_free set (by `ckpt policy`, which a mount
# applies at once) to leave room for about half a checkpoint. A new checkpoint's size is predicted
# from the newest committed one of its name shape (step-#.pt); when it does
# not fit, trash is purged first (oldest first); when it still does not fit
# the create itself fails with ENOSPC, naming the predicted and available
# bytes in .ckptfs/status, the log and `ckpt log`, and `latest` stays.
source "$(dirname "$0")/lib.sh"

small_tmpfs 64m
use_store_dir "$T/small/store"
start_mount "trash=1h"
save() { head -c 10000000 /dev/urandom >"$T/w.bin" && cp "$T/w.bin" "$MNT/$1"; }
free_bytes() { df -B1 --output=avail "$T/small" | tail -1; }

save step-1.pt || fail "step-1 fits"
save step-2.pt || fail "step-2 fits"
save step-3.pt || fail "step-3 fits"
rm "$MNT/step-1.pt" "$MNT/step-2.pt" # into the trash: their 20 MB stay on disk
assert_eq "$(ls "$MNT/.ckptfs/trash" | tr '\n' ' ')" "step-1.pt step-2.pt " "step-1 and step-2 in the trash"
"$CKPT" policy "$STORE" min_free=$(( $(free_bytes) - 3000000 )) >/dev/null 2>&1 || fail "ckpt policy min_free"
# 3 MB available: step-4 (predicted 10 MB) is admitted once step-1 is purged
# (oldest first); its writes (data and staging, about twice its size) purge step-2
save step-4.pt || fail "step-4 admitted and written after purging the trash"
ls "$MNT/.ckptfs/trash" | grep -q step-1 && fail "step-1 (oldest) purged to make room"
assert_eq "$(sha "$MNT/step-4.pt")" "$(sha "$T/w.bin")" "step-4 complete"
"$CKPT" log "$STORE" --json | "$PY" -c '
import json, sys
ev = [e for e in json.load(sys.stdin) if e["event"] == "purge"]
assert [e["name"] for e in ev][:1] == ["step-1.pt"] and ev[0]["rule"] == "space", ev' || fail "ckpt log: purges for space, oldest first"
"$CKPT" trash "$STORE" empty >/dev/null # step-2 if the writes did not need it
grep -q "purge count=1 reason=space for step-4.pt" "$LOG" || fail "the log says what admission purged"

# nothing left to purge, 5 MB available: step-5 is refused at create,
# before any byte is written
"$CKPT" policy "$STORE" min_free=$(( $(free_bytes) - 5000000 )) >/dev/null 2>&1 || fail "ckpt policy min_free"
stored0=$("$CKPT" stats "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])')
assert_errno ENOSPC "open('step-5.pt', 'wb')"
assert_missing "$MNT/step-5.pt" "refused checkpoint"
assert_eq "$(latest_name)" step-4.pt "latest stays step-4"
assert_eq "$(sha "$MNT/latest")" "$(sha "$T/w.bin")" "latest still reads step-4"
grep -Eq "refused step-5.pt: predicted 10000[0-9]{3} bytes, available [0-9]+ bytes" "$MNT/.ckptfs/status" \
  || fail "status names the predicted and available bytes: $(grep refused "$MNT/.ckptfs/status")"
grep -Eq "refuse name=step-5.pt predicted=10000[0-9]{3} available=[0-9]+" "$LOG" || fail "the log says refuse"
"$CKPT" log "$STORE" --json | "$PY" -c '
import json, sys
ev = [e for e in json.load(sys.stdin) if e["event"] == "refuse"]
assert ev and ev[-1]["name"] == "step-5.pt" and "predicted" in ev[-1]["rule"], ev' || fail "ckpt log: refuse"
assert_eq "$("$CKPT" stats "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])')" "$stored0" "nothing stored for the refused save"
# a checkpoint of another shape with nothing to predict from is admitted,
# and its writes stop (ENOSPC, aborted) where min_free begins, not at a full disk
echo small >"$MNT/notes.txt.ckpt" || fail "an unpredictable small checkpoint is admitted"
head -c 20000000 /dev/urandom >"$T/big.bin"
cp "$T/big.bin" "$MNT/other.bin" 2>/dev/null && fail "20 MB written past min_free"
assert_missing "$MNT/other.bin" "the checkpoint whose write hit min_free is aborted"
[ "$(free_bytes)" -gt 4000000 ] || fail "min_free not kept: $(free_bytes) bytes free"
assert_eq "$(latest_name)" notes.txt.ckpt "latest is the last complete checkpoint"
# retention makes room too: keep_last=1 trashes step-3 and step-4
# (notes.txt.ckpt is latest), admission and the writes purge them
"$CKPT" policy "$STORE" keep_last=1 >/dev/null 2>&1 || fail "ckpt policy keep_last=1"
save step-5.pt || fail "step-5 admitted once retention's trash is purged"
assert_eq "$(latest_name)" step-5.pt "step-5 committed"

# deletion always works with trash on: rm -rf on a full disk (its trash copy
# may not fit: the removal goes on without it), then emptying the trash
"$CKPT" policy "$STORE" min_free=0 keep_last=0 >/dev/null 2>&1 || fail "ckpt policy min_free=0"
mkdir "$T/dd"; head -c 3000000 /dev/urandom >"$T/dd/w.bin"; echo x >"$T/dd/x"
cp -r "$T/dd" "$MNT/dir-1"
wait_for is_latest dir-1 || fail "dir-1 never committed"
dd if=/dev/zero of="$T/small/ballast" bs=64k 2>/dev/null || true
rm -rf "$MNT/dir-1" || fail "rm -rf on a full disk with trash on"
assert_missing "$MNT/dir-1" "dir-1 removed on a full disk"
"$CKPT" trash "$STORE" empty >/dev/null || fail "ckpt trash empty on a full disk"
rm -f "$T/small/ballast"
stop_mount # verify after the mount has reclaimed what `trash empty` purged
"$CKPT" verify "$STORE" >"$T/verify.out" 2>&1 || fail "verify: $(cat "$T/verify.out")"

# max_bytes holds for writes too: a checkpoint nothing predicts (a new name
# shape) is admitted, and its writes stop (ENOSPC, aborted) where the store's
# stored bytes would cross max_bytes, not at a full disk; latest stays. The
# partial data of that failed save is then purged to make room for the next.
start_mount
"$CKPT" gc "$STORE" >/dev/null || fail "ckpt gc" # earlier aborted saves go
stored() { "$CKPT" stats "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])'; }
wait_for test "$(stored)" -lt 40000000 || fail "the mount did not reclaim what ckpt gc removed"
before=$(latest_name)
"$CKPT" policy "$STORE" min_free=0 max_bytes=$(( $(stored) + 6000000 )) >/dev/null 2>&1 ||
  fail "ckpt policy max_bytes"
head -c 20000000 /dev/urandom >"$T/blob.bin"
cp "$T/blob.bin" "$MNT/blob.bin" 2>/dev/null && fail "20 MB written past max_bytes (6 MB left)"
assert_missing "$MNT/blob.bin" "the checkpoint whose write crossed max_bytes is aborted"
assert_eq "$(latest_name)" "$before" "latest after the refused write"
head -c 2000000 /dev/urandom >"$T/small.bin"
cp "$T/small.bin" "$MNT/fits.bin" || fail "a 2 MB save under max_bytes (after purging the aborted one)"
assert_eq "$(latest_name)" fits.bin "a save that fits under max_bytes commits"
stop_mount
"$CKPT" verify "$STORE" >"$T/verify.out" 2>&1 || fail "verify after max_bytes: $(cat "$T/verify.out")"
echo "ok: max_bytes stops a write that would cross it"
