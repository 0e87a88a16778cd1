#!/bin/bash
# Test role: records each first-boot run, so the VM test can prove first boot ran exactly once.
# shared: yes
# requires: base
# provides: test-record
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict
mkdir -p /var/lib/kldload-test
echo "$(date -u +%FT%TZ) host=${KLDLOAD_HOSTNAME} profile=${KLDLOAD_PROFILE}" >>/var/lib/kldload-test/postinstall-runs
log "recorded run for ${KLDLOAD_HOSTNAME}"
