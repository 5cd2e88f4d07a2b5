#!/usr/bin/env bash
# POSIX behaviour inside a staging checkpoint (offset writes, truncate,
# rename, unlink, nested dirs, chmod, utimens, O_APPEND/O_EXCL/O_TRUNC,
# statfs, fsync) and the namespace rules at the top level (symlink, link,
# mknod, long and non-UTF-8 names, the latest name).
source "$(dirname "$0")/lib.sh"

start_mount "settle_ms=3000"
mkdir "$MNT/ckpt-1"

"$PY" - "$MNT/ckpt-1" <<'EOF'
import os, sys, errno, stat
d = sys.argv[1]
def check(cond, what):
    if not cond:
        print("FAIL:", what); sys.exit(1)

p = os.path.join(d, "f.bin")
fd = os.open(p, os.O_CREAT | os.O_RDWR, 0o644)
os.pwrite(fd, b"A" * 100, 0)
os.pwrite(fd, b"B" * 10, 1000)          # a hole between 100 and 1000
check(os.fstat(fd).st_size == 1010, "size after sparse pwrite")
check(os.pread(fd, 10, 1000) == b"B" * 10, "pread at offset")
check(os.pread(fd, 5, 500) == b"\0" * 5, "hole reads zeros")
os.ftruncate(fd, 50)
check(os.fstat(fd).st_size == 50, "ftruncate shrinks")
os.fsync(fd)
os.close(fd)
os.truncate(p, 2000)
check(os.stat(p).st_size == 2000, "truncate grows")
with open(p, "rb") as f:
    data = f.read()
check(data == b"A" * 50 + b"\0" * 1950, "content after truncates")

# O_APPEND
with open(os.path.join(d, "log.txt"), "a") as f:
    f.write("one\n")
with open(os.path.join(d, "log.txt"), "a") as f:
    f.write("two\n")
check(open(os.path.join(d, "log.txt")).read() == "one\ntwo\n", "O_APPEND appends")

