#!/usr/bin/env bash
# Lightning save_last: last.ckpt is overwritten every epoch, first by
# torch.save to the same name (while another process reads latest whole in a
# loop), then by torch.save to last.ckpt.tmp + os.replace (the reader reads
# last.ckpt and latest): every read is exactly one of the versions written
# (no torn read). Reading last.ckpt by name during a same-name torch.save is
# covered by test_lightning_last_direct.sh.
source "$(dirname "$0")/../e2e/lib.sh"
$PY -c 'import torch' 2>/dev/null || skip "$PY lacks torch"
e2e_init
e2e_mount

LL=$E2E_DIR/lightning_last.py
VERS=$T/versions
: >"$VERS"
N=${CKPT_LAST_VERSIONS:-25}
# MODES: "mode:paths the reader reads" (CKPT_LAST_MODES overrides)
for spec in ${CKPT_LAST_MODES:-direct:latest replace:last.ckpt,latest}; do
	mode=${spec%%:*}
	paths=${spec#*:}
	log "last.ckpt, $mode overwrite, $N versions, reading $paths"
	mkdir -p "$T/scratch-$mode"
	rm -f "$T/ready" "$T/stop" "$T/ready.go" "$T/stop.go"
	ln -s "$T/stop.go" "$T/ready.go" # the writer goes on once the reader has read
	$PY "$LL" writer "$MNT" $mode "$N" "$T/scratch-$mode" "$VERS" "$T/ready" 2>"$T/writer-$mode.err" &
	W=$!
	KIDS+=("$W")
	wait_until 60 test -e "$T/ready" || fail "writer ($mode) never saved its first version: $(tail -n 3 "$T/writer-$mode.err")"
	$PY "$LL" reader "$MNT" "$VERS" "$T/stop" "$T/reader-$mode.out" "$paths" 2>"$T/reader-$mode.err" &
	R=$!
	KIDS+=("$R")
	wait "$W" || fail "writer ($mode) failed: $(tail -n 5 "$T/writer-$mode.err")"
	sleep 0.5 # the reader reads the final version too
	touch "$T/stop"
	wait "$R" || fail "reader ($mode): $(cat "$T/reader-$mode.out" 2>/dev/null) $(tail -n 5 "$T/reader-$mode.err")"
	log "reader ($mode): $(cat "$T/reader-$mode.out")"
	grep -qE '^reads=[0-9]+ distinct=([2-9]|[1-9][0-9])' "$T/reader-$mode.out" || fail "reader ($mode) saw fewer than 2 versions: $(cat "$T/reader-$mode.out")"
	[ "$(cur_latest)" = last.ckpt ] || fail "latest is '$(cur_latest)', expected last.ckpt"
	not_listed last.ckpt.tmp || fail "last.ckpt.tmp still listed after os.replace"
done
cmp -s "$MNT/last.ckpt" "$T/scratch-replace/last.ckpt.tmp" || fail "last.ckpt is not the final version"
e2e_umount
log "PASS"
