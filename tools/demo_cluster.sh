# The README's cluster demo, sourced by `tools/demo.sh --cluster` after the
# build (it uses demo.sh's say/show/check, SRC, BUILD, PY; not run alone).
#
# Brings up a private PostgreSQL (the index) and a one-mon, one-OSD Ceph
# cluster (the chunks, pool `ckpt`) in a temporary directory, loopback only
# (tests/services/pg.sh and ceph.sh), mounts the one store twice as two
# nodes would (each mount its own node-local dir=), saves checkpoints whose
# shards are written through both mounts (rank 0 on A, rank 1 on B, then
# rank 0 writes the commit marker DONE), shows `latest` on both mounts and
# `ckpt ls` of the address, then unmounts and stops everything (EXIT trap;
# only the processes it started). Needs the ceph-mon, ceph-osd, ceph-common
# and postgresql-15 packages (tools/deps.sh); as root the database server
# runs as the postgres user.
. "$SRC/tests/services/pg.sh"
. "$SRC/tests/services/ceph.sh"

DEMO=$(mktemp -d /tmp/ckptfs-demo.XXXXXX)
chmod 755 "$DEMO" # the postgres user reaches its socket directory under it
MNT_A=$DEMO/mnt-a MNT_B=$DEMO/mnt-b
mkdir "$MNT_A" "$MNT_B"
PIDS=()
echo "demo directory: $DEMO"

is_mounted_at() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }

cluster_cleanup() {
  local rc=$? m p
  trap - EXIT INT TERM
  for m in "$MNT_A" "$MNT_B"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      is_mounted_at "$m" || break
      fusermount3 -u "$m" 2>/dev/null || sleep 0.5
    done
  done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  ceph_stop # the daemons are gone: nothing holds a connection any more
  pg_stop
  if is_mounted_at "$MNT_A" || is_mounted_at "$MNT_B"; then
    echo "demo: still mounted; left $DEMO in place" >&2 # never rm -rf through a mount
  else
    rm -rf "$DEMO"
  fi
  exit "$rc"
}
trap cluster_cleanup EXIT

say "start a private PostgreSQL (the index) and a one-node Ceph (the chunks)"
pg_start "$DEMO/pg" || exit 1
echo "PostgreSQL: $CKPT_TEST_PG"
ceph_start "$DEMO/ceph" || exit 1
echo "Ceph: conf $CKPT_TEST_CEPH_CONF, pool $CKPT_TEST_CEPH_POOL, client.$CKPT_TEST_CEPH_ID"

CHUNKS="rados:pool=$CKPT_TEST_CEPH_POOL,conf=$CKPT_TEST_CEPH_CONF,id=$CKPT_TEST_CEPH_ID,keyring=$CKPT_TEST_CEPH_KEYRING"
# node_addr NAME: the store's address on node NAME: the one index and pool,
# open checkpoints staged in the node-local directory $DEMO/node-NAME.
node_addr() { echo "postgresql:$CKPT_TEST_PG?chunks=$CHUNKS,dir=$DEMO/node-$1"; }
# mount_node NAME MNT: mounts the store at MNT as node NAME.
mount_node() {
  local log=$DEMO/ckptfs-$1.log d
  printf '$ %s\n' "$BUILD/ckptfs '$(node_addr "$1")' $2 -f -o commit_marker=DONE &"
  "$BUILD/ckptfs" "$(node_addr "$1")" "$2" -f -o commit_marker=DONE >"$log" 2>&1 &
  d=$!
  PIDS+=("$d")
  for _ in $(seq 100); do
    is_mounted_at "$2" && { echo "mounted on $2 (node $1, daemon pid $d)"; return 0; }
    kill -0 "$d" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: mount of node $1 failed; ckptfs output:" >&2
  cat "$log" >&2
  exit 1
}
say "mount the store twice: node A and node B"
mount_node a "$MNT_A"
mount_node b "$MNT_B"

