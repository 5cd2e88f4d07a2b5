#!/usr/bin/env bash
# A store whose chunks are objects in Ceph RADOS (chunks=rados:pool=P,ns=N,
# conf=FILE,...): SQLite index + RADOS, or PostgreSQL + RADOS under
# CKPT_TEST_MOUNT_INDEX=postgresql. A checkpoint saved with cp and python3
# reads back byte-identical through `latest`; `ckpt verify` is clean, then
# reports an orphan object and a missing one made with the rados tool;
# delete + gc removes the objects (counted with `rados ls`); the -o form of
# the address works, and another namespace is refused. Needs the private
# cluster of tests/services/ceph.sh (skip without; CI=true: fail).
if [ -z "${CKPT_TEST_CEPH_CONF:-}" ]; then
  [ "${CI:-}" = true ] && { echo "FAIL: CKPT_TEST_CEPH_CONF is not set under CI" >&2; exit 1; }
  echo "SKIP: CKPT_TEST_CEPH_CONF not set (source tests/services/ceph.sh; ceph_start DIR)"
  exit 77
fi
source "$(dirname "$0")/lib.sh"

NS=mt-$(basename "$T" | tr -dc 'a-zA-Z0-9')
RSPEC="pool=$CKPT_TEST_CEPH_POOL,ns=$NS,conf=$CKPT_TEST_CEPH_CONF,keyring=$CKPT_TEST_CEPH_KEYRING,id=$CKPT_TEST_CEPH_ID"
rados_() { timeout 60 rados -c "$CKPT_TEST_CEPH_CONF" --keyring "$CKPT_TEST_CEPH_KEYRING" -p "$CKPT_TEST_CEPH_POOL" -N "$NS" "$@"; }
EXTRA_CLEANUP+=("for o in \$(timeout 60 rados -c '$CKPT_TEST_CEPH_CONF' --keyring '$CKPT_TEST_CEPH_KEYRING' -p '$CKPT_TEST_CEPH_POOL' -N '$NS' ls 2>/dev/null); do timeout 30 rados -c '$CKPT_TEST_CEPH_CONF' --keyring '$CKPT_TEST_CEPH_KEYRING' -p '$CKPT_TEST_CEPH_POOL' -N '$NS' rm \"\$o\"; done")
objects() { rados_ ls | grep -c '^[0-9a-f]\{64\}$'; }
if [ "${CKPT_TEST_MOUNT_INDEX:-}" = postgresql ]; then
  STORE="postgresql:$CKPT_TEST_PG dbname=$PG_DB?chunks=rados:$RSPEC,dir=$STORE_DIR"
else
  STORE="$STORE_DIR?chunks=rados:$RSPEC"
fi

start_mount
head -c 3000000 /dev/urandom >"$T/a.bin"
cp "$T/a.bin" "$MNT/a.pt"
mkdir "$T/src"
"$PY" - "$T/src" <<'PYEOF'
import os, sys
d = sys.argv[1]
for name, n in (("model.bin", 2500000), ("optim.bin", 1200000)):
    with open(os.path.join(d, name), "wb") as f:
        f.write(os.urandom(n))
PYEOF
"$PY" - "$T/src" "$MNT/ck1" <<'PYEOF'
import os, shutil, sys
src, dst = sys.argv[1:]
os.mkdir(dst)
for name in sorted(os.listdir(src)):
    with open(os.path.join(src, name), "rb") as i, open(os.path.join(dst, name), "wb") as o:
        shutil.copyfileobj(i, o, 1 << 20)
PYEOF
wait_for bash -c "[ \"\$(cat '$MNT/.ckptfs/latest')\" = ck1 ]" || fail "ck1 never committed"
cmp "$T/src/model.bin" "$MNT/latest/model.bin" || fail "latest/model.bin differs"
cmp "$T/src/optim.bin" "$MNT/latest/optim.bin" || fail "latest/optim.bin differs"
cmp "$T/a.bin" "$MNT/a.pt" || fail "a.pt differs"
n=$(objects)
[ "$n" -ge 7 ] || fail "expected at least 7 chunk objects in rados, found $n"
"$CKPT" verify "$STORE" >"$T/v0" 2>&1 || { cat "$T/v0" >&2; fail "ckpt verify not clean on a fresh rados store"; }

# an orphan object and a missing one: verify lists the pool and finds both
stop_mount
echo stray >"$T/stray"
rados_ put 0000000000000000000000000000000000000000000000000000000000000000 "$T/stray"
victim=$(rados_ ls | grep '^[0-9a-f]\{64\}$' | grep -v '^0\{64\}$' | head -1)
rados_ get "$victim" "$T/victim"
rados_ rm "$victim"
"$CKPT" verify "$STORE" >"$T/v1" 2>&1 && fail "ckpt verify clean with an orphan and a missing object"
grep -q "orphan.*0\{64\}" "$T/v1" || { cat "$T/v1" >&2; fail "verify does not report the orphan object"; }
grep -qi "$victim\|missing" "$T/v1" || { cat "$T/v1" >&2; fail "verify does not report the missing object"; }
rados_ put "$victim" "$T/victim"
rados_ rm 0000000000000000000000000000000000000000000000000000000000000000
"$CKPT" verify "$STORE" >"$T/v2" 2>&1 || { cat "$T/v2" >&2; fail "ckpt verify not clean once repaired"; }

# the -o form; another namespace is refused
if [ "${CKPT_TEST_MOUNT_INDEX:-}" != postgresql ]; then
  ALL=$STORE STORE=$STORE_DIR
  start_mount "chunks=rados:$RSPEC"
  cmp "$T/src/model.bin" "$MNT/ck1/model.bin" || fail "ck1/model.bin differs through the -o form"
  stop_mount
  "$CKPTFS" "$STORE_DIR" "$MNT" -f -o "chunks=rados:${RSPEC/ns=$NS/ns=other}" >"$T/refused" 2>&1 &&
    fail "a mount on another namespace was accepted"
  grep -q "keeps its chunks in rados pool=$CKPT_TEST_CEPH_POOL,ns=$NS" "$T/refused" ||
    { cat "$T/refused" >&2; fail "no clear message for another namespace"; }
  STORE=$ALL
fi

# delete + gc: the objects go
start_mount
rm -rf "$MNT/ck1"
rm "$MNT/a.pt"
echo tiny >"$MNT/tiny.pt"
wait_for bash -c "[ \$(timeout 60 rados -c '$CKPT_TEST_CEPH_CONF' --keyring '$CKPT_TEST_CEPH_KEYRING' -p '$CKPT_TEST_CEPH_POOL' -N '$NS' ls | wc -l) -le 1 ]" ||
  fail "objects not removed after delete + gc: $(objects) left"
assert_eq "$(cat "$MNT/tiny.pt")" "tiny" "tiny.pt reads back"
stop_mount
echo "PASS"
