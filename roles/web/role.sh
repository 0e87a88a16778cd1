#!/bin/bash
# kldload role: web — nginx serving /srv/www from its own datasets, nftables, snapshot schedule.
# order: 20
# requires: base zfs
# provides: web
# setting: KLDLOAD_CERTBOT_EMAIL email
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

POOL="${KLDLOAD_POOL_NAME:-rpool}"
HOST="$(hostname)"

kl_phase "datasets"
# Content, logs and certificates each get a dataset: own snapshots, quotas and rollback. They exist
# before the package so nginx's own files land inside them.
ensure_dataset "${POOL}/srv/www" mountpoint=/srv/www recordsize=16K compression=zstd atime=off
ensure_dataset "${POOL}/srv/certs" mountpoint=/srv/certs recordsize=4K
ensure_dataset "${POOL}/var/log/nginx" recordsize=128K compression=zstd com.sun:auto-snapshot=false

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
fw_allow web tcp 80,443
fw_apply

kl_phase "snapshots"
snapshot_schedule "${POOL}/srv/www" hourly=24 daily=14 monthly=3 recursive=yes

kl_phase "service"
restart_service nginx.service 60

kl_phase "verify"
verify_service_active nginx.service
verify_port_listening 80
verify_http http://127.0.0.1/ "kldload web role"
verify_dataset "${POOL}/srv/www" mountpoint=/srv/www
verify_cmd "firewall: table inet kldload is loaded" nft list table inet kldload
verify_summary
