#!/usr/bin/env bash
# Virtual entries are views: every write or delete through latest, best_*
# or .ckptfs is refused with an exact errno and changes nothing. Metrics
# as xattrs on a checkpoint root: set, get, list, EINVAL, EROFS through
# the views, pinned.
source "$(dirname "$0")/lib.sh"

start_mount

mkdir "$T/src"
head -c 300000 /dev/urandom >"$T/src/model.bin"
echo '{"val_loss": 0.5}' >"$T/src/metrics.json"
cp -r "$T/src" "$MNT/ckpt-1"
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = ckpt-1 ]" || fail "ckpt-1 never committed"
printf 'single' >"$MNT/f-val_loss=0.9.pt"
assert_eq "$(latest_name)" "f-val_loss=0.9.pt" "file checkpoint is latest"
events_before=$("$CKPT" log "$STORE" --json | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')

# latest is a file checkpoint now.
assert_errno EPERM "os.unlink('latest')"
assert_errno EROFS "open('latest', 'w')"
grep -q 'writing `latest` refused' "$MNT/.ckptfs/status" || fail "status explains the refused write of latest"
assert_errno EROFS "open('latest', 'r+')"
assert_errno EROFS "open('latest', 'a')"
assert_errno EROFS "os.truncate('latest', 0)"
assert_errno EPERM "os.rename('latest', 'elsewhere')"
assert_errno EPERM "os.rename('f-val_loss=0.9.pt', 'latest')"
assert_errno EROFS "os.chmod('latest', 0o600)"
assert_errno EROFS "os.setxattr('latest', 'user.ckpt.val_loss', b'0.1')"

# best_val_loss is the directory ckpt-1.
assert_eq "$(cat "$MNT/best_val_loss/metrics.json")" '{"val_loss": 0.5}' "best_val_loss resolves"
assert_errno EPERM "os.rmdir('best_val_loss')"
assert_errno EPERM "os.rename('best_val_loss', 'x')"
assert_errno EROFS "open('best_val_loss/new', 'w')"
assert_errno EROFS "open('best_val_loss/model.bin', 'r+b')"
assert_errno EROFS "open('best_val_loss/model.bin', 'wb')"
assert_errno EROFS "os.unlink('best_val_loss/model.bin')"
assert_errno EROFS "os.mkdir('best_val_loss/sub')"
assert_errno EROFS "os.rename('best_val_loss/model.bin', 'best_val_loss/m2')"
assert_errno EROFS "os.truncate('best_val_loss/model.bin', 1)"
assert_errno EROFS "os.utime('best_val_loss/model.bin', (1, 1))"
assert_errno EROFS "os.symlink('x', 'best_val_loss/ln')"
assert_errno EROFS "os.setxattr('best_val_loss', 'user.ckpt.val_loss', b'0.1')"
out=$(rm -rf "$MNT/best_val_loss" 2>&1) && fail "rm -rf best_val_loss succeeded"

# .ckptfs
assert_errno EROFS "open('.ckptfs/status', 'w')"
assert_errno EROFS "os.unlink('.ckptfs/status')"
assert_errno EROFS "open('.ckptfs/new', 'w')"
assert_errno EROFS "os.mkdir('.ckptfs/aborted/x')"
assert_errno EPERM "os.rename('.ckptfs', 'x')"

# Nothing changed.
assert_eq "$(sha "$MNT/ckpt-1/model.bin")" "$(sha "$T/src/model.bin")" "data unchanged"
assert_eq "$(cat "$MNT/latest")" "single" "latest unchanged"
assert_eq "$(ckpt_field ckpt-1 state)" "committed" "ckpt-1 still committed"
events_after=$("$CKPT" log "$STORE" --json | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
assert_eq "$events_after" "$events_before" "no event recorded by the refused operations"
"$CKPT" ls "$STORE" --json | grep -q '"staging"' && fail "a refused write left a staging version"

# xattr metrics on a checkpoint root.
setfattr -n user.ckpt.val_loss -v 0.25 "$MNT/ckpt-1" || fail "setfattr val_loss"
assert_eq "$(getfattr --absolute-names --only-values -n user.ckpt.val_loss "$MNT/ckpt-1")" "0.25" "getfattr val_loss"
assert_eq "$(ckpt_field ckpt-1 metrics | tr -d ' ')" "{'val_loss':0.25}" "metric from the xattr overrides metrics.json"
setfattr -n user.ckpt.val_loss -v 0.1 "$MNT/f-val_loss=0.9.pt"
assert_eq "$(cat "$MNT/best_val_loss")" "single" "setting a metric after commit updates best_* at once"
setfattr -n user.ckpt.bleu -v ' 31.5 ' "$MNT/ckpt-1" || fail "number with blanks"
assert_eq "$(getfattr --absolute-names --only-values -n user.ckpt.bleu "$MNT/best_bleu")" "31.5" "getxattr through best_bleu"
names=$(getfattr --absolute-names -d -m - "$MNT/ckpt-1" 2>/dev/null | grep -o '^user\.ckpt\.[a-z_]*' | sort | tr '\n' ' ')
assert_eq "$names" "user.ckpt.bleu user.ckpt.pinned user.ckpt.step user.ckpt.val_loss " "listxattr (step 1 from the name)"
assert_errno EINVAL "os.setxattr('ckpt-1', 'user.ckpt.val_loss', b'abc')"
assert_errno EINVAL "os.setxattr('ckpt-1', 'user.ckpt.val_loss', b'1.5x')"
assert_errno ENOTSUP "os.setxattr('ckpt-1', 'user.other', b'1')"
assert_errno ENOTSUP "os.setxattr('ckpt-1/model.bin', 'user.ckpt.val_loss', b'1')"
assert_errno ENODATA "os.getxattr('ckpt-1', 'user.ckpt.nothing')"
assert_errno EROFS "os.setxattr('best_bleu', 'user.ckpt.bleu', b'1')"
assert_eq "$(getfattr --absolute-names --only-values -n user.ckpt.pinned "$MNT/ckpt-1")" "0" "not pinned"
setfattr -n user.ckpt.pinned -v 1 "$MNT/ckpt-1"
assert_eq "$(ckpt_field ckpt-1 pinned)" "True" "pinned by xattr"
assert_eq "$(getfattr --absolute-names --only-values -n user.ckpt.pinned "$MNT/ckpt-1")" "1" "pinned reads back"
assert_errno OK "os.removexattr('ckpt-1', 'user.ckpt.bleu')"
assert_errno ENOENT "os.stat('best_bleu')"
echo "ok"
