#!/usr/bin/env bash
# Installs the Debian 12 packages ckptfs needs (build, tests, demo). Idempotent:
# does nothing when everything is already installed.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libsqlite3-dev sqlite3 zlib1g-dev libzstd-dev
      libssl-dev libxxhash-dev libjansson-dev check libfuse3-dev fuse3 attr
      clang libclang-rt-14-dev python3-numpy python3-torch)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
