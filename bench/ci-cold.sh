#!/bin/bash
# The CI budget, measured: `bash .ci/run` in a fresh clone of this repository with an empty
# KLDLOAD_CACHE (cold: the ZFS module, both image layers and the darksite are built from nothing),
# as CI runs it (CI=true, no stdin). Writes bench/results/ci-cold-<stamp>.json with the total and
# each test's duration. About 55 minutes on 2 cores. Nothing else may use the CPU meanwhile.
#
#   bash bench/ci-cold.sh [WORKDIR]      (default /var/tmp/kl-ci-cold; deleted first)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-/var/tmp/kl-ci-cold}
rm -rf "$work"
mkdir -p "$work/cache"
git clone -q "$repo" "$work/main"
cp -r "$repo/../shared" "$work/shared" 2>/dev/null || true
commit=$(git -C "$work/main" rev-parse --short HEAD)
start=$(date +%s)
set +e
(cd "$work/main" && CI=true KLDLOAD_CACHE="$work/cache" bash .ci/run </dev/null >"$work/ci.log" 2>&1)
rc=$?
set -e
seconds=$(($(date +%s) - start))
node "$repo/bench/ci-log.mjs" "$work/ci.log" "$commit" "$rc" "$seconds" "$repo/bench/results"
exit "$rc"
