#!/bin/bash
# kldload role: vpn-gateway — a WireGuard hub with NAT to the uplink; add-vpn-client prints a QR code.
# order: 45
# requires: base
# provides: vpn
# setting: KLDLOAD_VPN_NET cidr4-24
# setting: KLDLOAD_VPN_PORT port
# setting: KLDLOAD_VPN_ENDPOINT host
# setting: KLDLOAD_VPN_CLIENT_DNS ips
# setting: KLDLOAD_VPN_CLIENT_ALLOWED_IPS cidrs
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

PORT="${KLDLOAD_VPN_PORT:-51820}"
NET="${KLDLOAD_VPN_NET:-10.200.0.0/24}"
if ! [[ "$NET" =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.0/24$ ]]; then
  die "vpn-gateway: KLDLOAD_VPN_NET must be a /24 ending in .0, such as 10.200.0.0/24 (got '${NET}')"
fi
PREFIX="${BASH_REMATCH[1]}"
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
  die "vpn-gateway: KLDLOAD_VPN_PORT must be a port number (got '${PORT}')"
fi
WAN="$(ip -4 route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')"
if [[ -z "$WAN" ]]; then
  die "vpn-gateway: no default route, so no uplink to NAT to; configure the network first"
fi

kl_phase "packages"
pkg_install wireguard-tools qrencode nftables iproute2

kl_phase "forwarding"
cat >/etc/sysctl.d/60-kldload-vpn.conf <<'SYSCTL'
# Written by the kldload vpn-gateway role: route between VPN clients and the uplink.
net.ipv4.ip_forward = 1
net.ipv6.conf.all.forwarding = 1
SYSCTL
sysctl -q --system

kl_phase "keys"
install -d -m 0700 /etc/wireguard /etc/wireguard/clients
if [[ ! -s /etc/wireguard/server.key ]]; then
  (umask 077 && wg genkey >/etc/wireguard/server.key)
  log "server key generated (/etc/wireguard/server.key, 0600)"
fi
wg pubkey </etc/wireguard/server.key >/etc/wireguard/server.pub
if [[ ! -e /etc/wireguard/wg0.conf ]]; then
  (
    umask 077
    cat >/etc/wireguard/wg0.conf <<CONF
# Written by the kldload vpn-gateway role. Peers are added by add-vpn-client (removed by remove-vpn-client).
[Interface]
Address = ${PREFIX}.1/24
ListenPort = ${PORT}
PostUp = wg set %i private-key /etc/wireguard/server.key
CONF
  )
fi
cat >/etc/wireguard/kldload-vpn.env <<ENV
# Read by add-vpn-client; written by the kldload vpn-gateway role.
VPN_PREFIX=${PREFIX}
VPN_PORT=${PORT}
VPN_ENDPOINT=${KLDLOAD_VPN_ENDPOINT:-}
VPN_CLIENT_ALLOWED_IPS=${KLDLOAD_VPN_CLIENT_ALLOWED_IPS:-0.0.0.0/0}
VPN_CLIENT_DNS=${KLDLOAD_VPN_CLIENT_DNS:-}
ENV

kl_phase "client tools"
cat >/usr/local/sbin/add-vpn-client <<'SCRIPT'
#!/bin/bash
# add-vpn-client NAME — a WireGuard client for this hub: keys, the next free address, the peer added to
# wg0 (live and in wg0.conf), the client config in /etc/wireguard/clients/NAME.conf and its QR code.
set -euo pipefail
name="${1:-}"
if ! [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$ ]]; then
  echo "usage: add-vpn-client NAME   (NAME: letters, digits, . _ -; up to 32)" >&2
  exit 2
fi
# shellcheck source=/dev/null
. /etc/wireguard/kldload-vpn.env
dir=/etc/wireguard/clients
if [[ -e "${dir}/${name}.conf" ]]; then
  echo "add-vpn-client: ${name} exists (${dir}/${name}.conf); remove-vpn-client ${name} first" >&2
  exit 1
