#!/usr/bin/env bash
# STORE omitted: ckpt uses $CKPT_STORE (a word short of the command's
# arity); usage error (2) when neither is given; an explicit STORE wins.
. "$(dirname "$0")/lib.sh"

unset CKPT_STORE
S=$T/store
mkstore "$S" <<'JSON'
{"checkpoints": [
 {"name": "step-100", "files": [{"path": "a.bin", "size": 1000, "seed": 1}]},
 {"name": "step-200", "files": [{"path": "a.bin", "size": 1000, "seed": 2}]}
]}
JSON

run 0 ls "$S" && want_ls=$OUT
CKPT_STORE=$S run 0 ls && [ "$OUT" = "$want_ls" ] && pass "ls without STORE uses CKPT_STORE" ||
	fail "ls with CKPT_STORE differs: $OUT"
CKPT_STORE=$S run 0 show step-100 --json &&
	jcheck "show NAME without STORE" "$OUT" 'assert j["name"] == "step-100", j'
CKPT_STORE=$S run 0 pin step-200 && run 0 show "$S" step-200 --json &&
	jcheck "pin NAME without STORE pins in CKPT_STORE" "$OUT" 'assert j["pinned"], j'
CKPT_STORE=$T/nope run 0 show "$S" step-100 && pass "explicit STORE wins over CKPT_STORE"
CKPT_STORE=$T/nope run 3 ls && [[ "$ERR" == "ckpt: ls: "* ]] && pass "CKPT_STORE missing store -> 3"
run 2 ls && [[ "$ERR" == *"missing STORE"* ]] && pass "neither STORE nor CKPT_STORE -> 2"
CKPT_STORE= run 2 show step-100 && pass "empty CKPT_STORE is unset -> 2"

[ "$FAILS" -eq 0 ]
