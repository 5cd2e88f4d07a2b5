#!/usr/bin/env bash
# The README's demo: build ckptfs, mount a fresh store in a temporary
# directory, save checkpoints into it the way training code does (plain
# tools, and torch.save when /usr/bin/python3 has torch), show what the mount
# and the ckpt tool make of them, then unmount and clean up.
#
#   bash tools/deps.sh && bash tools/demo.sh
#   bash tools/demo.sh --cluster   # PostgreSQL + Ceph RADOS, two mounts
#                                  # (tools/demo_cluster.sh)
#
# Exits 0 when every shown claim held (latest and best_val_loss resolved to
# the expected checkpoints), 1 otherwise. Leaves nothing mounted or running.
set -euo pipefail
CLUSTER=0
case ${1:-} in
  --cluster) CLUSTER=1 ;;
  "") ;;
  *) echo "usage: $0 [--cluster]" >&2; exit 2 ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRC=$PWD
BUILD=${CKPT_BUILD:-$SRC/build}
PY=${CKPT_DEMO_PYTHON:-/usr/bin/python3}  # the Debian python3 that has torch
SETTLE_MS=300

say() { printf '\n== %s\n' "$*"; }
# Shows a command, then runs it; a failure is reported, counted, not fatal,
# so the rest of the demo still shows what it can.
FAILED=0
show() {
  printf '$ %s\n' "$*"
  if ! "$@"; then
    echo "   (failed: $*)"
    FAILED=$((FAILED + 1))
  fi
}
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "   ok: $what"; else echo "   FAIL: $what"; FAILED=$((FAILED + 1)); fi
}

