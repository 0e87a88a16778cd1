#!/bin/bash
# kldload role: xmpp — ejabberd on PostgreSQL behind nginx (WebSocket, BOSH), TLS (self-signed until DNS
# credentials allow a real certificate), an admin account; the chat server is up on first boot.
# order: 70
# requires: base postgres web
# provides: xmpp
# setting: KLDLOAD_XMPP_DOMAIN domain
# setting: KLDLOAD_XMPP_ADMIN name
# setting: KLDLOAD_XMPP_CERT_EMAIL email
# setting: KLDLOAD_XMPP_CF_TOKEN token secret
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

DOMAIN="${KLDLOAD_XMPP_DOMAIN:-$(hostname -f 2>/dev/null || hostname)}"
if ! [[ "$DOMAIN" =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$ ]]; then
  die "xmpp: '${DOMAIN}' is not a domain name: set KLDLOAD_XMPP_DOMAIN (e.g. chat.example.com) or a FQDN hostname"
fi
ADMIN="${KLDLOAD_XMPP_ADMIN:-admin}"
DB=ejabberd
CERT_DIR=/etc/ejabberd/kldload
CERT="${CERT_DIR}/${DOMAIN}.pem"

kl_phase "packages"
pkg_install ejabberd erlang-p1-pgsql openssl curl

kl_phase "database"
DB_PASS="$(secret_get xmpp-db-password 32)"
# Fed to psql on stdin: the password never appears on a command line or in the log.
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres <<SQL
SELECT 'CREATE ROLE ${DB} LOGIN' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${DB}')\gexec
ALTER ROLE ${DB} WITH LOGIN PASSWORD '${DB_PASS}';
SELECT 'CREATE DATABASE ${DB} OWNER ${DB}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${DB}')\gexec
SQL

kl_phase "tls"
install -d -m 0750 -o root -g ejabberd "$CERT_DIR"
if [[ -n "${KLDLOAD_XMPP_CF_TOKEN:-}" && -n "${KLDLOAD_XMPP_CERT_EMAIL:-}" ]]; then
  pkg_install certbot python3-certbot-dns-cloudflare
  (umask 077 && printf 'dns_cloudflare_api_token = %s\n' "$KLDLOAD_XMPP_CF_TOKEN" >/root/kldload-secrets/cloudflare.ini)
  if retry 3 30 certbot certonly --non-interactive --agree-tos -m "$KLDLOAD_XMPP_CERT_EMAIL" \
    --dns-cloudflare --dns-cloudflare-credentials /root/kldload-secrets/cloudflare.ini \
    -d "$DOMAIN" -d "conference.${DOMAIN}" -d "upload.${DOMAIN}"; then
    cat "/etc/letsencrypt/live/${DOMAIN}/privkey.pem" "/etc/letsencrypt/live/${DOMAIN}/fullchain.pem" >"${CERT}.new"
    mv -f "${CERT}.new" "$CERT"
    log "tls: Let's Encrypt certificate for ${DOMAIN} (renewed by certbot.timer)"
  else
    warn "tls: certbot failed (no network or DNS?); using a self-signed certificate for now"
  fi
else
  log "tls: no DNS credentials (KLDLOAD_XMPP_CF_TOKEN, KLDLOAD_XMPP_CERT_EMAIL): self-signed certificate"
fi
if [[ ! -s "$CERT" ]]; then
  tmp="$(mktemp -d)"
  openssl req -x509 -newkey rsa:3072 -sha256 -days 825 -nodes -subj "/CN=${DOMAIN}" \
    -addext "subjectAltName=DNS:${DOMAIN},DNS:conference.${DOMAIN},DNS:upload.${DOMAIN}" \
    -keyout "${tmp}/key.pem" -out "${tmp}/cert.pem" 2>/dev/null
  cat "${tmp}/key.pem" "${tmp}/cert.pem" >"$CERT"
  rm -rf "$tmp"
fi
chown root:ejabberd "$CERT"
chmod 0640 "$CERT"

