#!/usr/bin/env bash
# Getting a checkpoint out: `cp -r MNT/latest DEST` and
# `ckpt export STORE latest DEST2` both give a tree byte-identical to what was
# written (sha256 of every file, same set of files and directories); export of
# a single-file checkpoint gives a file; an existing DEST is refused.
source "$(dirname "$0")/../e2e/lib.sh"
e2e_init
e2e_mount

mk_tree() { # mk_tree DIR SEED: nested files of assorted sizes, an empty file and dir
	local d=$1 s=$2
	mkdir -p "$d/model/layers/0" "$d/model/layers/1" "$d/optim" "$d/empty_dir"
	head -c $((3 * 1024 * 1024 + s)) /dev/urandom >"$d/model/weights.bin"
	head -c $((131072 * 2)) /dev/zero >"$d/model/zeros.bin" # dedup-friendly
	head -c $((4096 + s)) /dev/urandom >"$d/model/layers/0/w"
	head -c 1 /dev/urandom >"$d/model/layers/1/w"
	: >"$d/model/layers/1/empty"
	head -c 700001 /dev/urandom >"$d/optim/state.bin"
	printf '{"step": %d, "val_loss": 0.%d}\n' "$s" "$s" >"$d/metadata.json"
	printf 'name with spaces\n' >"$d/model/a file with spaces.txt"
}
dirs() { (cd "$1" && find . -type d | sort); }

mk_tree "$T/src1" 11
mk_tree "$T/src2" 22
cp -r "$T/src1" "$MNT/run-1" || fail "cp -r into the mount failed"
wait_latest run-1
cp -r "$T/src2" "$MNT/run-2" || fail "cp -r into the mount failed"
wait_latest run-2
head -c 1234567 /dev/urandom >"$T/single.pt"
cp "$T/single.pt" "$MNT/single-step=3.pt" || fail "cp of a single file failed"
wait_latest single-step=3.pt
# latest is now the single file; read the directory one through its name and run-2 through latest again
rm "$MNT/single-step=3.pt" || fail "rm of single-step=3.pt failed"
wait_latest run-2

cp -r "$MNT/latest" "$T/dest" || fail "cp -r MNT/latest DEST failed"
[ "$(tree_sums "$T/dest")" = "$(tree_sums "$T/src2")" ] || {
	diff <(tree_sums "$T/src2") <(tree_sums "$T/dest") >&2
	fail "cp -r MNT/latest differs from what was written"
}
[ "$(dirs "$T/dest")" = "$(dirs "$T/src2")" ] || fail "cp -r MNT/latest: directory set differs"
(cd "$MNT/run-1" && cp -r . "$T/dest1") || fail "cd MNT/run-1 && cp -r . DEST failed"
[ "$(tree_sums "$T/dest1")" = "$(tree_sums "$T/src1")" ] || fail "copy of run-1 differs from what was written"

if ! have_ckpt; then
	log "SKIP export half: no ckpt binary at $CKPT"
elif "$CKPT" export 2>&1 | grep -qiE 'unknown (command|subcommand)|not implemented|usage: ckpt (ls|show)'; then
	log "SKIP export half: ckpt export not implemented yet"
else
	"$CKPT" export "$STORE" latest "$T/dest2" || fail "ckpt export STORE latest DEST2 failed"
	[ "$(tree_sums "$T/dest2")" = "$(tree_sums "$T/src2")" ] || {
		diff <(tree_sums "$T/src2") <(tree_sums "$T/dest2") >&2
		fail "ckpt export latest differs from what was written"
	}
	[ "$(dirs "$T/dest2")" = "$(dirs "$T/src2")" ] || fail "ckpt export: directory set differs"
	"$CKPT" export "$STORE" run-1 "$T/dest3" || fail "ckpt export STORE run-1 DEST failed"
	[ "$(tree_sums "$T/dest3")" = "$(tree_sums "$T/src1")" ] || fail "ckpt export run-1 differs"
	cp "$T/single.pt" "$MNT/other.pt" || fail "cp of a single file failed"
	wait_latest other.pt
	"$CKPT" export "$STORE" latest "$T/single-out" || fail "ckpt export of a single-file checkpoint failed"
	[ -f "$T/single-out" ] && cmp -s "$T/single-out" "$T/single.pt" || fail "single-file export is not a byte-identical file"
	mkdir "$T/exists"
	if "$CKPT" export "$STORE" run-1 "$T/exists" 2>"$T/exists.err"; then
		fail "ckpt export onto an existing DEST succeeded"
	fi
	[ -z "$(ls -A "$T/exists")" ] || fail "refused export still wrote into the existing DEST"
	log "export half passed"
fi
e2e_umount
log "PASS"
