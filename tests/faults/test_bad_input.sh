#!/usr/bin/env bash
# Bad input gets a clear error and loses nothing committed:
#  - names > 255 bytes: ENAMETOOLONG; names that are not UTF-8: EILSEQ
#  - `..` resolves as usual and never escapes a view or names a checkpoint
#  - writes, deletes, renames, xattrs through latest, best_* and .ckptfs are
#    refused (EPERM/EROFS/EISDIR/EEXIST) and change nothing
#  - malformed metadata.json / trainer_state.json: the checkpoint commits
#    anyway and the reason is in .ckptfs/status
#  - a second mount of the same store is refused (non-zero exit, one line)
#  - a store from a newer format version (PRAGMA user_version=999) is refused
#  - an unknown best_ metric is ENOENT
source "$(dirname "$0")/../e2e/lib.sh"
e2e_init
e2e_mount

mkdir "$T/src"
head -c 200000 /dev/urandom >"$T/src/model.bin"
echo '{"val_loss": 0.5, "step": 10}' >"$T/src/metadata.json"
cp -r "$T/src" "$MNT/ck-1" || fail "writing ck-1 failed"
wait_latest ck-1
BEFORE=$(tree_sums "$MNT/ck-1")
LS_BEFORE=$(ls -1A "$MNT")
[ -d "$MNT/best_val_loss" ] || fail "best_val_loss missing"

$PY - "$MNT" <<'EOF' || fail "bad-input checks failed (see above)"
import errno, os, sys
mnt = sys.argv[1].encode()
bad = []
REFUSED = {errno.EPERM, errno.EROFS, errno.EISDIR}  # the contract's list

def expect(what, errs, fn, *args):
    try:
        fn(*args)
    except OSError as e:
        if e.errno in errs:
            return
        bad.append("%s: errno %s (%s), expected %s" % (what, e.errno, errno.errorcode.get(e.errno),
                                                       "/".join(errno.errorcode[x] for x in errs)))
        return
    bad.append("%s: succeeded, expected %s" % (what, "/".join(errno.errorcode[x] for x in errs)))

def create(p):
    os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644))

def write_existing(p):
    fd = os.open(p, os.O_WRONLY)
    try:
        os.write(fd, b"x")
    finally:
        os.close(fd)

J = lambda *a: os.path.join(mnt, *a)
long_name = b"n" * 256
# ---- names
expect("create 256-byte name", {errno.ENAMETOOLONG}, create, J(long_name))
expect("mkdir 256-byte name", {errno.ENAMETOOLONG}, os.mkdir, J(long_name))
expect("lookup 256-byte name", {errno.ENAMETOOLONG}, os.stat, J(long_name))
os.mkdir(J(b"tmp-names"))  # a staging dir to test names inside a checkpoint
expect("create 256-byte name inside a checkpoint", {errno.ENAMETOOLONG}, create, J(b"tmp-names", long_name))
expect("create non-UTF-8 name", {errno.EILSEQ}, create, J(b"bad-\xff\xfe.ckpt"))
expect("mkdir non-UTF-8 name", {errno.EILSEQ}, os.mkdir, J(b"step-\xc3\x28"))
expect("create non-UTF-8 name inside a checkpoint", {errno.EILSEQ}, create, J(b"tmp-names", b"w-\x80.bin"))
ok255 = b"m" * 251 + b".bin"
create(J(b"tmp-names", ok255))  # 255 bytes is fine
# ---- ..
if os.stat(J(b"latest", b"..")).st_ino != os.stat(mnt).st_ino:
    bad.append("latest/.. is not the mount root")
if os.stat(J(b"ck-1", b"..")).st_ino != os.stat(mnt).st_ino:
    bad.append("ck-1/.. is not the mount root")
if os.listdir(J(b"latest", b"..", b"ck-1")) != os.listdir(J(b"ck-1")):
    bad.append("latest/../ck-1 does not list as ck-1")
expect("mkdir ck-1/..", {errno.EEXIST}, os.mkdir, J(b"ck-1", b".."))
# ---- writes / deletes through views
for v in (b"latest", b"best_val_loss"):
    w = v.decode()
    expect("create in %s/" % w, REFUSED, create, J(v, b"new.bin"))
    expect("write %s/model.bin" % w, REFUSED, write_existing, J(v, b"model.bin"))
    expect("truncate %s/model.bin" % w, REFUSED, os.truncate, J(v, b"model.bin"), 0)
    expect("unlink %s/model.bin" % w, REFUSED, os.unlink, J(v, b"model.bin"))
    expect("mkdir in %s/" % w, REFUSED, os.mkdir, J(v, b"sub"))
    expect("rename within %s/" % w, REFUSED, os.rename, J(v, b"model.bin"), J(v, b"m2.bin"))
    expect("rename %s/model.bin out" % w, REFUSED | {errno.EXDEV}, os.rename, J(v, b"model.bin"), J(b"ck-1", b"stolen.bin"))
    expect("rmdir %s" % w, REFUSED | {errno.ENOTEMPTY}, os.rmdir, J(v))
    expect("rename %s" % w, REFUSED, os.rename, J(v), J(b"renamed-" + v))
    expect("chmod %s/model.bin" % w, REFUSED, os.chmod, J(v, b"model.bin"), 0o600)
    expect("setxattr on %s" % w, {errno.EROFS, errno.EPERM}, os.setxattr, J(v), b"user.ckpt.val_loss", b"0.1")
