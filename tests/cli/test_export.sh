#!/usr/bin/env bash
# ckpt export: byte-identical plain copies (directory or file, modes, mtimes,
# symlinks), latest / best_<metric>, existing DEST refused, no partial result.
. "$(dirname "$0")/lib.sh"

DESC='{"checkpoints": [
 {"name": "checkpoint-100", "files": [
   {"path": "model.pt", "size": 2500000, "seed": 1, "mode": 384, "mtime": 1700000000},
   {"path": "sub/deep/opt.bin", "size": 10000, "seed": 2, "mode": 416, "mtime": 1700000100},
   {"path": "run.sh", "text": "#!/bin/sh\necho hi\n", "mode": 493, "mtime": 1700000200},
   {"path": "empty.txt", "text": "", "mtime": 1700000300},
   {"path": "metrics.json", "text": "{\"val_loss\": 0.25}", "mtime": 1700000400},
   {"path": "link", "symlink": "sub/deep/opt.bin"},
   {"path": "dangling", "symlink": "../nowhere"},
   {"path": "emptydir", "dir": true}]},
 {"name": "last.ckpt", "kind": "file", "size": 1234567, "seed": 7, "mode": 384, "mtime": 1700000500}
]}'
S=$T/store
mkstore "$S" <<<"$DESC"
mkplain "$T/expect" <<<"$DESC"

# same_tree A B: same entries, types, file bytes (sha256), modes, file
# mtimes and symlink targets
same_tree() {
	"$PY" - "$1" "$2" <<'PYEOF' 2>"$T/.pyerr"
import hashlib, os, stat, sys
def walk(root):
    out = {}
    def one(rel, p):
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            out[rel] = ('link', os.readlink(p))
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = ('dir', stat.S_IMODE(st.st_mode))
            for n in os.listdir(p):
                one(os.path.join(rel, n), os.path.join(p, n))
        else:
            h = hashlib.sha256(open(p, 'rb').read()).hexdigest()
            out[rel] = ('file', h, st.st_size, stat.S_IMODE(st.st_mode), int(st.st_mtime))
    one('.', root)
    return out
a, b = walk(sys.argv[1]), walk(sys.argv[2])
assert set(a) == set(b), ('entries differ', sorted(set(a) ^ set(b)))
for k in a:
    if a[k][0] == 'dir' and k == '.':
        assert b[k][0] == 'dir', k    # the top mode is the checkpoint's own
        continue
    assert a[k] == b[k], (k, a[k], b[k])
PYEOF
}
no_temp_left() {
	local left
	left=$(find "$T/out" -maxdepth 1 -name '*tmp*' 2>/dev/null)
	[ -z "$left" ] || fail "temporary export files left: $left"
}
mkdir "$T/out"

# ---- a directory checkpoint
run 0 export "$S" checkpoint-100 "$T/out/c100" && {
	[ -d "$T/out/c100" ] || fail "DEST of a directory checkpoint is not a directory"
	same_tree "$T/expect/checkpoint-100" "$T/out/c100" && pass "dir export is byte-identical" ||
		fail "dir export differs: $(tail -n 2 "$T/.pyerr")"
	[ -L "$T/out/c100/link" ] && [ "$(readlink "$T/out/c100/link")" = sub/deep/opt.bin ] &&
		pass "symlinks stay symlinks" || fail "symlink not kept"
	[ "$(stat -c %a "$T/out/c100/run.sh")" = 755 ] && [ "$(stat -c %Y "$T/out/c100/model.pt")" = 1700000000 ] &&
		pass "modes and mtimes kept" || fail "mode/mtime: $(stat -c '%a %Y' "$T/out/c100/run.sh" "$T/out/c100/model.pt")"
}
# ---- a single-file checkpoint
run 0 export "$S" last.ckpt "$T/out/last.ckpt" && {
	[ -f "$T/out/last.ckpt" ] || fail "DEST of a file checkpoint is not a regular file"
	[ "$(sha256sum <"$T/out/last.ckpt")" = "$(sha256sum <"$T/expect/last.ckpt")" ] &&
		pass "file export is byte-identical" || fail "file export differs"
	[ "$(stat -c '%a %Y %s' "$T/out/last.ckpt")" = "600 1700000500 1234567" ] &&
		pass "file mode, mtime, size kept" || fail "file attrs: $(stat -c '%a %Y %s' "$T/out/last.ckpt")"
}
# ---- virtual names
run 0 export "$S" latest "$T/out/latest" && cmp -s "$T/out/latest" "$T/expect/last.ckpt" &&
	pass "export latest (a file checkpoint)" || fail "export latest"
run 0 export "$S" best_val_loss "$T/out/best" && same_tree "$T/expect/checkpoint-100" "$T/out/best" &&
	pass "export best_val_loss" || fail "export best_val_loss: $(tail -n 2 "$T/.pyerr")"
# trailing slash on DEST, and --json
run 0 export "$S" checkpoint-100 "$T/out/slash/" --json && jcheck "export --json" "$OUT" "
assert j['name'] == 'checkpoint-100' and j['kind'] == 'dir' and j['files'] == 5, j
assert j['bytes'] == 2500000 + 10000 + 18 + 0 + 18, j" &&
	[ -d "$T/out/slash" ] || fail "trailing slash DEST"
no_temp_left
# an aborted checkpoint can be exported for inspection
"$MKSTORE" "$S" - >/dev/null <<'JSON' || fail "mkstore: aborted one"
{"checkpoints": [{"name": "bad", "files": [{"path": "w.bin", "size": 5000, "seed": 11}], "state": "aborted"}]}
JSON
mkplain "$T/expect2" <<'JSON'
{"checkpoints": [{"name": "bad", "files": [{"path": "w.bin", "size": 5000, "seed": 11}]}]}
JSON
run 0 export "$S" bad "$T/out/bad" && cmp -s "$T/out/bad/w.bin" "$T/expect2/bad/w.bin" &&
	pass "export of an aborted checkpoint" || fail "export of an aborted checkpoint"

# ---- an existing DEST is refused and left alone
mkdir "$T/out/exists"
run 1 export "$S" checkpoint-100 "$T/out/exists" && [ -z "$(ls -A "$T/out/exists")" ] &&
	pass "existing directory DEST refused" || fail "existing directory DEST"
echo keep >"$T/out/existing-file"
run 1 export "$S" last.ckpt "$T/out/existing-file" && [ "$(cat "$T/out/existing-file")" = keep ] &&
	pass "existing file DEST refused" || fail "existing file DEST"
ln -s "$T/nowhere" "$T/out/dangling"
run 1 export "$S" last.ckpt "$T/out/dangling" && [ ! -e "$T/nowhere" ] &&
	pass "dangling symlink DEST refused, not followed" || fail "dangling symlink DEST"
run 1 export "$S" last.ckpt "$T/no/such/dir/x" && pass "missing parent refused"
run 4 export "$S" no-such "$T/out/none" && [ ! -e "$T/out/none" ] && pass "missing checkpoint: no DEST"
no_temp_left

# ---- an export that fails half-way leaves nothing that looks complete
if [ "$(id -u)" != 0 ]; then
	mkdir "$T/ro" && chmod 555 "$T/ro"
	run 1 export "$S" checkpoint-100 "$T/ro/x" && [ ! -e "$T/ro/x" ] && pass "unwritable parent: no DEST"
fi

finish
