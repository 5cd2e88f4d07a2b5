#!/usr/bin/env bash
# ckpt export follows directory nesting as deep as the store keeps it
# (STORE_DEPTH_MAX, 4096): checkpoints 600 and 1800 levels deep export
# byte-identically (entries, types, bytes, modes, mtimes), with a constant
# number of open files, and a failed deep export leaves nothing behind.
. "$(dirname "$0")/lib.sh"

# desc DEPTH: a checkpoint with a file at every 100th level and at the bottom.
desc() {
	"$PY" - "$1" <<'PY'
import json, sys
depth = int(sys.argv[1])
files = []
for lvl in list(range(100, depth, 100)) + [depth]:
    files.append({"path": "d/" * lvl + "f%d.bin" % lvl, "size": 3000 + lvl, "seed": lvl,
                  "mode": 416, "mtime": 1700000000 + lvl})
files.append({"path": "d/" * (depth - 1) + "link", "symlink": "f%d.bin" % depth})
print(json.dumps({"checkpoints": [{"name": "deep-%d" % depth, "files": files}]}))
PY
}

# tree_list DIR OUT: OUT.ls, one sorted line per entry: path, type, mode,
# symlink target, and size and whole-second mtime of files (mkplain leaves
# directory and link times at "now"); OUT.sha: sha256 of every file.
tree_list() {
	(cd "$1" && find . -printf '%p|%y|%m|%l|%s|%T@\n' |
		awk -F'|' -v OFS='|' '{ if ($2 == "f") $6 = int($6); else $5 = $6 = "" } { print }' | sort) >"$2.ls"
	(cd "$1" && find . -type f -exec sha256sum {} + | sort) >"$2.sha"
}

for depth in 600 1800; do
	D=$(desc "$depth")
	S=$T/store-$depth
	mkstore "$S" <<<"$D"
	mkplain "$T/expect-$depth" <<<"$D"
	mkdir -p "$T/out-$depth"
	# A low open-file limit: the export must not hold one per level.
	if OUT=$(ulimit -n 64 && "$CKPT" export "$S" "deep-$depth" "$T/out-$depth/x" 2>&1); then
		tree_list "$T/expect-$depth/deep-$depth" "$T/want-$depth"
		tree_list "$T/out-$depth/x" "$T/got-$depth"
		if cmp -s "$T/want-$depth.sha" "$T/got-$depth.sha" &&
		   diff <(grep -v '^\. ' "$T/want-$depth.ls") <(grep -v '^\. ' "$T/got-$depth.ls") >"$T/diff"; then
			pass "export of a $depth-level checkpoint is identical"
		else
			fail "export of a $depth-level checkpoint differs: $(tail -c 600 "$T/diff")"
		fi
		[ "$(grep -c . "$T/got-$depth.sha")" -eq $((depth / 100)) ] ||
			fail "$depth levels: $(grep -c . "$T/got-$depth.sha") files exported"
	else
		fail "export of a $depth-level checkpoint: $OUT"
	fi
done

# A failed deep export (the bottom file's chunk is missing) removes its
# whole temporary tree, under the same open-file limit.
h=$(sha256sum "$T/expect-1800/deep-1800/$("$PY" -c 'print("d/" * 1800)')f1800.bin" | cut -d' ' -f1)
rm -f "$T/store-1800/chunks/${h:0:2}/$h"
if OUT=$(ulimit -n 64 && "$CKPT" export "$T/store-1800" deep-1800 "$T/out-1800/y" 2>&1); then
	fail "export with a missing chunk succeeded"
else
	left=$(find "$T/out-1800" -mindepth 1 -maxdepth 1 ! -name x)
	[ -z "$left" ] && pass "a failed deep export leaves nothing ($OUT)" || fail "left behind: $left ($OUT)"
fi
finish
