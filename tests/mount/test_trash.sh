#!/usr/bin/env bash
# Trash (-o trash=DURATION, issue #17): rm and rm -rf of checkpoints and
# retention's deletions go to .ckptfs/trash (read-only, trash.tsv gives the
# purge time and the reason); `ckpt undelete` restores bytes, metrics,
# commit order and `latest`; the grace period's end purges (ckpt log: trash,
# undelete, purge) and frees exactly the bytes `ckpt ls` showed as UNIQUE.
source "$(dirname "$0")/lib.sh"

start_mount "trash=3s,metric=loss:min"
stored() { "$CKPT" stats "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["stored_bytes"])'; }
unique() { "$CKPT" ls "$STORE" --json | "$PY" -c 'import json,sys
print(sum(r["unique_bytes"] for r in json.load(sys.stdin) if r["name"] == sys.argv[1]))' "$1"; }
events() { "$CKPT" log "$STORE" --json | "$PY" -c 'import json,sys
print(" ".join(e["event"] + ":" + (e["name"] or "") for e in json.load(sys.stdin) if e["event"] in ("delete","trash","undelete","purge")))'; }

head -c 3000000 /dev/urandom >"$T/a.bin"
head -c 2000000 /dev/urandom >"$T/b.bin"
cp "$T/a.bin" "$MNT/epoch=1-loss=0.5.pt"
mkdir "$T/d"; cp "$T/b.bin" "$T/d/w.bin"; echo '{"loss": 0.2}' >"$T/d/metrics.json"
cp -r "$T/d" "$MNT/run-2"
wait_for is_latest run-2 || fail "run-2 never committed"
assert_eq "$(cat "$MNT/best_loss/metrics.json")" '{"loss": 0.2}' "best_loss is run-2"
u2=$(unique run-2)
[ "$u2" -ge 2000000 ] || fail "run-2 unique bytes $u2 < its 2 MB of random data"

# rm -rf of the newest, best checkpoint: it goes to the trash whole
rm -rf "$MNT/run-2"
assert_missing "$MNT/run-2" "rm -rf of run-2"
wait_for is_latest "epoch=1-loss=0.5.pt" || fail "latest did not fall back to epoch=1"
assert_eq "$(ls "$MNT/.ckptfs/trash")" "run-2" "the trash lists run-2"
assert_eq "$(sha "$MNT/.ckptfs/trash/run-2/w.bin")" "$(sha "$T/b.bin")" "trash/run-2 keeps every byte"
assert_errno EROFS "open('.ckptfs/trash/run-2/w.bin', 'w')"
"$PY" - "$MNT/.ckptfs/trash.tsv" <<'EOF' || fail "trash.tsv: name, deleted_at, purge_at, reason"
import sys, datetime
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
assert rows[0] == ["name", "deleted_at", "purge_at", "reason"], rows
assert len(rows) == 2 and rows[1][0] == "run-2" and rows[1][3] == "user", rows
f = lambda s: datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ")
assert (f(rows[1][2]) - f(rows[1][1])).total_seconds() == 3, rows
EOF
assert_eq "$(ckpt_field run-2 state)" "trashed" "ckpt ls --all shows it trashed"
assert_eq "$("$CKPT" trash "$STORE" ls --json | "$PY" -c 'import json,sys; r=json.load(sys.stdin); print(r[0]["name"], r[0]["reason"], r[0]["unique_bytes"])')" \
  "run-2 user $u2" "ckpt trash ls: name, reason, unique bytes"

"$CKPT" show "$STORE" run-2 --json | "$PY" -c 'import json,sys; j=json.load(sys.stdin); assert j["state"] == "trashed" and j["metrics"]["loss"] == 0.2, j' \
  || fail "ckpt show of a trashed checkpoint"
"$CKPT" export "$STORE" run-2 "$T/exp" >/dev/null || fail "ckpt export from the trash"
assert_eq "$(sha "$T/exp/w.bin")" "$(sha "$T/b.bin")" "export from the trash"

# undelete: bytes, metrics, commit order, latest and best come back
"$CKPT" undelete "$STORE" run-2 >/dev/null || fail "ckpt undelete run-2"
wait_for is_latest run-2 || fail "undeleted run-2 is latest again"
assert_eq "$(sha "$MNT/run-2/w.bin")" "$(sha "$T/b.bin")" "undeleted bytes"
assert_eq "$(sha "$MNT/latest/w.bin")" "$(sha "$T/b.bin")" "latest reads run-2"
assert_eq "$(cat "$MNT/best_loss/metrics.json")" '{"loss": 0.2}' "best_loss is run-2 again"
"$CKPT" ls "$STORE" --json | "$PY" -c '
import json, sys
r = [x["name"] for x in json.load(sys.stdin)]
assert r == ["epoch=1-loss=0.5.pt", "run-2"], r' || fail "commit order restored"
assert_eq "$(ls "$MNT/.ckptfs/trash")" "" "trash empty after undelete"

# a name in use refuses undelete; NAME~2 picks the older of two
rm "$MNT/epoch=1-loss=0.5.pt"
cp "$T/b.bin" "$MNT/epoch=1-loss=0.5.pt"
rm "$MNT/epoch=1-loss=0.5.pt"
assert_eq "$(ls "$MNT/.ckptfs/trash" | tr '\n' ' ')" "epoch=1-loss=0.5.pt epoch=1-loss=0.5.pt~2 " "two trashed of one name"
cp "$T/b.bin" "$MNT/epoch=1-loss=0.5.pt"
"$CKPT" undelete "$STORE" "epoch=1-loss=0.5.pt~2" 2>/dev/null && fail "undelete over a live name"
rm "$MNT/epoch=1-loss=0.5.pt"
rc=0; "$CKPT" undelete "$STORE" "epoch=1-loss=0.5.pt~9" 2>/dev/null || rc=$?
assert_eq "$rc" 4 "undelete of an unknown NAME~N exits 4"
"$CKPT" undelete "$STORE" "epoch=1-loss=0.5.pt~3" >/dev/null || fail "undelete NAME~3"
assert_eq "$(sha "$MNT/epoch=1-loss=0.5.pt")" "$(sha "$T/a.bin")" "NAME~3 is the first (oldest) one"

# the grace period ends: the next commit purges, and frees its unique bytes
"$CKPT" trash "$STORE" ls --json | "$PY" -c 'import json,sys; assert len(json.load(sys.stdin)) == 2' || fail "two left in the trash"
rm -rf "$MNT/run-2"
u_tr=$("$CKPT" stats "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["reclaimable_bytes"])')
s0=$(stored)
sleep 4
echo x >"$MNT/tick.pt"
wait_for is_latest tick.pt || fail "tick.pt never committed"
wait_for bash -c "[ -z \"\$(ls '$MNT/.ckptfs/trash')\" ]" || fail "trash not purged after its grace period"
s1=$(stored)
tick=$("$CKPT" ls "$STORE" --json | "$PY" -c 'import json,sys; print([r["stored_bytes"] for r in json.load(sys.stdin) if r["name"]=="tick.pt"][0])')
assert_eq "$((s0 + tick - s1))" "$u_tr" "bytes freed by the purge == reclaimable (trash) bytes"
ev=$(events)
for want in trash:run-2 undelete:run-2 "purge:run-2"; do
  case " $ev " in *" $want "*) ;; *) fail "ckpt log lacks $want: $ev" ;; esac
done
grep -q "trash name=epoch=1-loss=0.5.pt rule=user" "$LOG" || fail "the operator log says trash"

# retention moves to the trash too, and never counts what is there
"$CKPT" policy "$STORE" keep_last=1 trash=1h >/dev/null 2>&1 || fail "ckpt policy keep_last=1 trash=1h"
echo y >"$MNT/tock.pt"
wait_for is_latest tock.pt || fail "tock.pt never committed"
wait_for bash -c "[ \"\$(ls '$MNT/.ckptfs/trash')\" = tick.pt ]" || fail "retention did not trash tick.pt"
assert_eq "$(ls "$MNT" | grep '\.pt$' | tr '\n' ' ')" "epoch=1-loss=0.5.pt tock.pt " "keep_last=1 keeps tock.pt and the best (loss)"
cut -f4 "$MNT/.ckptfs/trash.tsv" | tail -n +2 | grep -qv '^policy' && fail "trash.tsv reason is the retention rule"
echo z >"$MNT/tuck.pt"
wait_for is_latest tuck.pt || fail "tuck.pt never committed"
wait_for bash -c "[ \"\$(ls '$MNT/.ckptfs/trash' | wc -l)\" = 2 ]" || fail "tock.pt not trashed (trashed tick.pt not counted as kept)"
"$CKPT" undelete "$STORE" tick.pt >/dev/null || fail "undelete tick.pt"
assert_eq "$(latest_name)" tuck.pt "an older undeleted checkpoint does not become latest"
assert_eq "$("$CKPT" trash "$STORE" empty --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["purged"])')" 1 "trash empty purges the rest"
assert_eq "$(ls "$MNT/.ckptfs/trash")" "" "the trash is empty"
stop_mount # verify once the mount has reclaimed what `trash empty` purged
"$CKPT" verify "$STORE" >"$T/verify.out" 2>&1 || fail "verify after trash, undelete and purge: $(cat "$T/verify.out")"
