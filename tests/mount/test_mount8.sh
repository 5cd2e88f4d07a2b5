#!/usr/bin/env bash
# mount(8) and fstab through mount.fuse3 (libfuse's helper): options such as
# keep_last=3, defaults and _netdev pass through; findmnt shows the store as
# SOURCE and fuse.ckptfs as the type. mount(8) runs helpers with its own
# PATH, so `mount -t fuse.ckptfs` finds ckptfs once it is installed
# (cmake --install); here the build's binary is named explicitly with the
# "fuse" type's PROGRAM#SOURCE form, and mount.fuse3 -t ckptfs is run
# directly with the build on PATH (what mount -t fuse.ckptfs runs).
source "$(dirname "$0")/lib.sh"
command -v mount.fuse3 >/dev/null || { echo "SKIP: no mount.fuse3" >&2; exit 77; }
[ "$(id -u)" -eq 0 ] || { echo "SKIP: mount(8) needs root" >&2; exit 77; }

mkdir -p "$T/bin" "$STORE_DIR"
ln -s "$CKPTFS" "$T/bin/ckptfs"

check_mount() { # WHAT STEP
  adopt_daemon
  assert_eq "$(findmnt -n -o SOURCE,FSTYPE "$MNT" | tr -s ' ')" "$STORE fuse.ckptfs" "$1: findmnt SOURCE and type"
  head -c 100000 /dev/urandom >"$T/w.bin"
  cp "$T/w.bin" "$MNT/step-$2.bin"
  assert_eq "$(latest_name)" "step-$2.bin" "$1: a file commits and is latest"
  "$CKPT" policy "$STORE" | grep -q "keep_last=3" || fail "$1: keep_last=3 not applied"
  unmount_quietly
  reap_daemon 10
  DAEMON_PID=
}

PATH="$T/bin:$PATH" timeout 20 mount.fuse3 "$STORE" "$MNT" -t ckptfs -o keep_last=3 ||
  fail "mount.fuse3 -t ckptfs"
check_mount "mount.fuse3 -t ckptfs" 1

timeout 20 mount -t fuse "$T/bin/ckptfs#$STORE" "$MNT" -o keep_last=3 || fail "mount -t fuse"
check_mount "mount -t fuse PROGRAM#STORE" 2

printf '%s %s fuse defaults,keep_last=3,_netdev 0 0\n' "$(mounts_escape "$T/bin/ckptfs#$STORE")" "$MNT" >"$T/fstab"
timeout 20 mount --fstab "$T/fstab" "$MNT" || fail "mount of an fstab line"
check_mount "fstab line" 3
assert_eq "$("$CKPT" ls "$STORE" | grep -c 'step-')" "3" "the three checkpoints in the store"
echo "PASS [$TEST_NAME]"