expect("mkdir latest (a top-level entry named latest)", {errno.EEXIST, errno.EROFS, errno.EPERM}, os.mkdir, J(b"latest"))
expect("write .ckptfs/status", REFUSED, write_existing, J(b".ckptfs", b"status"))
expect("create in .ckptfs/", REFUSED, create, J(b".ckptfs", b"x"))
expect("unlink .ckptfs/latest", REFUSED, os.unlink, J(b".ckptfs", b"latest"))
expect("mkdir in .ckptfs/", REFUSED, os.mkdir, J(b".ckptfs", b"d"))
expect("rmdir .ckptfs", REFUSED | {errno.ENOTEMPTY}, os.rmdir, J(b".ckptfs"))
expect("rename .ckptfs", REFUSED, os.rename, J(b".ckptfs"), J(b"ctl"))
expect("create in .ckptfs/aborted/", REFUSED, create, J(b".ckptfs", b"aborted", b"x"))
# ---- unknown metric
expect("stat best_no_such_metric", {errno.ENOENT}, os.stat, J(b"best_no_such_metric"))
expect("open best_no_such_metric", {errno.ENOENT}, open, J(b"best_no_such_metric"), "rb")
for b in bad:
    print("BAD:", b)
sys.exit(1 if bad else 0)
EOF

rm -rf "$MNT/tmp-names" || fail "rm -rf tmp-names failed"
[ "$(tree_sums "$MNT/ck-1")" = "$BEFORE" ] || fail "ck-1 changed"
[ "$(tree_sums "$MNT/latest")" = "$BEFORE" ] || fail "latest changed"
[ "$(ls -1A "$MNT")" = "$LS_BEFORE" ] || fail "the listing changed: $(ls -1A "$MNT" | tr '\n' ' ')"
[ "$(cur_latest)" = ck-1 ] || fail "latest moved to '$(cur_latest)'"

log "malformed metadata commits anyway"
mkdir "$MNT/ck-badmeta" && printf '{"val_loss": 0.1, oops' >"$MNT/ck-badmeta/metadata.json" &&
	head -c 1000 /dev/urandom >"$MNT/ck-badmeta/model.bin" || fail "writing ck-badmeta failed"
wait_latest ck-badmeta
grep -q 'ck-badmeta' "$MNT/.ckptfs/status" || fail ".ckptfs/status does not mention ck-badmeta: $(cat "$MNT/.ckptfs/status")"
grep 'ck-badmeta' "$MNT/.ckptfs/status" | grep -qi 'metadata' || fail ".ckptfs/status gives no reason for ck-badmeta: $(grep ck-badmeta "$MNT/.ckptfs/status")"
mkdir "$MNT/checkpoint-7" && printf '{"global_step": 7, "log_history": [' >"$MNT/checkpoint-7/trainer_state.json" &&
	head -c 1000 /dev/urandom >"$MNT/checkpoint-7/model.bin" || fail "writing checkpoint-7 failed"
wait_latest checkpoint-7
grep 'checkpoint-7' "$MNT/.ckptfs/status" | grep -qi 'trainer_state' || fail ".ckptfs/status gives no reason for checkpoint-7: $(cat "$MNT/.ckptfs/status")"
[ "$(tree_sums "$MNT/ck-1")" = "$BEFORE" ] || fail "ck-1 changed"

log "second mount of the same store"
mkdir "$T/mnt2"
EXTRA_MOUNTS+=("$T/mnt2")
timeout 20 "$CKPTFS" "$STORE" "$T/mnt2" -f -o settle_ms=300 >"$T/second.out" 2>&1
rc=$?
is_mounted "$T/mnt2" && fail "a second mount of the same store succeeded"
[ $rc -ne 0 ] || fail "second mount exited 0"
[ $rc -ne 124 ] || fail "second mount did not exit (hung)"
lines=$(grep -c . "$T/second.out")
[ "$lines" = 1 ] || fail "second mount printed $lines lines, expected one: $(cat "$T/second.out")"
log "second mount refused: $(cat "$T/second.out")"
[ "$(tree_sums "$MNT/ck-1")" = "$BEFORE" ] || fail "ck-1 changed after the second mount attempt"
e2e_umount

log "store from a newer format version"
command -v sqlite3 >/dev/null || skip "no sqlite3 for the format-version check (the rest passed)"
[ -f "$STORE/index.db" ] || fail "no index.db in the store"
sqlite3 "$STORE/index.db" 'PRAGMA user_version=999;' || fail "cannot set user_version"
timeout 20 "$CKPTFS" "$STORE" "$MNT" -f -o settle_ms=300 >"$T/newer.out" 2>&1
rc=$?
is_mounted "$MNT" && fail "a store with user_version=999 was mounted"
[ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "mount of a newer store exited $rc"
lines=$(grep -c . "$T/newer.out")
[ "$lines" = 1 ] || fail "mount of a newer store printed $lines lines, expected one: $(cat "$T/newer.out")"
log "newer store refused: $(cat "$T/newer.out")"
[ "$(sqlite3 "$STORE/index.db" 'PRAGMA user_version;')" = 999 ] || fail "the refused mount changed user_version"
log "PASS"
