#!/usr/bin/env bash
# README's cluster demo (`tools/demo.sh --cluster`): it brings up its own
# PostgreSQL and one-node Ceph, mounts the store twice, commits checkpoints
# whose shards went through both mounts, resolves latest to the last one on
# both, keeps the chunks in RADOS (objects in the pool), and tears
# everything down: no process runs out of its directory, nothing stays
# mounted, the directory is gone. Missing packages: skip (77), but under
# CI=true that is a failure.
. "$(dirname "$0")/lib.sh"
[ -e /dev/fuse ] && command -v fusermount3 >/dev/null || {
  [ "${CI:-}" != true ] || fail "needs /dev/fuse and fusermount3"
  echo "SKIP: needs /dev/fuse and fusermount3"
  exit 77
}

rc=0
bash "$here/../../tools/demo.sh" --cluster >"$T/out" 2>&1 || rc=$?
cat "$T/out"
[ $rc = 0 ] || fail "tools/demo.sh --cluster exited $rc"
for want in "ok: latest on A is step-200" "ok: latest on B is step-200" \
  "ok: model-00002-of-00002.safetensors reads the same through A and B" "cluster demo done: all ok"; do
  grep -qF -- "$want" "$T/out" || fail "the demo did not say '$want'"
done
objects=$(awk 'prev ~ /^\$ rados -p .* ls \| wc -l$/ { print; exit } { prev = $0 }' "$T/out")
[ "${objects:-0}" -gt 0 ] || fail "no objects in the pool after the demo's saves (got '$objects')"
echo "ok: the demo's chunks are $objects RADOS objects"

demo=$(sed -n 's/^demo directory: //p' "$T/out")
[ -n "$demo" ] || fail "the demo did not name its directory"
[ ! -e "$demo" ] || fail "the demo left $demo behind"
! grep -qF "$demo" /proc/self/mounts || fail "the demo left a mount in $demo"
p=$(pgrep -f -- "$demo/" || true)
[ -z "$p" ] || fail "processes left running in $demo: $(ps -o pid=,args= -p "${p//$'\n'/,}")"
echo "ok: the demo left no mount, process or directory"
