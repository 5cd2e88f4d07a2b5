#!/usr/bin/env bash
# Installs the Debian 12 packages ckptfs needs (build, tests, demo, and the
# PostgreSQL / Ceph services that tests/services/*.sh start privately).
# Idempotent: does nothing when everything is already installed.
#
# Service packages must not start system daemons: while apt runs, a
# policy-rc.d that refuses every start is in place (unless the machine already
# has one), so a fresh install leaves Debian's `main` PostgreSQL cluster
# created but down and no ceph-* daemon running. Nothing already running is
# stopped; the test services use their own sockets and ports anyway.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libsqlite3-dev sqlite3 zlib1g-dev libzstd-dev
      libssl-dev libxxhash-dev libjansson-dev libarchive-dev check libfuse3-dev fuse3 attr
      clang clang-format libclang-rt-14-dev python3-numpy python3-torch man-db
      postgresql-15 libpq-dev ceph-mon ceph-osd ceph-common librados-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -gt 0 ] || exit 0

echo "deps: installing ${missing[*]}"
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  trap '$SUDO rm -f "$policy"' EXIT
  printf '#!/bin/sh\n# ckptfs tools/deps.sh: no service starts during this install\nexit 101\n' |
    $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
