#!/bin/bash
# One group of host-side tests, one file at a time:
#   unit         no network, no tool but node: run with the network cut off (unshare -n, as root;
#                unshare -rn otherwise) when unshare can, to prove it; said so when it cannot.
#   integration  the Debian mirror, gpg, apt, dpkg-deb, bash, shellcheck, cpio … (the real tools).
# Caches are throw-away (test/unit/cache.ts): downloads go to one temp folder shared by the group's
# files (KLDLOAD_TEST_DOWNLOADS), and XDG_CACHE_HOME points at an empty temp folder, so a test that
# falls back to the default cache (~/.cache/kldload) fails the group instead of filling it. TMPDIR is
# a folder of that temp folder too, so nothing a test leaves in it outlives the group.
set -euo pipefail
cd "$(dirname "$0")/.."
group=${1:?usage: scripts/test-group.sh unit|integration}
case $group in unit | integration) ;; *) echo "test-group: unknown group $group" >&2; exit 2 ;; esac
tmp=$(mktemp -d)
# --one-file-system: a mount a failed test left behind is not emptied with the folder.
trap 'rm -rf --one-file-system "$tmp"' EXIT
export KLDLOAD_TEST_DOWNLOADS=$tmp/downloads XDG_CACHE_HOME=$tmp/xdg
# The tests' own temp folders (mkdtemp) go with the group's, whether or not a test removes its own.
mkdir "$tmp/tmp"
export TMPDIR=$tmp/tmp
# The CLI tests run the bundle: build it from this tree.
node scripts/bundle.mjs
run=(node --import tsx --test --test-concurrency=1 --test-reporter=spec test/"$group"/*.test.ts)
if [ "$group" = unit ]; then
  if unshare -n true 2>/dev/null; then
    run=(unshare -n "${run[@]}")
  elif unshare -rn true 2>/dev/null; then
    run=(unshare -rn "${run[@]}")
  else
    echo "test-group: unshare cannot cut the network here; the unit tests run with it" >&2
  fi
fi
status=0
"${run[@]}" || status=$?
if [ -e "$XDG_CACHE_HOME/kldload" ]; then
  echo "test-group: a $group test wrote to the default cache (~/.cache/kldload); give it a throw-away one (test/unit/cache.ts)" >&2
  find "$XDG_CACHE_HOME/kldload" -maxdepth 2 >&2
  status=1
fi
exit "$status"
