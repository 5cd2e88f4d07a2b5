#!/usr/bin/env bash
# The C style is .clang-format's (clang-format 14, Debian 12): tools/format.sh
# rewrites every C file in place; tools/format.sh --check (run by
# tests/run_all.sh) lists the files that differ and exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files 'core/*.[ch]' 'fs/*.[ch]' 'tools/*.c' 'tools/bench/*.c' \
	'tests/*.[ch]' 'tests/tools/*.c' 'tests/fuzz/*.c')
if [ "${1:-}" = --check ]; then
	bad=()
	for f in "${files[@]}"; do
		clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
	done
	if [ ${#bad[@]} -gt 0 ]; then
		echo "format: ${#bad[@]} file(s) differ from .clang-format (fix: bash tools/format.sh):" >&2
		printf '  %s\n' "${bad[@]}" >&2
		exit 1
	fi
	echo "format: ${#files[@]} files match .clang-format"
else
	clang-format -i "${files[@]}"
fi
