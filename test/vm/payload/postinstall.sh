#!/bin/bash
# Test postinstaller: records each run so the VM test can prove it ran exactly once.
set -euo pipefail
mkdir -p /var/lib/kldload-test
echo "$(date -u +%FT%TZ) host=${KLDLOAD_HOSTNAME} profile=${KLDLOAD_PROFILE}" >> /var/lib/kldload-test/postinstall-runs
echo "postinstall: recorded run for ${KLDLOAD_HOSTNAME}"
