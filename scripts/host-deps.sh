#!/bin/bash
# Installs what kldload needs on a Debian 12+ build host: Debian's tools for images and VMs, and
# the npm dependencies. Idempotent; apt runs only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(mmdebstrap squashfs-tools xorriso grub-efi-amd64-bin grub-pc-bin mtools dosfstools gdisk
  qemu-system-x86 qemu-utils ovmf gpgv debian-archive-keyring apt-utils openssh-client shellcheck
  e2fsprogs zstd xz-utils cpio
  openssl python3 gcc libc6-dev)  # openssl: cluster seeds and their tests; python3, gcc: the spray
# helper's test (it compiles a stand-in libzfs_core for the helper's ctypes calls)
missing=()
for p in "${PKGS[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "host-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent bundle
