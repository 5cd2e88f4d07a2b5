#!/usr/bin/env bash
# Which source files of a directory call each other in a cycle.
#
#   bash tools/cycles.sh [-v] BUILD DIR...     e.g.  bash tools/cycles.sh build fs core
#
# Reads the object files CMake built from DIR/*.c under BUILD (build first):
# file A depends on file B when an undefined symbol of A.o is a global
# function or variable defined in B.o. Prints the files that sit in a
# cycle (A reaches B and B reaches A) and exits 1 when there is one, 0 when
# the files form layers. -v also prints every edge with the symbols behind
# it. Only calls between files of the same DIR count.
set -euo pipefail

verbose=0
if [ "${1:-}" = -v ]; then
	verbose=1
	shift
fi
if [ $# -lt 2 ]; then
	echo "usage: $0 [-v] BUILD DIR..." >&2
	exit 2
fi
build=$1
shift
found=0
for dir in "$@"; do
	# one object per source file (a file compiled into two targets counts once)
	mapfile -t objs < <(find "$build" -path "*/CMakeFiles/*" -name '*.c.o' -path "*/$dir/*" |
		awk -v d="$dir" '{ f = $0; sub(".*/" d "/", "", f); sub(/\.c\.o$/, "", f)
			if (f !~ /\// && !(f in seen)) { seen[f] = 1; print f "\t" $0 } }' | sort)
	if [ ${#objs[@]} -eq 0 ]; then
		echo "$dir: no object files under $build (build first)" >&2
		exit 2
	fi
	for row in "${objs[@]}"; do
		name=${row%%$'\t'*} obj=${row#*$'\t'}
		nm --defined-only -g "$obj" | awk -v f="$name.c" '$2 ~ /^[TDBR]$/ { print "def", f, $3 }'
		nm -u "$obj" | awk -v f="$name.c" '{ print "use", f, $NF }'
	done | awk -v dir="$dir" -v verbose=$verbose '
		$1 == "def" { owner[$3] = $2; files[$2] = 1; next }
		{ uses[++n] = $2 SUBSEP $3 }
		END {
			for (i = 1; i <= n; i++) {
				split(uses[i], u, SUBSEP)
				if (!(u[2] in owner) || owner[u[2]] == u[1]) continue
				e = u[1] SUBSEP owner[u[2]]
				if (!(e in edge)) { edge[e] = u[2]; out[u[1]] = out[u[1]] " " owner[u[2]] }
				else if (index(" " edge[e] " ", " " u[2] " ") == 0) edge[e] = edge[e] " " u[2]
			}
			if (verbose)
				for (e in edge) { split(e, p, SUBSEP); printf "%s/%s -> %s/%s: %s\n", dir, p[1], dir, p[2], edge[e] | "sort" }
			close("sort")
			# reach[a,b]: a reaches b (graph search from every file)
			for (a in files) {
				delete seen; m = 0; stack[++m] = a
				while (m > 0) {
					x = stack[m--]; k = split(out[x], nx, " ")
					for (j = 1; j <= k; j++) if (!(nx[j] in seen)) { seen[nx[j]] = 1; reach[a, nx[j]] = 1; stack[++m] = nx[j] }
				}
			}
			c = 0
			for (a in files) if ((a, a) in reach) { list = list " " dir "/" a; c++ }
			printf "%s: %d file(s) in a dependency cycle:%s\n", dir, c, c ? list : " none"
			exit c > 0
		}' || found=1
done
exit $found
