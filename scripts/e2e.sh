#!/bin/bash
# README command 1: build the installer ISO and prove it in a VM (install offline, boot, check).
# Installs what it needs first. Output: out/kldload.iso and a PASS/FAIL line per check.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/host-deps.sh
mkdir -p out
node dist/kldload.mjs build --profile server --packages tree --role web --role postgres --payload test/vm/payload -o out/kldload.iso "$@"
node dist/kldload.mjs test out/kldload.iso
