#!/usr/bin/env bash
# cmake --install into a temp prefix: both tools, their man pages and the
# systemd unit land there; the installed tools answer --version (the
# project's VERSION) and -h/--help (usage on stdout, exit 0); the installed
# ckptfs mounts a store; both man pages render without warnings; the unit,
# whose ExecStart names the prefix's ckptfs, passes systemd-analyze verify.
. "$(dirname "$0")/lib.sh"

P=$T/prefix
cmake --install "$CKPT_BUILD" --prefix "$P" >"$T/install.log" 2>&1 ||
  { cat "$T/install.log" >&2; fail "cmake --install failed"; }
for f in bin/ckptfs bin/ckpt share/man/man8/ckptfs.8 share/man/man1/ckpt.1 \
  lib/systemd/system/ckptfs@.service; do
  assert_exists "$P/$f" "installed $f"
done

version=$(sed -n 's/^project(ckptfs VERSION \([0-9.]*\).*/\1/p' "$CKPT_SRC/CMakeLists.txt")
[ -n "$version" ] || fail "CMakeLists.txt has no project VERSION"
for tool in ckptfs ckpt; do
  out=$("$P/bin/$tool" --version) || fail "$tool --version exited $?"
  assert_eq "$out" "$tool $version" "$tool --version"
  for h in -h --help; do
    out=$("$P/bin/$tool" $h 2>"$T/err") || fail "$tool $h exited $?"
    [ -s "$T/err" ] && fail "$tool $h wrote to stderr: $(cat "$T/err")"
    grep -q "^usage: $tool " <<<"$out" || fail "$tool $h: no usage on stdout: $out"
  done
done

# The installed ckptfs serves a store.
CKPTFS=$P/bin/ckptfs
start_mount
printf 'hello' >"$MNT/one.bin"
wait_for is_latest one.bin || fail "installed ckptfs did not commit one.bin"
assert_eq "$("$P/bin/ckpt" ls "$STORE" --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)[0]["name"])')" \
  one.bin "installed ckpt ls"
stop_mount

# Man pages: render with no warnings (man-db's groff -ww), and every option
# and command the tools list in their usage appears in the page.
command -v man >/dev/null || { [ "${CI:-}" = true ] && fail "man not installed"; echo "SKIP: man (man-db) not installed" >&2; exit 77; }
for page in man8/ckptfs.8 man1/ckpt.1; do
  MANWIDTH=80 man --warnings -l "$P/share/man/$page" >"$T/page.txt" 2>"$T/man.err" ||
    fail "man -l $page exited $?: $(cat "$T/man.err")"
  [ -s "$T/man.err" ] && fail "man --warnings -l $page: $(cat "$T/man.err")"
  [ "$(wc -l <"$T/page.txt")" -gt 40 ] || fail "$page renders to almost nothing"
done
MANWIDTH=80 man -l "$P/share/man/man1/ckpt.1" 2>/dev/null | col -b >"$T/ckpt.txt"
for cmd in $("$P/bin/ckpt" --help | sed -n 's/^  ckpt \([a-z]*\) .*/\1/p'); do
  grep -q "^ *ckpt $cmd\b" "$T/ckpt.txt" || fail "ckpt(1) does not document '$cmd'"
done
MANWIDTH=80 man -l "$P/share/man/man8/ckptfs.8" 2>/dev/null | col -b >"$T/ckptfs.txt"
for opt in keep_last keep_best keep_every metric compress settle_ms hide_virtual latest_name \
  best_prefix plain commit commit_marker commit_timeout_ms index chunks allow_other quiet \
  clone_fd max_threads max_idle_threads; do
  grep -q "\b$opt\b" "$T/ckptfs.txt" || fail "ckptfs(8) does not document -o $opt"
done

# The unit: ExecStart is the prefix's ckptfs; systemd-analyze verify passes.
grep -q "^ExecStart=$P/bin/ckptfs " "$P/lib/systemd/system/ckptfs@.service" ||
  fail "unit's ExecStart does not name $P/bin/ckptfs"
if ! command -v systemd-analyze >/dev/null; then
  [ "${CI:-}" = true ] && fail "systemd-analyze not installed"
  echo "SKIP: systemd-analyze not installed (package systemd)" >&2
  exit 77
fi
mkdir "$T/units"
cp "$P/lib/systemd/system/ckptfs@.service" "$T/units/"
# verify needs an instance; the template is loaded from the unit path.
SYSTEMD_UNIT_PATH="$T/units:" systemd-analyze verify --man=no "$T/units/ckptfs@mnt-ckpt.service" \
  >"$T/verify.log" 2>&1 || fail "systemd-analyze verify: $(cat "$T/verify.log")"
[ -s "$T/verify.log" ] && fail "systemd-analyze verify warned: $(cat "$T/verify.log")"
echo "PASS [$TEST_NAME]"
