#!/bin/bash
# README command 2: the whole test suite (typecheck, lint, import rules, unit tests, integration
# tests, VM end-to-end tests).
# Installs what it needs first. KLDLOAD_SKIP_VM=1 runs only the host-side tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/host-deps.sh
npx tsc --noEmit
npx biome check .
# Import rules between src/ folders (.dependency-cruiser.cjs): no cycles, only the allowed edges.
npx depcruise src test bench scripts --config .dependency-cruiser.cjs
# Host-side tests: unit (network cut off), then integration (scripts/test-group.sh); each stops the
# suite when it fails.
bash scripts/test-group.sh unit
bash scripts/test-group.sh integration
if [ "${KLDLOAD_SKIP_VM:-0}" != 1 ]; then
  # The VM tests build ISOs: into a cache of their own (kept between runs, keyed by content like any
  # kldload cache), never the user's ~/.cache/kldload. KLDLOAD_CACHE set by the caller wins.
  export KLDLOAD_CACHE=${KLDLOAD_CACHE:-/var/tmp/kldload-test-cache}
  # One file at a time: VM tests use both cores and must not overlap.
  node --import tsx --test --test-concurrency=1 --test-reporter=spec test/vm/*.test.ts
fi