# A rank's shard of a model as a safetensors file (plain python; RANK selects
# the layers it holds), and the marker rank 0 writes after the barrier.
save_shard() { # save_shard PATH RANK STEP
  "$PY" - "$@" <<'EOF'
import json, os, struct, sys
path, rank, step = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
tensors, data = {}, b""
for i in range(4):
    n = 64 * 1024  # float32 values: 256 KiB a tensor
    blob = os.urandom(4 * n)
    tensors["layers.%d.weight" % (rank * 4 + i)] = {
        "dtype": "F32", "shape": [256, n // 256], "data_offsets": [len(data), len(data) + len(blob)]}
    data += blob
tensors["__metadata__"] = {"step": str(step), "rank": str(rank)}
head = json.dumps(tensors).encode()
head += b" " * (-len(head) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(head)) + head + data)
EOF
}
not_latest_at() { [ "$(cat "$1/.ckptfs/latest")" != "$2" ]; }
wait_latest_at() { # wait_latest_at MNT NAME: .ckptfs/latest on MNT names NAME within 10 s
  for _ in $(seq 100); do
    [ "$(cat "$1/.ckptfs/latest" 2>/dev/null)" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}

for step in 100 200; do
  say "step $step: rank 0 writes through A, rank 1 through B, then rank 0 writes DONE"
  show mkdir "$MNT_A/step-$step"
  printf '$ save_shard %s 0 %s &\n' "$MNT_A/step-$step/model-00001-of-00002.safetensors" "$step"
  save_shard "$MNT_A/step-$step/model-00001-of-00002.safetensors" 0 "$step" &
  r0=$!
  for _ in $(seq 100); do [ -d "$MNT_B/step-$step" ] && break; sleep 0.1; done
  show save_shard "$MNT_B/step-$step/model-00002-of-00002.safetensors" 1 "$step"
  check "rank 0's shard written through A" wait "$r0"
  check "step-$step not committed before its marker" not_latest_at "$MNT_B" "step-$step"
  printf '$ echo %s > %s\n' "'{\"step\": $step, \"ranks\": 2}'" "$MNT_A/step-$step/DONE"
  echo "{\"step\": $step, \"ranks\": 2}" >"$MNT_A/step-$step/DONE" || FAILED=$((FAILED + 1))
  check "latest on A is step-$step" wait_latest_at "$MNT_A" "step-$step"
  check "latest on B is step-$step" wait_latest_at "$MNT_B" "step-$step"
done

say "what both mounts show"
show cat "$MNT_A/.ckptfs/latest" "$MNT_B/.ckptfs/latest"
show ls -la "$MNT_A/latest/"
show ls -la "$MNT_B/latest/"
for f in model-00001-of-00002.safetensors model-00002-of-00002.safetensors; do
  check "$f reads the same through A and B" cmp "$MNT_A/latest/$f" "$MNT_B/latest/$f"
done

say "the ckpt tool over the same address"
show "$BUILD/ckpt" ls "$(node_addr a)"
show "$BUILD/ckpt" verify "$(node_addr a)"
printf '$ rados -p %s ls | wc -l\n' "$CKPT_TEST_CEPH_POOL"
{ timeout 60 rados -c "$CKPT_TEST_CEPH_CONF" --id "$CKPT_TEST_CEPH_ID" --keyring "$CKPT_TEST_CEPH_KEYRING" \
  -p "$CKPT_TEST_CEPH_POOL" ls | wc -l; } || FAILED=$((FAILED + 1))

say "unmount both, stop Ceph and PostgreSQL"
show fusermount3 -u "$MNT_A"
show fusermount3 -u "$MNT_B"
for p in "${PIDS[@]}"; do
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  check "daemon $p exited after unmount" sh -c "! kill -0 $p 2>/dev/null"
done

say "cluster demo done: $([ $FAILED = 0 ] && echo 'all ok' || echo "$FAILED step(s) failed")"
[ "$FAILED" = 0 ]