fi
used=" $(grep -ho "AllowedIPs = ${VPN_PREFIX//./\\.}\.[0-9]*" /etc/wireguard/wg0.conf | awk -F. '{ print $4 }' | tr '\n' ' ') "
ip=""
for n in $(seq 2 254); do
  if [[ "$used" != *" ${n} "* ]]; then
    ip="${VPN_PREFIX}.${n}"
    break
  fi
done
[[ -n "$ip" ]] || { echo "add-vpn-client: no free address left in ${VPN_PREFIX}.0/24" >&2; exit 1; }
endpoint="${VPN_ENDPOINT:-$(ip -4 -o route get 1.1.1.1 | awk '{ for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit } }')}"
umask 077
key="$(wg genkey)"
pub="$(printf '%s' "$key" | wg pubkey)"
psk="$(wg genpsk)"
printf '%s\n' "$psk" >"${dir}/${name}.psk"
printf '\n[Peer]\n# %s\nPublicKey = %s\nPresharedKey = %s\nAllowedIPs = %s/32\n' \
  "$name" "$pub" "$psk" "$ip" >>/etc/wireguard/wg0.conf
if ip link show wg0 >/dev/null 2>&1; then
  wg set wg0 peer "$pub" preshared-key "${dir}/${name}.psk" allowed-ips "${ip}/32"
fi
{
  printf '[Interface]\nPrivateKey = %s\nAddress = %s/32\n' "$key" "$ip"
  if [[ -n "$VPN_CLIENT_DNS" ]]; then printf 'DNS = %s\n' "$VPN_CLIENT_DNS"; fi
  printf '\n[Peer]\nPublicKey = %s\nPresharedKey = %s\nEndpoint = %s:%s\nAllowedIPs = %s\nPersistentKeepalive = 25\n' \
    "$(cat /etc/wireguard/server.pub)" "$psk" "$endpoint" "$VPN_PORT" "$VPN_CLIENT_ALLOWED_IPS"
} >"${dir}/${name}.conf"
qrencode -t PNG -o "${dir}/${name}.png" <"${dir}/${name}.conf"
echo "client ${name}: ${ip}, config ${dir}/${name}.conf, QR ${dir}/${name}.png"
qrencode -t ansiutf8 <"${dir}/${name}.conf"
SCRIPT
cat >/usr/local/sbin/remove-vpn-client <<'SCRIPT'
#!/bin/bash
# remove-vpn-client NAME — drop the peer from wg0 (live and wg0.conf) and delete its files.
set -euo pipefail
name="${1:-}"
dir=/etc/wireguard/clients
if ! [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$ && -e "${dir}/${name}.conf" ]]; then
  echo "usage: remove-vpn-client NAME   (one of: $(find "$dir" -name '*.conf' -printf '%f ' | sed 's/\.conf//g'))" >&2
  exit 2
fi
pub="$(awk -v n="# ${name}" '$0 == n { getline; print $3; exit }' /etc/wireguard/wg0.conf)"
if [[ -n "$pub" ]] && ip link show wg0 >/dev/null 2>&1; then
  wg set wg0 peer "$pub" remove
fi
awk -v n="# ${name}" '
  /^\[Peer\]$/ { held = $0; next }
  held != "" { if ($0 == n) { skip = 1; held = ""; next } print held; held = "" }
  skip && /^$/ { skip = 0 }
  skip && /^\[/ { skip = 0 }
  !skip { print }
' /etc/wireguard/wg0.conf >/etc/wireguard/wg0.conf.new
chmod 600 /etc/wireguard/wg0.conf.new
mv /etc/wireguard/wg0.conf.new /etc/wireguard/wg0.conf
rm -f "${dir}/${name}".{conf,psk,png}
echo "client ${name} removed"
SCRIPT
chmod 0755 /usr/local/sbin/add-vpn-client /usr/local/sbin/remove-vpn-client

kl_phase "firewall"
fw_allow vpn-gateway udp "$PORT"
fw_rule vpn-gateway input 'iifname "wg0" accept'
fw_rule vpn-gateway forward 'iifname "wg0" accept'
fw_rule vpn-gateway postrouting "ip saddr ${NET} oifname \"${WAN}\" masquerade"
fw_apply

kl_phase "service"
restart_service wg-quick@wg0.service 30

kl_phase "verify"
listening() { [[ "$(wg show wg0 listen-port)" == "$PORT" ]]; }
forwarding() { [[ "$(sysctl -n net.ipv4.ip_forward)" == 1 ]]; }
nat_rule() { nft list chain inet kldload postrouting | grep "masquerade" >/dev/null; }
# A client made and removed again: exercises add-vpn-client (keys, address, QR) end to end.
client_roundtrip() {
  local pub
  remove-vpn-client kldload-verify >/dev/null 2>&1 || true
  add-vpn-client kldload-verify >/dev/null
  [[ -s /etc/wireguard/clients/kldload-verify.png ]]
  grep -q "^Endpoint = .*:${PORT}$" /etc/wireguard/clients/kldload-verify.conf
  pub="$(awk '/^PrivateKey/ { print $3 }' /etc/wireguard/clients/kldload-verify.conf | wg pubkey)"
  wg show wg0 peers | grep -xF "$pub" >/dev/null
  remove-vpn-client kldload-verify >/dev/null
  ! wg show wg0 peers | grep -xF "$pub" >/dev/null
}
verify_service_active wg-quick@wg0.service
verify_cmd "wg0 listens on udp ${PORT}" listening
verify_port_listening "$PORT" udp
verify_cmd "IPv4 forwarding is on" forwarding
verify_cmd "clients are masqueraded to ${WAN}" nat_rule
verify_cmd "add-vpn-client makes a client with a QR code; remove-vpn-client removes it" client_roundtrip
verify_summary