kl_phase "ejabberd"
(
  umask 027
  cat >/etc/ejabberd/ejabberd.yml.new <<YAML
# Written by the kldload xmpp role. The SQL password is in /root/kldload-secrets/xmpp-db-password.
hosts:
  - "${DOMAIN}"
loglevel: info
certfiles:
  - "${CERT}"
default_db: sql
sql_type: pgsql
sql_server: "127.0.0.1"
sql_port: 5432
sql_database: "${DB}"
sql_username: "${DB}"
sql_password: "${DB_PASS}"
# ejabberd creates and upgrades its own tables in the database.
update_sql_schema: true
auth_method: sql
auth_password_format: scram
acl:
  admin:
    user:
      - "${ADMIN}@${DOMAIN}"
  local:
    user_regexp: ""
  loopback:
    ip:
      - 127.0.0.0/8
      - ::1/128
access_rules:
  local:
    allow: local
  c2s:
    deny: blocked
    allow: all
  announce:
    allow: admin
  configure:
    allow: admin
  muc_create:
    allow: local
  pubsub_createnode:
    allow: local
  trusted_network:
    allow: loopback
api_permissions:
  "console commands":
    from: ejabberd_ctl
    who: all
    what: "*"
shaper:
  normal:
    rate: 3000
    burst_size: 20000
  fast: 100000
shaper_rules:
  max_user_sessions: 10
  max_user_offline_messages:
    5000: admin
    100: all
  c2s_shaper:
    none: admin
    normal: all
  s2s_shaper: fast
listen:
  - port: 5222
    ip: "::"
    module: ejabberd_c2s
    max_stanza_size: 262144
    shaper: c2s_shaper
    access: c2s
    starttls_required: true
  - port: 5269
    ip: "::"
    module: ejabberd_s2s_in
    max_stanza_size: 524288
    shaper: s2s_shaper
  # HTTP stays on loopback: nginx terminates TLS in front of it.
  - port: 5280
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /admin: ejabberd_web_admin
      /ws: ejabberd_http_ws
      /bosh: mod_bosh
      /upload: mod_http_upload
s2s_use_starttls: required
modules:
  mod_adhoc: {}
  mod_admin_extra: {}
  mod_announce:
    access: announce
  mod_blocking: {}
  mod_bosh: {}
  mod_caps: {}
  mod_carboncopy: {}
  mod_client_state: {}
  mod_configure: {}
  mod_disco: {}
  mod_http_upload:
    put_url: "https://@HOST@/upload"
    docroot: /var/lib/ejabberd/upload
    max_size: 104857600
  mod_last: {}
  mod_mam:
    assume_mam_usage: true
    default: always
  mod_muc:
    access_create: muc_create
    default_room_options:
      mam: true
  mod_offline:
    access_max_user_messages: max_user_offline_messages
  mod_ping: {}
  mod_privacy: {}
  mod_private: {}
  mod_push: {}
  mod_push_keepalive: {}
  mod_roster:
    versioning: true
  mod_stream_mgmt:
    resend_on_timeout: if_offline
  mod_vcard: {}
  mod_version: {}
YAML
)
chown root:ejabberd /etc/ejabberd/ejabberd.yml.new
mv -f /etc/ejabberd/ejabberd.yml.new /etc/ejabberd/ejabberd.yml
install -d -o ejabberd -g ejabberd /var/lib/ejabberd/upload
restart_service ejabberd.service 180
retry 30 2 ejabberdctl status >/dev/null

kl_phase "admin"
ADMIN_PASS="$(secret_get xmpp-admin-password 24)"
if ! ejabberdctl registered_users "$DOMAIN" | grep -x "$ADMIN" >/dev/null; then
  ejabberdctl register "$ADMIN" "$DOMAIN" "$ADMIN_PASS" >/dev/null
  log "admin: ${ADMIN}@${DOMAIN} registered; password in /root/kldload-secrets/xmpp-admin-password"
fi

kl_phase "nginx"
cat >/etc/nginx/sites-available/kldload-xmpp <<NGINX
# Written by the kldload xmpp role: TLS in front of ejabberd's HTTP (WebSocket, BOSH, upload, admin).
server {
    listen 80;
    listen [::]:80;
    server_name ${DOMAIN};
    return 301 https://\$host\$request_uri;
}
server {
    listen 443 ssl;
    listen [::]:443 ssl;
    http2 on;
    server_name ${DOMAIN};
    ssl_certificate ${CERT};
    ssl_certificate_key ${CERT};
    client_max_body_size 100m;
    location = /.well-known/host-meta {
        default_type application/xrd+xml;
        return 200 '<?xml version="1.0" encoding="utf-8"?><XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0"><Link rel="urn:xmpp:alt-connections:websocket" href="wss://${DOMAIN}/ws"/><Link rel="urn:xmpp:alt-connections:xbosh" href="https://${DOMAIN}/bosh"/></XRD>';
    }
    location /ws {
        proxy_pass http://127.0.0.1:5280/ws;
        proxy_http_version 1.1;
        proxy_set_header Upgrade \$http_upgrade;
        proxy_set_header Connection "upgrade";
        proxy_set_header Host \$host;
        proxy_read_timeout 1h;
    }
    location ~ ^/(bosh|upload|admin) {
        proxy_pass http://127.0.0.1:5280;
        proxy_set_header Host \$host;
        proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
    }
}
NGINX
# nginx's master process (root) reads the key from the same file as ejabberd.
ln -sfn ../sites-available/kldload-xmpp /etc/nginx/sites-enabled/kldload-xmpp
nginx -t
systemctl reload-or-restart nginx.service

kl_phase "firewall"
fw_allow xmpp tcp 5222,5269,443,80
fw_apply

kl_phase "verify"
in_sql() {
  [[ "$(runuser -u postgres -- psql -d "$DB" -tAc "SELECT count(*) FROM users WHERE username = '${ADMIN}'")" == 1 ]]
}
starttls() {
  openssl s_client -starttls xmpp -xmpphost "$DOMAIN" -connect 127.0.0.1:5222 </dev/null 2>/dev/null |
    grep -q "subject=CN *= *${DOMAIN}"
}
login() { ejabberdctl check_password "$ADMIN" "$DOMAIN" "$(secret_get xmpp-admin-password)"; }
bosh_via_nginx() {
  curl -fsSk --max-time 10 --resolve "${DOMAIN}:443:127.0.0.1" "https://${DOMAIN}/bosh" | grep -i bosh >/dev/null
}
verify_service_active ejabberd.service
verify_port_listening 5222
verify_port_listening 5269
verify_cmd "ejabberd is running" ejabberdctl status
verify_cmd "${ADMIN}@${DOMAIN} is stored in PostgreSQL (database ${DB})" in_sql
verify_cmd "${ADMIN}@${DOMAIN} logs in with the stored password" login
verify_cmd "c2s offers STARTTLS with the certificate for ${DOMAIN}" starttls
verify_cmd "nginx proxies BOSH over TLS for ${DOMAIN}" bosh_via_nginx
verify_summary
