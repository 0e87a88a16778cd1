# shellcheck shell=bash
# Sourced through BASH_ENV by `kldload firstboot run`, for postinstall.sh only: strict mode and an
# ERR trap that records the failing line and command in $KLDLOAD_FAILURE_FILE.
# BASH_ENV is dropped at once so no other bash the script starts (maintainer scripts…) inherits it.
unset BASH_ENV
# shellcheck source=lib.sh
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict
