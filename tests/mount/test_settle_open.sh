#!/usr/bin/env bash
# A file created, or opened for writing, in a directory checkpoint while a
# settle commit of that checkpoint runs: the writer never gets EROFS (what
# torch.save into a directory expects). Every commit is held in its middle
# (CKPT_CRASH_AT=commit:before_barrier+MS pauses there), a writer opens its
# file during the pause and goes on writing after the commit finished; its
# writes and close succeed and its bytes land whole in a committed version
# of the checkpoint (the commit under way does not take a file still being
# written). And a writer that joins a checkpoint whose commit is due but
# not begun (waiting behind another commit) holds that commit back. The
# same for mkdir, symlink, rename and chmod during a commit.
source "$(dirname "$0")/lib.sh"

CKPT_CRASH_AT=commit:before_barrier+2000 start_mount

head -c 300000 /dev/urandom >"$T/a.src"
head -c 3000000 /dev/urandom >"$T/b.src"

# write_during_commit DST SRC MODE: opens DST (MODE wb: create, r+b: an
# existing file) one second after the directory's last change (settle is
# 300 ms, so its commit is paused then), writes the first MiB, waits until
# the commit went on, then writes the rest and closes. Prints the errno
# name of a failure.
write_during_commit() {
  "$PY" - "$1" "$2" "$3" <<'EOF'
import errno, os, sys, time
dst, src, mode = sys.argv[1:4]
data = open(src, "rb").read()
time.sleep(1)
try:
    with open(dst, mode) as f:
        f.write(data[:1 << 20])
        f.flush()
        time.sleep(4.5)  # a paused commit (2 s) finishes meanwhile
        f.write(data[1 << 20:])
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
    sys.exit(1)
EOF
}

# 1. a new file in ckpt-1 while ckpt-1's settle commit runs
mkdir "$MNT/ckpt-1"
cp "$T/a.src" "$MNT/ckpt-1/a.bin"
err=$(write_during_commit "$MNT/ckpt-1/b.bin" "$T/b.src" wb) ||
  fail "creating b.bin during ckpt-1's commit failed: $err"
wait_for cmp -s "$T/b.src" "$MNT/latest/b.bin" ||
  fail "b.bin never committed whole into ckpt-1 (latest: $(latest_name))"
cmp "$T/a.src" "$MNT/latest/a.bin" || fail "a.bin changed"
is_latest ckpt-1 || fail "latest is $(latest_name), not ckpt-1"
echo "ok: a file created during a settle commit is written and committed, no EROFS"

# 2. an existing file of ckpt-2 opened for writing while ckpt-2 commits
mkdir "$MNT/ckpt-2"
cp "$T/a.src" "$MNT/ckpt-2/m.bin"
err=$(write_during_commit "$MNT/ckpt-2/m.bin" "$T/b.src" r+b) ||
  fail "rewriting m.bin during ckpt-2's commit failed: $err"
wait_for cmp -s "$T/b.src" "$MNT/latest/m.bin" ||
  fail "m.bin's new bytes never committed into ckpt-2 (latest: $(latest_name))"
echo "ok: a file opened for writing during a settle commit is rewritten and committed"

# 3. a writer that opens a file of c2 while c2 is ready to commit but its
# commit waits behind c1's (paused): the commit of c2 must not take it
# (c1 and c2 go quiet together; c1 went quiet first, so it commits first)
mkdir "$MNT/c1" "$MNT/c2"
cp "$T/a.src" "$MNT/c1/a.bin"
cp "$T/a.src" "$MNT/c2/a.bin"
err=$(write_during_commit "$MNT/c2/late.bin" "$T/b.src" wb) ||
  fail "a writer joining c2 before its commit failed: $err"
wait_for cmp -s "$T/b.src" "$MNT/c2/late.bin" || fail "late.bin lost bytes"
is_committed() { [ "$(ckpt_field "$1" state)" = committed ]; }
wait_for is_committed c2 || fail "c2 never committed"
wait_for cmp -s "$T/b.src" "$MNT/latest/late.bin" ||
  fail "c2 never committed with late.bin whole (latest: $(latest_name))"
echo "ok: a writer that joined a checkpoint before its commit began keeps it open"

# 4. a file created in d1 after its commit is done in the store but before
# the mount ends it (CKPT_CRASH_AT=commit:returning+MS pauses there): the
# new version it starts is tracked, so it commits and latest advances
stop_mount
CKPT_CRASH_AT=commit:returning+2000 start_mount
mkdir "$MNT/d1"
cp "$T/a.src" "$MNT/d1/a.bin"
sleep 1 # settled (300 ms): d1's commit is paused after the store committed it
cp "$T/b.src" "$MNT/d1/new.bin" || fail "creating new.bin in d1 failed"
wait_for cmp -s "$T/b.src" "$MNT/latest/new.bin" ||
  fail "d1's new version with new.bin never committed (latest: $(latest_name), state $(ckpt_field d1 state))"
echo "ok: a file created while a commit ends starts a version that commits"

# 5. mkdir, symlink, rename and chmod in a directory checkpoint while its
# settle commit is paused, in its middle and as it ends (after the store
# committed it): none gets EROFS (the job that made the directory goes on),
# and each lands in a version that commits
has() { # has NAME TEST...: latest is NAME and the test holds on it
  local n=$1
  shift
  is_latest "$n" && "$@"
}
phase5() { # phase5 PAUSE DIR
  stop_mount
  CKPT_CRASH_AT=$1+2000 start_mount
  local d=$2
  mkdir "$MNT/$d"
  cp "$T/a.src" "$MNT/$d/a.bin"
  sleep 1 # settled (300 ms): its commit is paused
  mkdir "$MNT/$d/sub" || fail "mkdir in $d during its commit ($1) failed"
  wait_for has "$d" test -d "$MNT/latest/sub" || fail "$d/sub never committed ($1; latest: $(latest_name))"
  sleep 1 # the commit of sub's version is paused now
  ln -s a.bin "$MNT/$d/link" || fail "symlink in $d during its commit ($1) failed"
  wait_for has "$d" test -L "$MNT/latest/link" || fail "$d/link never committed ($1)"
  sleep 1
  mv "$MNT/$d/a.bin" "$MNT/$d/moved.bin" || fail "rename in $d during its commit ($1) failed"
  wait_for has "$d" test -e "$MNT/latest/moved.bin" || fail "$d/moved.bin never committed ($1)"
  sleep 1
  chmod 600 "$MNT/$d/moved.bin" || fail "chmod in $d during its commit ($1) failed"
  mode600() { [ "$(stat -c %a "$MNT/latest/moved.bin")" = 600 ]; }
  wait_for has "$d" mode600 || fail "$d's chmod never committed ($1)"
  [ ! -e "$MNT/latest/a.bin" ] && cmp -s "$T/a.src" "$MNT/latest/moved.bin" &&
    [ "$(readlink "$MNT/latest/link")" = a.bin ] || fail "$d's committed version is wrong ($1)"
}
phase5 commit:before_barrier e1
phase5 commit:returning e2
echo "ok: mkdir, symlink, rename and chmod during a settle commit succeed and commit"

aborted=$("$CKPT" ls "$STORE" --all --json | "$PY" -c 'import json,sys; print(sum(1 for c in json.load(sys.stdin) if c["state"]=="aborted"))')
assert_eq "$aborted" 0 "aborted checkpoints"
echo "ok: nothing aborted"
