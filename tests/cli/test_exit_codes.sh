#!/usr/bin/env bash
# Exit codes and one-line errors: 2 usage, 3 store missing or unusable,
# 4 no such checkpoint; the CLI never creates a store.
. "$(dirname "$0")/lib.sh"

S=$T/store
mkstore "$S" <<'JSON'
{"checkpoints": [
 {"name": "step-100", "files": [{"path": "a.bin", "size": 1000, "seed": 1}]},
 {"name": "step-200", "files": [{"path": "a.bin", "size": 1000, "seed": 2}],
  "metrics": {"val_loss": 0.5}}
]}
JSON

oneline() { # the error is one line "ckpt: CMD: ..."
	local cmd=$1
	[ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ] && [[ "$ERR" == "ckpt: $cmd: "* ]] ||
		fail "error for $cmd is not one 'ckpt: $cmd: ...' line: $ERR"
}

# usage errors: 2
run 2 && pass "no arguments -> 2"
run 2 frobnicate "$S" && oneline frobnicate && pass "unknown command -> 2"
run 2 ls && oneline ls && pass "missing STORE -> 2"
run 2 ls "$S" --bogus && oneline ls && pass "unknown option -> 2"
run 2 ls "$S" extra && pass "extra argument -> 2"
run 2 show "$S" && oneline show && pass "show without NAME -> 2"
run 2 export "$S" step-100 && pass "export without DEST -> 2"
run 2 gc "$S" --all && pass "option of another command -> 2"
run 2 policy "$S" no_such_option=1 && oneline policy && pass "unknown policy option -> 2"
run 2 policy "$S" keep_last=banana && oneline policy && pass "bad policy value -> 2"

# store missing or unusable: 3, nothing created
run 3 ls "$T/nope" && oneline ls && pass "missing store -> 3"
[ ! -e "$T/nope" ] || fail "ls created the missing store"
mkdir "$T/empty"
run 3 stats "$T/empty" && pass "directory that is not a store -> 3"
run 3 pin "$T/empty" step-100 && pass "pin in a non-store -> 3"
run 3 gc "$T/empty" && pass "gc in a non-store -> 3"
run 3 policy "$T/empty" keep_last=1 && pass "policy set in a non-store -> 3"
[ -z "$(ls -A "$T/empty")" ] || fail "a command created files in a non-store: $(ls -A "$T/empty")"
: >"$T/file"
run 3 ls "$T/file" && pass "STORE is a file -> 3"

# no such checkpoint: 4
run 4 show "$S" step-999 && oneline show && pass "show missing -> 4"
run 4 show "$S" best_no_such_metric && pass "unknown best_ metric -> 4"
run 4 export "$S" step-999 "$T/out" && pass "export missing -> 4"
[ ! -e "$T/out" ] || fail "failed export created DEST"
run 4 pin "$S" step-999 && pass "pin missing -> 4"
run 4 unpin "$S" step-999 && pass "unpin missing -> 4"
run 4 commit "$S" step-999 && pass "commit missing -> 4"

# sanity: the same commands succeed on real names
run 0 show "$S" step-100 && run 0 show "$S" best_val_loss && run 0 pin "$S" step-100 &&
	run 0 unpin "$S" step-100 && pass "the same commands work on real names"

# a newer store format is refused with a clear error (3)
cp -a "$S" "$T/newer"
if command -v sqlite3 >/dev/null; then
	sqlite3 "$T/newer/index.db" "PRAGMA user_version = 999;" &&
		run 3 ls "$T/newer" && oneline ls && pass "newer format version -> 3"
fi

finish
