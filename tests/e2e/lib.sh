# shellcheck shell=bash
# Shared helpers for tests/e2e and tests/faults (sourced, not run).
#
#   source "$(dirname "$0")/../e2e/lib.sh"
#   e2e_init            # checks binaries, makes $T, $STORE, $MNT, installs the trap
#   e2e_mount [OPTS]    # mounts $STORE on $MNT (-f, settle_ms=300[,OPTS]) in the background
#   e2e_umount          # clean unmount, waits for the daemon
#   e2e_kill_daemon     # kill -9 of our daemon (the dead mount stays)
#   e2e_crash           # kill -9 of our daemon, lazy unmount of the dead mount
#
# Every test mounts in a fresh temporary directory; the EXIT trap always
# unmounts (fusermount3 -u, else -uz), kills only this test's daemon, and
# removes the temporary directory (never while something is mounted in it).
# Exit code 77 = skipped (CTest SKIP_RETURN_CODE).

set -uo pipefail

PY=/usr/bin/python3
SETTLE_MS=${SETTLE_MS:-300}
E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TESTNAME=$(basename "$0" .sh)
: "${CKPT_BUILD:=${CKPT_SRC:-$E2E_DIR/../..}/build-e2e}"
: "${CKPTFS:=$CKPT_BUILD/ckptfs}"
: "${CKPT:=$CKPT_BUILD/ckpt}"
export PY SETTLE_MS CKPTFS CKPT

T=
STORE=
MNT=
DAEMON=
EXTRA_MOUNTS=() # other mount points (tmpfs, second mounts) to take down in the trap
KIDS=()         # background helper processes started by the test

log() { printf '[%s %s] %s\n' "$TESTNAME" "$(date +%T)" "$*" >&2; }
fail() {
	printf '[%s] FAIL: %s\n' "$TESTNAME" "$*" >&2
	if [ -n "$T" ] && [ -s "$T/daemon.log" ]; then
		echo "--- daemon log (tail) ---" >&2
		tail -n 30 "$T/daemon.log" >&2
	fi
	exit 1
}
skip() { printf '[%s] SKIP: %s\n' "$TESTNAME" "$*" >&2; exit 77; }

is_mounted() { # is_mounted DIR
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts
}

e2e_unmount_dir() { # unmount DIR however we can
	local d=$1 i
	is_mounted "$d" || return 0
	for i in 1 2 3 4 5 6; do
		fusermount3 -u "$d" 2>/dev/null && break
		umount "$d" 2>/dev/null && break
		sleep 0.5
	done
	if is_mounted "$d"; then
		fusermount3 -uz "$d" 2>/dev/null || umount -l "$d" 2>/dev/null || true
	fi
}

e2e_wait_daemon_gone() {
	local i
	[ -n "$DAEMON" ] || return 0
	for i in $(seq 100); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$DAEMON" 2>/dev/null; then
		kill "$DAEMON" 2>/dev/null
		sleep 0.5
		kill -9 "$DAEMON" 2>/dev/null
	fi
	wait "$DAEMON" 2>/dev/null
	DAEMON=
}

e2e_cleanup() {
	local rc=$? p m
	trap - EXIT INT TERM
	# only helpers that are still unreaped jobs of this shell (no stale PIDs)
	local live
	live=" $(jobs -p | tr '\n' ' ') "
	for p in "${KIDS[@]}"; do
		case "$live" in *" $p "*) kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null ;; esac
	done
	if [ -n "$MNT" ]; then e2e_unmount_dir "$MNT"; fi
	e2e_wait_daemon_gone
	for m in "${EXTRA_MOUNTS[@]}"; do e2e_unmount_dir "$m"; done
	if [ -n "$T" ] && [ -d "$T" ]; then
		if awk -v t="$T/" 'index($2, t) == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
			echo "[$TESTNAME] something is still mounted under $T; left it in place" >&2
		elif [ -n "${KEEP_TMP:-}" ]; then
			echo "[$TESTNAME] kept $T" >&2
		else
			rm -rf "$T"
		fi
	fi
	exit "$rc"
}

e2e_init() {
	[ -e /dev/fuse ] || skip "no /dev/fuse"
	command -v fusermount3 >/dev/null || skip "no fusermount3"
	[ -x "$CKPTFS" ] || skip "no ckptfs binary at $CKPTFS"
	T=$(mktemp -d "/tmp/ckptfs-$TESTNAME.XXXXXX")
	STORE=$T/store
	MNT=$T/mnt
	mkdir -p "$MNT"
	trap e2e_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

have_ckpt() { [ -x "$CKPT" ]; }

e2e_mount() { # e2e_mount [extra -o options]
	local opts="settle_ms=$SETTLE_MS" i
	[ -n "${1:-}" ] && opts="$opts,$1"
	"$CKPTFS" "$STORE" "$MNT" -f -o "$opts" >>"$T/daemon.log" 2>&1 &
	DAEMON=$!
	for i in $(seq 200); do
		if mountpoint -q "$MNT"; then return 0; fi
		if ! kill -0 "$DAEMON" 2>/dev/null; then
			wait "$DAEMON"
			local st=$?
			DAEMON=
			fail "ckptfs exited ($st) before mounting: $(tail -n 5 "$T/daemon.log")"
		fi
		sleep 0.05
	done
	fail "mount did not appear within 10 s"
}

e2e_umount() {
	e2e_unmount_dir "$MNT"
	e2e_wait_daemon_gone
}

e2e_kill_daemon() { # kill -9 our daemon (the mount stays, dead)
	[ -n "$DAEMON" ] && { kill -9 "$DAEMON"; wait "$DAEMON"; } 2>/dev/null
	DAEMON=
}

e2e_crash() { # kill -9 the daemon, take the dead mount down
	e2e_kill_daemon
	fusermount3 -uz "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
	local i
	for i in $(seq 50); do is_mounted "$MNT" || return 0; sleep 0.1; done
	fail "dead mount still present at $MNT"
}

cur_latest() { cat "$MNT/.ckptfs/latest" 2>/dev/null | head -n 1; }

# wait_until SECONDS COMMAND... : polls COMMAND until it succeeds (not a timing
# assertion: the limit is generous, it only stops a hung test).
wait_until() {
	local limit=$1 i n
	shift
	n=$((limit * 20))
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.05
	done
	"$@"
}

latest_is() { [ "$(cur_latest)" = "$1" ]; }
wait_latest() { # wait_latest NAME [SECONDS]
	wait_until "${2:-15}" latest_is "$1" || fail "latest is '$(cur_latest)', expected '$1'"
}
listed() { ls -1A "$MNT" 2>/dev/null | grep -Fxq -- "$1"; }
not_listed() { ! listed "$1"; }

# tree_sums DIR: "sha256  relative/path" of every regular file, sorted.
tree_sums() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}
