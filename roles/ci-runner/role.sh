#!/bin/bash
# kldload role: ci-runner — a CI build host on Docker: cache and build datasets, a ci user; GitLab Runner
# when its .deb was supplied at build, registered when a URL and token are given.
# order: 26
# requires: base zfs docker
# provides: ci-runner
# wants-debs: gitlab-runner
# setting: KLDLOAD_CI_URL url
# setting: KLDLOAD_CI_TOKEN token secret
# setting: KLDLOAD_CI_CONCURRENT count
# setting: KLDLOAD_CI_USER name
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

POOL="${KLDLOAD_POOL_NAME:-rpool}"
CI_USER="${KLDLOAD_CI_USER:-ci}"
CONCURRENT="${KLDLOAD_CI_CONCURRENT:-$(nproc)}"
if ! [[ "$CONCURRENT" =~ ^[1-9][0-9]*$ ]]; then
  die "ci-runner: KLDLOAD_CI_CONCURRENT must be a positive number (got '${CONCURRENT}')"
fi

kl_phase "datasets"
# The cache holds big tarballs (1M records); builds are many small files that come and go.
ensure_dataset "${POOL}/ci" mountpoint=/srv/ci canmount=off
ensure_dataset "${POOL}/ci/cache" mountpoint=/srv/ci/cache recordsize=1M compression=zstd atime=off
ensure_dataset "${POOL}/ci/builds" mountpoint=/srv/ci/builds recordsize=128K compression=lz4 atime=off sync=disabled com.sun:auto-snapshot=false

kl_phase "packages"
pkg_install git git-lfs ca-certificates
RUNNER=""
if pkg_available gitlab-runner; then
  pkg_install gitlab-runner
  RUNNER=yes
else
  log "gitlab-runner: NOT on the darksite. Debian does not package it; this host is ready for any runner"
  log "  (user ${CI_USER} in the docker group, /srv/ci/cache, /srv/ci/builds). For GitLab, supply it at build:"
  log "  kldload build --role docker --role ci-runner --deb gitlab-runner_<v>_amd64.deb"
fi

kl_phase "ci user"
ensure_user "$CI_USER" -m -s /bin/bash
usermod -aG docker "$CI_USER"
chown "$CI_USER": /srv/ci/cache /srv/ci/builds

kl_phase "runner"
if [[ -n "$RUNNER" ]]; then
  mkdir -p /etc/gitlab-runner
  if [[ -n "${KLDLOAD_CI_URL:-}" && -n "${KLDLOAD_CI_TOKEN:-}" ]]; then
    if ! grep -q '^\[\[runners\]\]' /etc/gitlab-runner/config.toml 2>/dev/null; then
      # The token is passed in the environment, never on a command line that ps or the log would show.
      CI_SERVER_URL="$KLDLOAD_CI_URL" RUNNER_TOKEN="$KLDLOAD_CI_TOKEN" \
        retry 3 10 gitlab-runner register --non-interactive --executor docker \
        --docker-image debian:trixie --docker-volumes /srv/ci/cache:/cache \
        --builds-dir /srv/ci/builds --cache-dir /cache --name "$(hostname)"
    fi
  else
    log "runner: not registered (set KLDLOAD_CI_URL and KLDLOAD_CI_TOKEN, or run gitlab-runner register)"
  fi
  if [[ -e /etc/gitlab-runner/config.toml ]]; then
    sed -i "s/^concurrent = .*/concurrent = ${CONCURRENT}/" /etc/gitlab-runner/config.toml
  fi
  restart_service gitlab-runner.service 60
fi

kl_phase "snapshots"
snapshot_schedule "${POOL}/ci/cache" hourly=0 daily=7 monthly=0

kl_phase "verify"
in_docker_group() { id -nG "$CI_USER" | grep -w docker >/dev/null; }
docker_as_ci() { runuser -u "$CI_USER" -- docker info --format '{{.Driver}}' | grep -x zfs >/dev/null; }
verify_dataset "${POOL}/ci/cache" mountpoint=/srv/ci/cache recordsize=1M
verify_dataset "${POOL}/ci/builds" mountpoint=/srv/ci/builds
verify_cmd "user ${CI_USER} is in the docker group" in_docker_group
verify_cmd "${CI_USER} reaches Docker (zfs driver) without sudo" docker_as_ci
verify_cmd "git and git-lfs work" git lfs version
if [[ -n "$RUNNER" ]]; then
  verify_service_active gitlab-runner.service
fi
verify_summary
