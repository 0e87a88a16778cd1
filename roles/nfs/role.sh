#!/bin/bash
# kldload role: nfs — NFSv4-only file server; shares are ZFS datasets exported through sharenfs.
# order: 35
# requires: base zfs
# provides: nfs
# setting: KLDLOAD_NFS_CLIENTS cidr4
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

POOL="${KLDLOAD_POOL_NAME:-rpool}"
# The network allowed to mount, as a CIDR. Default: the subnet of the interface with the default route.
CLIENTS="${KLDLOAD_NFS_CLIENTS:-$(kl_local_subnet)}"
if ! [[ "$CLIENTS" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]]; then
  die "nfs: no client network: set KLDLOAD_NFS_CLIENTS to a CIDR such as 192.168.1.0/24 (got '${CLIENTS}')"
fi
SELF="$(ip -4 -o addr show scope global | awk '{ split($4, a, "/"); print a[1]; exit }')"

kl_phase "packages"
pkg_install nfs-kernel-server nftables

kl_phase "nfsv4 only"
# v2/v3 need rpcbind, mountd and lockd on open ports; v4 needs only 2049/tcp.
mkdir -p /etc/nfs.conf.d
cat >/etc/nfs.conf.d/kldload.conf <<'CONF'
# Written by the kldload nfs role: NFSv4 only.
[nfsd]
vers3=n
vers4=y
vers4.1=y
vers4.2=y
CONF
systemctl mask --now rpcbind.service rpcbind.socket

kl_phase "datasets"
# Bulk files: 1M records. sharenfs makes ZFS export each dataset (it writes /etc/exports.d/zfs.exports).
ensure_dataset "${POOL}/exports" mountpoint=/srv/exports canmount=on compression=zstd atime=off
ensure_dataset "${POOL}/exports/share" recordsize=1M xattr=sa acltype=posixacl \
  "sharenfs=rw=@${CLIENTS},sync,no_subtree_check,root_squash"
ensure_dataset "${POOL}/exports/images" recordsize=1M \
  "sharenfs=ro=@${CLIENTS},no_subtree_check,root_squash"
chmod 1777 /srv/exports/share

kl_phase "firewall"
fw_allow nfs tcp 2049 "$CLIENTS"
fw_apply

kl_phase "snapshots"
snapshot_schedule "${POOL}/exports" hourly=48 daily=30 monthly=6 recursive=yes

kl_phase "service"
restart_service nfs-server.service 60
zfs share -a

kl_phase "verify"
exported() { exportfs -v | grep "^/srv/exports/share" >/dev/null; }
only_v4() { grep -q -- '-3' /proc/fs/nfsd/versions && grep -q '+4' /proc/fs/nfsd/versions; }
# A real client mount over TCP from this host's own address (inside the allowed network).
mount_write_read() {
  local mnt ok=1
  mnt="$(mktemp -d)"
  if ! mount -t nfs4 -o proto=tcp,port=2049,timeo=100 "${SELF}:/srv/exports/share" "$mnt"; then
    rmdir "$mnt"
    return 1
  fi
  # Written as an unprivileged user, as clients do: client root is squashed to nobody, and the
  # client kernel's fs.protected_regular refuses root an O_TRUNC open of a file nobody owns in a
  # sticky directory.
  if setpriv --reuid=nobody --regid=nogroup --clear-groups \
    sh -c 'echo "kldload nfs" >"$1/.kldload-verify"' sh "$mnt" &&
    grep -q "kldload nfs" /srv/exports/share/.kldload-verify &&
    [[ "$(stat -c %U /srv/exports/share/.kldload-verify)" == nobody ]]; then
    ok=0
  fi
  rm -f "${mnt}/.kldload-verify" /srv/exports/share/.kldload-verify
  umount "$mnt"
  rmdir "$mnt"
  return "$ok"
}
verify_service_active nfs-server.service
verify_port_listening 2049
verify_dataset "${POOL}/exports/share" recordsize=1M
verify_cmd "/srv/exports/share is exported to ${CLIENTS}" exported
verify_cmd "nfsd serves NFSv4 only ($(tr '\n' ' ' </proc/fs/nfsd/versions))" only_v4
verify_cmd "an NFSv4 client mounts ${SELF}:/srv/exports/share, writes and reads back" mount_write_read
verify_summary
