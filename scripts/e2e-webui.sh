#!/bin/bash
# The web installer's browser proof (test/vm-long/webui.test.ts): the live ISO serves the wizard in
# QEMU, Debian's Chromium drives it through playwright-core, the installed disk passes kldload test's
# checks. About 20 minutes on 2 cores (one ISO build from a warm cache, one install, one boot).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/host-deps.sh
if ! command -v chromium >/dev/null; then
  echo "e2e:webui: installing Debian's chromium (the browser the test drives)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null
fi
node scripts/bundle.mjs
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec test/vm-long/webui.test.ts
