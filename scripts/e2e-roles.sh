#!/bin/bash
# The longer proof: every role of the library in a VM (three ISOs), each role's own verification must
# pass; per-role first-boot times go to bench/results/roles-<stamp>.json. About 60 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/host-deps.sh
node --import tsx bench/roles.ts "$@"
