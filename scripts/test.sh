#!/bin/bash
# README command 2: the whole test suite (typecheck, lint, import rules, unit tests, VM end-to-end tests).
# Installs what it needs first. KLDLOAD_SKIP_VM=1 runs only the host-side tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/host-deps.sh
npx tsc --noEmit
npx biome check .
# Import rules between src/ folders (.dependency-cruiser.cjs): no cycles, only the allowed edges.
npx depcruise src test bench scripts --config .dependency-cruiser.cjs
files=(test/unit/*.test.ts)
if [ "${KLDLOAD_SKIP_VM:-0}" != 1 ]; then files+=(test/vm/*.test.ts); fi
# One file at a time: VM tests use both cores and must not overlap.
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
