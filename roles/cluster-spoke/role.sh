#!/bin/bash
# kldload role: cluster-spoke — a spoke of a WireGuard cluster: enrolls with the hub on first boot, managed by its ansible.
# order: 47
# requires: base
# provides: cluster-spoke
# The seed comes from `kldload cluster seed OUT …` as the payload's cluster/ folder (build --payload OUT/spoke).
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

SRC=/root/darksite/cluster
CONF=/etc/kldload/cluster
USER_NAME=kldload-ansible
for f in seed.env token tls.crt; do
  if [[ ! -s "${SRC}/${f}" ]]; then
    die "cluster-spoke: ${SRC}/${f} missing; make a seed with 'kldload cluster seed OUT --endpoint HOST:PORT' and build with --payload OUT/spoke"
  fi
done
kl_load_manifest "${SRC}/seed.env"
if [[ "${CLUSTER_ROLE:-}" != spoke ]]; then
  die "cluster-spoke: ${SRC}/seed.env says CLUSTER_ROLE=${CLUSTER_ROLE:-} (the hub's seed); use the seed's spoke/ tree"
fi

kl_phase "packages"
pkg_install wireguard-tools nftables iproute2 python3 sudo openssh-server

kl_phase "seed and key"
install -d -m 0700 "$CONF" /etc/wireguard
install -m 0644 "${SRC}/seed.env" "${SRC}/tls.crt" "$CONF/"
install -m 0600 "${SRC}/token" "$CONF/"
if [[ ! -s "${CONF}/wg.key" ]]; then
  (umask 077 && wg genkey >"${CONF}/wg.key")
  log "WireGuard key generated (${CONF}/wg.key, 0600)"
fi
if [[ ! -s /etc/ssh/ssh_host_ed25519_key.pub ]]; then
  ssh-keygen -A
fi

kl_phase "ansible user"
# Unprivileged: the hub's key gets in only from the hub's wg0 address (written at enrollment); sudo for become.
ensure_user "$USER_NAME" --system -m -d "/var/lib/${USER_NAME}" -s /bin/bash
usermod -p '*' "$USER_NAME"
printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$USER_NAME" >"/etc/sudoers.d/${USER_NAME}.new"
chmod 0440 "/etc/sudoers.d/${USER_NAME}.new"
visudo -cqf "/etc/sudoers.d/${USER_NAME}.new"
mv -f "/etc/sudoers.d/${USER_NAME}.new" "/etc/sudoers.d/${USER_NAME}"

kl_phase "join unit"
# A refusal (exit 3: wrong token, window closed, not the pinned hub) is final; anything else is retried
# until the hub answers, which may boot after this spoke.
cat >/etc/systemd/system/kldload-cluster-join.service <<'UNIT'
# Written by the kldload cluster-spoke role.
[Unit]
Description=kldload cluster: enroll with the hub, then bring up wg0 (kldload cluster enroll)
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/kldload cluster enroll
Restart=on-failure
RestartSec=15
RestartPreventExitStatus=3

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable kldload-cluster-join.service
systemctl start --no-block kldload-cluster-join.service

kl_phase "verify"
key_private() { [[ "$(stat -c %a "${CONF}/wg.key" "${CONF}/token" | sort -u)" == 600 ]]; }
sudo_ok() { sudo -l -U "$USER_NAME" | grep -q NOPASSWD; }
verify_cmd "kldload-cluster-join.service is enabled" systemctl is-enabled --quiet kldload-cluster-join.service
verify_cmd "WireGuard key and token are 0600" key_private
verify_cmd "${USER_NAME} exists with passwordless sudo" sudo_ok
verify_cmd "python3 is there for ansible" command -v python3
verify_summary
