# Shared helpers for the CLI tests (sourced by tests/cli/test_*.sh; not a test).
# Env (set by CTest): CKPT = ckpt binary, CKPT_BUILD = build dir (mkstore),
# CKPTFS = mount binary, CKPT_SRC = source dir.
set -uo pipefail
umask 022

if [ -z "${CKPT:-}" ] || [ ! -x "$CKPT" ]; then
	echo "skip: CKPT (the ckpt binary) not set or not executable"
	exit 77
fi
MKSTORE=${MKSTORE:-${CKPT_BUILD:-$(dirname "$CKPT")}/mkstore}
if [ ! -x "$MKSTORE" ]; then
	echo "skip: mkstore helper not built ($MKSTORE)"
	exit 77
fi
# The JSON checks need only the standard library; prefer the system python.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

T=$(mktemp -d "${TMPDIR:-/tmp}/ckpt-cli.XXXXXX")
cleanup_tmp() { chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"; }
trap cleanup_tmp EXIT

FAILS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }

# run WANT_RC ARGS...: runs ckpt; stdout in $OUT, stderr in $ERR; a wrong
# exit code is a failure (returns 1).
run() {
	local want=$1 rc
	shift
	OUT=$("$CKPT" "$@" 2>"$T/.stderr")
	rc=$?
	ERR=$(cat "$T/.stderr")
	RC=$rc
	if [ "$rc" != "$want" ]; then
		fail "ckpt $*: exit $rc, want $want; stderr: $ERR"
		return 1
	fi
	return 0
}

# jcheck NAME JSON PYCODE: PYCODE runs with j = the parsed JSON (and json,
# os, re, sys, datetime imported) and must assert what it checks.
jcheck() {
	local name=$1 json=$2 code=$3
	if printf '%s' "$json" | "$PY" -c "import json, os, re, sys, datetime
j = json.load(sys.stdin)
$code" 2>"$T/.pyerr"; then
		pass "$name"
	else
		fail "$name: $(tail -n 3 "$T/.pyerr" | tr '\n' ' ')"
	fi
}

# mkstore STORE <<JSON: builds a store; any failure fails the test at once.
mkstore() {
	if ! "$MKSTORE" "$1" - >"$T/.mkstore.out" 2>"$T/.mkstore.err"; then
		fail "mkstore $1: $(cat "$T/.mkstore.err")"
		finish
	fi
}

# mkplain DIR <<JSON: the same description as plain files (expected exports).
mkplain() {
	mkdir -p "$1"
	if ! "$MKSTORE" --plain "$1" - >/dev/null 2>"$T/.mkstore.err"; then
		fail "mkstore --plain $1: $(cat "$T/.mkstore.err")"
		finish
	fi
}

finish() {
	if [ "$FAILS" -gt 0 ]; then
		echo "$FAILS failure(s)"
		exit 1
	fi
	echo "all passed"
	exit 0
}