# O_EXCL on an existing file
try:
    os.open(os.path.join(d, "log.txt"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    check(False, "O_EXCL on an existing file")
except FileExistsError:
    pass

# O_TRUNC
with open(os.path.join(d, "log.txt"), "w") as f:
    f.write("x")
check(open(os.path.join(d, "log.txt")).read() == "x", "O_TRUNC truncates")

# rename: atomic replace of an existing file; directories; EXDEV across checkpoints
open(os.path.join(d, "new.tmp"), "w").write("new")
os.rename(os.path.join(d, "new.tmp"), os.path.join(d, "log.txt"))
check(open(os.path.join(d, "log.txt")).read() == "new", "rename replaces")
check(not os.path.exists(os.path.join(d, "new.tmp")), "rename source gone")
os.makedirs(os.path.join(d, "a/b/c"))
open(os.path.join(d, "a/b/c/x"), "w").write("deep")
os.rename(os.path.join(d, "a/b"), os.path.join(d, "moved"))
check(open(os.path.join(d, "moved/c/x")).read() == "deep", "directory rename")

# unlink, rmdir, ENOTEMPTY
try:
    os.rmdir(os.path.join(d, "moved"))
    check(False, "rmdir of a non-empty dir")
except OSError as e:
    check(e.errno == errno.ENOTEMPTY, "ENOTEMPTY")
os.unlink(os.path.join(d, "moved/c/x"))
os.rmdir(os.path.join(d, "moved/c"))
os.rmdir(os.path.join(d, "moved"))
check(sorted(os.listdir(d)) == ["a", "f.bin", "log.txt"], "listing after removals: %r" % sorted(os.listdir(d)))

# chmod, utimens
os.chmod(p, 0o600)
check(stat.S_IMODE(os.stat(p).st_mode) == 0o600, "chmod")
os.utime(p, ns=(1_000_000_000_000_000_000, 1_500_000_000_123_456_789))
check(os.stat(p).st_mtime_ns == 1_500_000_000_123_456_789, "utimens mtime: %d" % os.stat(p).st_mtime_ns)

# utimensat keeps both times exactly (atime too); mtime alone leaves atime
os.utime(p, ns=(1_200_000_000_987_654_321, 1_500_000_000_123_456_789))
st = os.stat(p)
check((st.st_atime_ns, st.st_mtime_ns) == (1_200_000_000_987_654_321, 1_500_000_000_123_456_789),
      "utimens atime/mtime: %d %d" % (st.st_atime_ns, st.st_mtime_ns))
os.utime(p, ns=(1_200_000_000_987_654_321, 1_600_000_000_000_000_001))
st = os.stat(p)
check(st.st_atime_ns == 1_200_000_000_987_654_321 and st.st_mtime_ns == 1_600_000_000_000_000_001,
      "utimens mtime change keeps atime: %d" % st.st_atime_ns)
open(p, "rb").read()
check(os.stat(p).st_atime_ns == 1_200_000_000_987_654_321, "a read does not move atime (noatime)")

# An open file keeps working after unlink (tempfile-style savers):
# fstat, read, write, ftruncate until it is closed.
u = os.path.join(d, "unlinked.bin")
fd = os.open(u, os.O_CREAT | os.O_RDWR, 0o640)
os.write(fd, b"keep me")
os.unlink(u)
check(not os.path.exists(u), "unlinked name gone")
st = os.fstat(fd)
check(st.st_size == 7 and stat.S_IMODE(st.st_mode) == 0o640 and stat.S_ISREG(st.st_mode),
      "fstat after unlink: %r" % (st,))
check(os.pread(fd, 7, 0) == b"keep me", "read after unlink")
os.pwrite(fd, b"!!", 7)
check(os.fstat(fd).st_size == 9 and os.pread(fd, 9, 0) == b"keep me!!", "write after unlink")
os.ftruncate(fd, 4)
check(os.fstat(fd).st_size == 4 and os.pread(fd, 9, 0) == b"keep", "ftruncate after unlink")
os.close(fd)
check(not os.path.exists(u), "still gone after close")

# symlinks inside are stored
os.symlink("f.bin", os.path.join(d, "ln"))
check(os.readlink(os.path.join(d, "ln")) == "f.bin", "readlink")

# names
for name, err in (("x" * 256, errno.ENAMETOOLONG), (b"bad\xff".decode("utf-8", "surrogateescape"), errno.EILSEQ)):
    try:
        open(os.path.join(d, name), "w")
        check(False, "bad name accepted")
    except OSError as e:
        check(e.errno == err, "name error %s got %s" % (errno.errorcode[err], errno.errorcode.get(e.errno)))
open(os.path.join(d, "y" * 255), "w").write("ok")
check(os.path.exists(os.path.join(d, "y" * 255)), "255-byte name works")
os.unlink(os.path.join(d, "y" * 255))

# statfs answers with the store's file system
sv = os.statvfs(d)
check(sv.f_blocks > 0 and sv.f_namemax == 255, "statvfs")
print("ok")
EOF

# Cross-checkpoint rename is EXDEV (mv then copies); links are refused.
mkdir "$MNT/ckpt-2"
echo data >"$MNT/ckpt-1/move-me"
assert_errno EXDEV "os.rename('ckpt-1/move-me', 'ckpt-2/move-me')"
assert_errno EXDEV "os.rename('ckpt-1/move-me', 'top-level-file')"
assert_errno EPERM "os.symlink('ckpt-1', 'link-to-ckpt')"
assert_errno EPERM "os.link('ckpt-1/move-me', 'ckpt-1/hard')"
assert_errno EPERM "os.mknod('ckpt-1/fifo', 0o600 | __import__('stat').S_IFIFO)"
assert_errno ENAMETOOLONG "open('$(printf 'z%.0s' $(seq 256))', 'w')"
assert_errno EILSEQ "os.mkdir(b'bad\\xfe')"
assert_errno EEXIST "open('latest', 'w')"
assert_errno EEXIST "os.mkdir('latest')"
grep -q "latest" "$MNT/.ckptfs/status" || fail "status explains the refused latest"
grep -q "refused" "$MNT/.ckptfs/status" || fail "status has a note on the refusal"
mv "$MNT/ckpt-1/move-me" "$MNT/ckpt-2/" || fail "mv across checkpoints (copy fallback)"
assert_eq "$(cat "$MNT/ckpt-2/move-me")" "data" "mv across checkpoints moved the data"

# Plain files (default glob): ordinary, rewritable, never checkpoints.
echo 100 >"$MNT/latest_checkpointed_iteration.txt"
echo 200 >"$MNT/latest_checkpointed_iteration.txt"
assert_eq "$(cat "$MNT/latest_checkpointed_iteration.txt")" "200" "plain file rewritten"
assert_eq "$(ckpt_field latest_checkpointed_iteration.txt state)" "none" "plain file is not a checkpoint"
ls "$MNT" | grep -qx latest_checkpointed_iteration.txt || fail "plain file listed"
rm "$MNT/latest_checkpointed_iteration.txt"
assert_missing "$MNT/latest_checkpointed_iteration.txt" "plain file removed"
echo "ok"
