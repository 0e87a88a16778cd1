#!/bin/bash
# kldload role: docker — Debian's docker.io on the zfs storage driver, a deploy user, images from the ISO.
# order: 25
# requires: base zfs
# provides: docker containers
# setting: KLDLOAD_DOCKER_USER name
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

POOL="${KLDLOAD_POOL_NAME:-rpool}"
DEPLOY_USER="${KLDLOAD_DOCKER_USER:-deploy}"
IMAGES="${KLDLOAD_DARKSITE:-/root/darksite}/images"

kl_phase "datasets"
# With the zfs driver every image layer is a ZFS dataset and every container a clone: no overlay on
# top of ZFS, snapshots for free. Volumes get their own dataset so they can be snapshotted and sent.
ensure_dataset "${POOL}/docker" mountpoint=/var/lib/docker recordsize=128K compression=zstd atime=off com.sun:auto-snapshot=false
ensure_dataset "${POOL}/docker-volumes" mountpoint=/var/lib/docker-volumes recordsize=128K compression=zstd atime=off

kl_phase "configure"
mkdir -p /etc/docker
# Written before the package: dockerd's first start must already use zfs, or it initialises overlay2.
cat >/etc/docker/daemon.json <<'JSON'
{
  "storage-driver": "zfs",
  "log-driver": "json-file",
  "log-opts": { "max-size": "50m", "max-file": "5" },
  "live-restore": true
}
JSON

kl_phase "packages"
pkg_install docker.io docker-cli docker-compose nftables

kl_phase "service"
restart_service docker.service 120
ensure_user "$DEPLOY_USER" -m -s /bin/bash
usermod -aG docker "$DEPLOY_USER"
install_timer kldload-docker-prune 'Sun *-*-* 03:00:00' \
  'kldload: prune Docker images and build cache older than a week' \
  '/usr/bin/docker system prune -af --filter until=168h' after=docker.service requires=docker.service

kl_phase "images"
# Images given at build time (kldload build --image FILE.tar) ride on the ISO: load them offline.
loaded=()
if [[ -d "$IMAGES" ]]; then
  for tar in "$IMAGES"/*.tar; do
    [[ -e "$tar" ]] || continue
    out="$(docker load --input "$tar")"
    log "images: ${tar##*/}: ${out//$'\n'/; }"
    while IFS= read -r line; do
      if [[ "$line" =~ ^Loaded\ image(\ ID)?:\ (.+)$ ]]; then
        loaded+=("${BASH_REMATCH[2]}")
      fi
    done <<<"$out"
  done
fi
if ((${#loaded[@]} == 0)); then
  log "images: none supplied (kldload build --image FILE.tar puts docker-save/OCI archives here)"
fi

kl_phase "verify"
verify_service_active docker.service
verify_dataset "${POOL}/docker" mountpoint=/var/lib/docker
driver_is_zfs() { [[ "$(docker info --format '{{.Driver}}')" == zfs ]]; }
in_docker_group() { id -nG "$DEPLOY_USER" | grep -w docker >/dev/null; }
# A container's filesystem is a ZFS clone of the image's top layer: creating one proves the driver.
container_fs() {
  local id
  id="$(docker create --network none "$1")"
  docker rm "$id" >/dev/null
}
verify_cmd "docker uses the zfs storage driver" driver_is_zfs
verify_cmd "user ${DEPLOY_USER} is in the docker group" in_docker_group
verify_service_active kldload-docker-prune.timer
for img in "${loaded[@]}"; do
  verify_cmd "image ${img} is loaded" docker image inspect "$img"
  verify_cmd "a container of ${img} gets its ZFS clone" container_fs "$img"
done
verify_summary
