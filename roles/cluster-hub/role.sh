#!/bin/bash
# kldload role: cluster-hub — the hub of a WireGuard cluster: wg0, token-guarded enrollment of spokes, ansible convergence.
# order: 46
# requires: base
# provides: cluster-hub
# The seed comes from `kldload cluster seed OUT …` as the payload's cluster/ folder (build --payload OUT/hub).
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

SRC=/root/darksite/cluster
CONF=/etc/kldload/cluster
for f in seed.env token tls.crt tls.key wg.key ansible/site.yml; do
  if [[ ! -s "${SRC}/${f}" ]]; then
    die "cluster-hub: ${SRC}/${f} missing; make a seed with 'kldload cluster seed OUT --endpoint HOST:PORT' and build with --payload OUT/hub"
  fi
done
kl_load_manifest "${SRC}/seed.env"
if [[ "${CLUSTER_ROLE:-}" != hub ]]; then
  die "cluster-hub: ${SRC}/seed.env says CLUSTER_ROLE=${CLUSTER_ROLE:-} (the spoke's seed); use the seed's hub/ tree"
fi
if [[ -e /etc/wireguard/wg0.conf ]] && ! grep -q '^# Written by kldload cluster' /etc/wireguard/wg0.conf; then
  die "cluster-hub: /etc/wireguard/wg0.conf belongs to something else (the vpn-gateway role?); one host cannot be both"
fi

kl_phase "packages"
pkg_install wireguard-tools nftables iproute2 ansible-core python3 openssh-client sudo

kl_phase "seed"
install -d -m 0700 "$CONF" /etc/wireguard
install -m 0644 "${SRC}/seed.env" "${SRC}/tls.crt" "$CONF/"
install -m 0600 "${SRC}/token" "${SRC}/tls.key" "${SRC}/wg.key" "$CONF/"
rm -rf "${CONF}/ansible"
cp -r "${SRC}/ansible" "${CONF}/ansible"
if [[ ! -s "${CONF}/ansible_ed25519" ]]; then
  ssh-keygen -q -t ed25519 -N '' -C "kldload-cluster-hub@$(hostname -s)" -f "${CONF}/ansible_ed25519"
  log "ansible key generated (${CONF}/ansible_ed25519, 0600): spokes authorize it at enrollment"
fi

kl_phase "forwarding"
cat >/etc/sysctl.d/60-kldload-cluster.conf <<'SYSCTL'
# Written by the kldload cluster-hub role: spokes reach each other through the hub on wg0.
net.ipv4.ip_forward = 1
SYSCTL
sysctl -q --system

kl_phase "wg0"
if [[ ! -e /etc/wireguard/wg0.conf ]]; then
  (
    umask 077
    cat >/etc/wireguard/wg0.conf <<CONF
# Written by kldload cluster (hub); rewritten at each enrollment, do not edit.
[Interface]
Address = ${CLUSTER_HUB_ADDRESS}/${CLUSTER_NET#*/}
ListenPort = ${CLUSTER_WG_PORT}
PostUp = wg set %i private-key ${CONF}/wg.key
CONF
  )
fi

kl_phase "firewall"
fw_allow cluster-hub udp "$CLUSTER_WG_PORT"
fw_allow cluster-hub tcp "$CLUSTER_ENROLL_PORT"
fw_rule cluster-hub forward 'iifname "wg0" oifname "wg0" accept'
fw_apply

kl_phase "units"
cat >/etc/systemd/system/kldload-cluster-enroll.service <<'UNIT'
# Written by the kldload cluster-hub role.
[Unit]
Description=kldload cluster: enrollment endpoint for spokes (kldload cluster serve)
Wants=network-online.target
After=network-online.target wg-quick@wg0.service
Requires=wg-quick@wg0.service

[Service]
ExecStart=/usr/sbin/kldload cluster serve
Restart=on-failure
RestartSec=5

[Install]
WantedBy=multi-user.target
UNIT
cat >/etc/systemd/system/kldload-cluster-converge.service <<'UNIT'
# Written by the kldload cluster-hub role. Started by the enrollment server when the expected spokes
# are in; by hand: systemctl start kldload-cluster-converge (or kldload cluster converge).
[Unit]
Description=kldload cluster: the playbook on every node over wg0 (kldload cluster converge)
After=network-online.target wg-quick@wg0.service
StartLimitIntervalSec=1h
StartLimitBurst=10

[Service]
Type=oneshot
ExecStart=/usr/sbin/kldload cluster converge
Restart=on-failure
RestartSec=60
UNIT
systemctl daemon-reload
restart_service wg-quick@wg0.service 30
restart_service kldload-cluster-enroll.service 30

kl_phase "verify"
# systemd says active when node starts; the enrollment server listens seconds later on a slow machine.
retry 60 2 _kl_listening "$CLUSTER_ENROLL_PORT" tcp || true
listening() { [[ "$(wg show wg0 listen-port)" == "$CLUSTER_WG_PORT" ]]; }
forwarding() { [[ "$(sysctl -n net.ipv4.ip_forward)" == 1 ]]; }
secrets_private() { [[ "$(stat -c %a "${CONF}/token" "${CONF}/wg.key" "${CONF}/tls.key" | sort -u)" == 600 ]]; }
verify_service_active wg-quick@wg0.service
verify_service_active kldload-cluster-enroll.service
verify_cmd "wg0 listens on udp ${CLUSTER_WG_PORT}" listening
verify_port_listening "$CLUSTER_WG_PORT" udp
verify_port_listening "$CLUSTER_ENROLL_PORT" tcp
verify_cmd "IPv4 forwarding is on (spoke to spoke through the hub)" forwarding
verify_cmd "token and private keys are 0600" secrets_private
verify_cmd "ansible-playbook is installed" command -v ansible-playbook
verify_summary
