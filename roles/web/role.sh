#!/bin/bash
# kldload role: web — nginx serving /srv/www from its own datasets, nftables, snapshot schedule.
# order: 20
# requires: base zfs
# provides: web
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

POOL="${KLDLOAD_POOL_NAME:-rpool}"
HOST="$(hostname)"

kl_phase "datasets"
# Content, logs and certificates each get a dataset: own snapshots, quotas and rollback. They exist
# before the package so nginx's own files land inside them.
ensure_dataset "${POOL}/srv/www" mountpoint=/srv/www
ensure_dataset "${POOL}/srv/certs" mountpoint=/srv/certs
ensure_dataset "${POOL}/var/log/nginx" com.sun:auto-snapshot=false

kl_phase "packages"
pkg_install nginx nftables

kl_phase "site"
mkdir -p /srv/www/html
if [[ ! -e /srv/www/html/index.html ]]; then
  printf '<!doctype html>\n<title>%s</title>\n<h1>kldload web role on %s</h1>\n' "$HOST" "$HOST" >/srv/www/html/index.html
fi
cat >/etc/nginx/sites-available/kldload <<'NGINX'
# Written by the kldload web role.
server {
    listen 80 default_server;
    listen [::]:80 default_server;
    server_name _;
    root /srv/www/html;
    index index.html;
    location / {
        try_files $uri $uri/ =404;
    }
}
NGINX
ln -sfn ../sites-available/kldload /etc/nginx/sites-enabled/kldload
rm -f /etc/nginx/sites-enabled/default
nginx -t
if [[ -n "${KLDLOAD_CERTBOT_EMAIL:-}" ]]; then
  log "certbot: credentials given, but certificates need DNS and network; run certbot after first boot"
else
  log "certbot: no credentials given; serving plain HTTP on port 80"
fi

kl_phase "firewall"
cat >/etc/nftables.conf <<'NFT'
#!/usr/sbin/nft -f
# Written by the kldload web role: ssh, http, https in; everything else dropped.
flush ruleset
table inet filter {
  chain input {
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iif lo accept
    meta l4proto { icmp, ipv6-icmp } accept
    udp dport { 68, 546 } accept
    tcp dport { 22, 80, 443 } accept
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
  }
}
NFT
systemctl enable --now nftables.service
systemctl reload-or-restart nftables.service

kl_phase "snapshots"
mkdir -p /etc/sanoid
if ! grep -q "^\[${POOL}/srv/www\]" /etc/sanoid/sanoid.conf 2>/dev/null; then
  cat >>/etc/sanoid/sanoid.conf <<SANOID
[${POOL}/srv/www]
  use_template = web
  recursive = yes

[template_web]
  hourly = 24
  daily = 14
  monthly = 3
  autosnap = yes
  autoprune = yes
SANOID
fi
systemctl enable --now sanoid.timer

kl_phase "service"
systemctl enable nginx.service
systemctl restart nginx.service
wait_for_service nginx.service 60

kl_phase "verify"
verify_service_active nginx.service
verify_port_listening 80
verify_http http://127.0.0.1/ "kldload web role"
verify_dataset "${POOL}/srv/www" mountpoint=/srv/www
verify_service_active nftables.service
verify_summary