if [ ! -e /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
  echo "demo: needs /dev/fuse and fusermount3 (bash tools/deps.sh installs fuse3)" >&2
  exit 1
fi

say "build"
cmake -S "$SRC" -B "$BUILD" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target ckptfs ckpt
if [ $CLUSTER = 1 ]; then
  . "$SRC/tools/demo_cluster.sh"
  exit
fi

DEMO=$(mktemp -d /tmp/ckptfs-demo.XXXXXX)
STORE=$DEMO/store
MNT=$DEMO/mnt
LOG=$DEMO/ckptfs.log
mkdir "$MNT"
DAEMON=

is_mounted() { awk -v m="$MNT" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if is_mounted; then
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      fusermount3 -u "$MNT" 2>/dev/null && break
      sleep 0.5
    done
  fi
  if [ -n "$DAEMON" ] && kill -0 "$DAEMON" 2>/dev/null; then
    # A clean unmount ends the daemon; give it a moment before insisting.
    for _ in $(seq 50); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
    kill "$DAEMON" 2>/dev/null || true
  fi
  if [ -n "$DAEMON" ]; then wait "$DAEMON" 2>/dev/null || true; fi
  if is_mounted; then
    # Never rm -rf through a live mount: that would delete checkpoints.
    echo "demo: $MNT is still mounted; left $DEMO in place" >&2
  else
    rm -rf "$DEMO"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "mount a new store"
printf '$ %s\n' "$BUILD/ckptfs $STORE $MNT -f -o settle_ms=$SETTLE_MS,metric=val_loss:min &"
"$BUILD/ckptfs" "$STORE" "$MNT" -f -o "settle_ms=$SETTLE_MS,metric=val_loss:min" >"$LOG" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do
  is_mounted && break
  if ! kill -0 "$DAEMON" 2>/dev/null; then
    wait "$DAEMON" 2>/dev/null || true
    DAEMON=
    echo "demo: ckptfs exited before mounting; its output:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  sleep 0.1
done
is_mounted || { echo "demo: $MNT not mounted after 10 s; ckptfs output:" >&2; cat "$LOG" >&2; exit 1; }
echo "mounted $STORE on $MNT (daemon pid $DAEMON)"

# Waits until .ckptfs/latest names $1 (a commit happened) and, when $2 is
# given, latest/$2 exists (the commit holds the whole checkpoint), up to 10 s.
wait_latest() {
  local cur=
  for _ in $(seq 100); do
    cur=$(cat "$MNT/.ckptfs/latest" 2>/dev/null || true)
    if [ "$cur" = "$1" ] && { [ -z "${2:-}" ] || [ -e "$MNT/latest/$2" ]; }; then
      return 0
    fi
    sleep 0.1
  done
  echo "   (after 10 s .ckptfs/latest says '${cur}', not '$1'${2:+ with $2})"
  return 1
}

HAVE_TORCH=0
if [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then HAVE_TORCH=1; fi

# A small model saved with torch.save, as a training loop would: into a
# single file (PATH), or, with VAL_LOSS, into a new directory PATH holding
# model.pt and metrics.json (Hugging Face style). torch is imported before
# the directory is made, so the files follow the mkdir within settle_ms.
torch_save() { # torch_save PATH SEED [VAL_LOSS]
  "$PY" - "$@" <<'EOF'
import json, os, sys, torch
path, seed = sys.argv[1], int(sys.argv[2])
torch.manual_seed(seed)
model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
state = {"model": model.state_dict(), "seed": seed}
if len(sys.argv) > 3:
    loss = float(sys.argv[3])
    os.mkdir(path)
    torch.save(state, os.path.join(path, "model.pt"))
    with open(os.path.join(path, "metrics.json"), "w") as f:
        json.dump({"step": int(path.rsplit("-", 1)[1]), "val_loss": loss,
                   "train_loss": round(loss + 0.05, 4)}, f)
        f.write("\n")
else:
    torch.save(state, path)
EOF
}

# The same with plain tools: any bytes are a checkpoint.
plain_save() { # plain_save DIR VAL_LOSS
  mkdir "$1"
  head -c 1048576 /dev/urandom > "$1/weights.bin"
  printf '{"step": %d, "val_loss": %s, "train_loss": %s}\n' "${1##*-}" "$2" \
    "$(awk -v v="$2" 'BEGIN { print v + 0.05 }')" > "$1/metrics.json"
}

say "save checkpoints (torch available: $HAVE_TORCH)"
# 1. A single-file checkpoint (Lightning style): committed by its close.
F='epoch=3-val_loss=0.21.ckpt'
if [ $HAVE_TORCH = 1 ]; then
  show torch_save "$MNT/$F" 3
else
  head -c 262144 /dev/urandom > "$DEMO/model.bin"
  show cp "$DEMO/model.bin" "$MNT/$F"
fi
check "$F committed on close" wait_latest "$F"

# 2. Directory checkpoints, val_loss not monotone: step-200 is the best,
#    step-300 the latest. step-100 with plain tools under a temporary name,
#    committed by the rename (Orbax style); the others written in place and
#    committed after settle_ms of quiet.
show plain_save "$MNT/tmp-step-100" 0.52
show mv "$MNT/tmp-step-100" "$MNT/step-100"
check "step-100 committed by the rename" wait_latest step-100 metrics.json
for spec in "step-200 0.18 2" "step-300 0.25 3"; do
  read -r name loss seed <<<"$spec"
  if [ $HAVE_TORCH = 1 ]; then
    show torch_save "$MNT/$name" "$seed" "$loss"
  else
    show plain_save "$MNT/$name" "$loss"
  fi
  check "$name committed after settle_ms=$SETTLE_MS" wait_latest "$name" metrics.json
done

say "what the mount shows"
show ls -la "$MNT"
show cat "$MNT/.ckptfs/latest"
show ls -la "$MNT/latest/"
show ls -la "$MNT/best_val_loss/"
echo "best_val_loss is:"
show cat "$MNT/best_val_loss/metrics.json"
check "latest is step-300" cmp -s "$MNT/latest/metrics.json" "$MNT/step-300/metrics.json"
check "best_val_loss is step-200" cmp -s "$MNT/best_val_loss/metrics.json" "$MNT/step-200/metrics.json"
if [ $HAVE_TORCH = 1 ]; then
  torch_load() { "$PY" -c 'import sys, torch; ck = torch.load(sys.argv[1]); print("seed", ck["seed"], "tensors", sorted(ck["model"]))' "$1"; }
  show torch_load "$MNT/latest/model.pt"
fi
show cat "$MNT/.ckptfs/status"

if [ -x "$BUILD/ckpt" ]; then
  say "the ckpt tool over the same store"
  show "$BUILD/ckpt" ls "$STORE"
fi

if [ -s "$LOG" ]; then
  say "ckptfs said"
  show cat "$LOG"
fi

say "unmount"
show fusermount3 -u "$MNT"
for _ in $(seq 100); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
check "daemon exited after unmount" sh -c "! kill -0 $DAEMON 2>/dev/null"

say "demo done: $([ $FAILED = 0 ] && echo 'all ok' || echo "$FAILED step(s) failed")"
[ "$FAILED" = 0 ]
