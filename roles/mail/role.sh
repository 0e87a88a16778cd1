#!/bin/bash
# kldload role: mail — Postfix + Dovecot (IMAP) + OpenDKIM, mail queue and mailboxes on tuned datasets.
# order: 50
# requires: base zfs
# provides: mail smtp imap
# setting: KLDLOAD_MAIL_DOMAIN domain
# setting: KLDLOAD_DKIM_SELECTOR word
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

POOL="${KLDLOAD_POOL_NAME:-rpool}"
FQDN="$(hostname -f 2>/dev/null || hostname)"
DOMAIN="${KLDLOAD_MAIL_DOMAIN:-${FQDN#*.}}"
if [[ "$DOMAIN" == "$FQDN" || "$DOMAIN" != *.* ]]; then
  die "mail: no mail domain: set KLDLOAD_MAIL_DOMAIN (e.g. example.com) or give the host a FQDN hostname (got '${FQDN}')"
fi
SELECTOR="${KLDLOAD_DKIM_SELECTOR:-kldload}"
VMAIL=/var/vmail

kl_phase "datasets"
# Mailboxes: many small files, 16K records. The queue is written and deleted constantly: its own
# dataset, kept out of snapshots. Both exist before the packages so their files land inside.
ensure_dataset "${POOL}/mail" mountpoint="$VMAIL" recordsize=16K compression=zstd atime=off
ensure_dataset "${POOL}/mail/queue" mountpoint=/var/spool/postfix recordsize=64K compression=lz4 atime=off com.sun:auto-snapshot=false

kl_phase "packages"
echo "postfix postfix/main_mailer_type select Internet Site" | debconf-set-selections
echo "postfix postfix/mailname string ${DOMAIN}" | debconf-set-selections
pkg_install postfix dovecot-core dovecot-imapd opendkim opendkim-tools ssl-cert nftables

kl_phase "mailboxes"
# One Maildir per local user under /var/vmail/USER, owned by that user: postfix's local(8) delivers
# there (mail_spool_directory ending in / means Maildir) and Dovecot reads the same path.
chown root:mail "$VMAIL"
chmod 2775 "$VMAIL"
cat >/usr/local/sbin/kldload-mailbox <<'MB'
#!/bin/bash
# kldload-mailbox USER — make /var/vmail/USER (a Maildir owned by USER). Run once per mail user.
set -euo pipefail
u="${1:?usage: kldload-mailbox USER}"
getent passwd "$u" >/dev/null || { echo "kldload-mailbox: no such user: $u" >&2; exit 2; }
g="$(id -gn "$u")"
for d in "" cur new tmp; do
  install -d -m 0700 -o "$u" -g "$g" "/var/vmail/${u}/${d}"
done
MB
chmod 0755 /usr/local/sbin/kldload-mailbox
MAILUSER="${KLDLOAD_USERNAME:-}"
if [[ -n "$MAILUSER" ]] && getent passwd "$MAILUSER" >/dev/null; then
  kldload-mailbox "$MAILUSER"
fi

kl_phase "postfix"
echo "$DOMAIN" >/etc/mailname
postconf -e \
  "myhostname = ${FQDN}" \
  "mydomain = ${DOMAIN}" \
  "myorigin = \$mydomain" \
  "mydestination = \$myhostname, \$mydomain, localhost.\$mydomain, localhost" \
  "inet_interfaces = all" \
  "mail_spool_directory = ${VMAIL}/" \
  "home_mailbox =" \
  "mailbox_size_limit = 0" \
  "smtpd_tls_cert_file = /etc/ssl/certs/ssl-cert-snakeoil.pem" \
  "smtpd_tls_key_file = /etc/ssl/private/ssl-cert-snakeoil.key" \
  "smtpd_tls_security_level = may" \
  "smtp_tls_security_level = may" \
  "smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated defer_unauth_destination" \
  "smtpd_sasl_type = dovecot" \
  "smtpd_sasl_path = private/auth" \
  "milter_default_action = accept" \
  "smtpd_milters = inet:127.0.0.1:8891" \
  "non_smtpd_milters = inet:127.0.0.1:8891"
# Submission (587) for clients: TLS required, authenticated through Dovecot.
postconf -M submission/inet="submission inet n - y - - smtpd"
postconf -P "submission/inet/syslog_name=postfix/submission" \
  "submission/inet/smtpd_tls_security_level=encrypt" \
  "submission/inet/smtpd_sasl_auth_enable=yes" \
  "submission/inet/smtpd_recipient_restrictions=permit_sasl_authenticated,reject"
# Mail for root (cron, smartd, zed) reaches the administrator.
if [[ -n "$MAILUSER" ]]; then
  ensure_line /etc/aliases "root: ${MAILUSER}" '^root:'
fi
newaliases
postfix check

kl_phase "dovecot"
# Debian's dovecot.conf includes local.conf last: our settings win, the package's files stay untouched.
cat >/etc/dovecot/local.conf <<'CONF'
# Written by the kldload mail role.
mail_driver = maildir
mail_path = /var/vmail/%{user}
mail_inbox_path = /var/vmail/%{user}
mail_privileged_group = mail
ssl = required
ssl_server_cert_file = /etc/ssl/certs/ssl-cert-snakeoil.pem
ssl_server_key_file = /etc/ssl/private/ssl-cert-snakeoil.key
service auth {
  unix_listener /var/spool/postfix/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
CONF
doveconf -n >/dev/null

kl_phase "dkim"
install -d -m 0750 -o opendkim -g opendkim /etc/dkimkeys
if [[ ! -s "/etc/dkimkeys/${SELECTOR}.private" ]]; then
  opendkim-genkey -b 2048 -D /etc/dkimkeys -d "$DOMAIN" -s "$SELECTOR"
  chown opendkim:opendkim "/etc/dkimkeys/${SELECTOR}.private" "/etc/dkimkeys/${SELECTOR}.txt"
  chmod 0600 "/etc/dkimkeys/${SELECTOR}.private"
fi
cat >/etc/opendkim.conf <<CONF
# Written by the kldload mail role. Publish /etc/dkimkeys/${SELECTOR}.txt as ${SELECTOR}._domainkey.${DOMAIN}.
Syslog yes
UMask 007
Mode sv
Canonicalization relaxed/simple
Domain ${DOMAIN}
Selector ${SELECTOR}
KeyFile /etc/dkimkeys/${SELECTOR}.private
Socket inet:8891@127.0.0.1
PidFile /run/opendkim/opendkim.pid
UserID opendkim
TrustAnchorFile /usr/share/dns/root.key
InternalHosts 127.0.0.1, ::1
CONF
log "dkim: publish this TXT record: $(tr '\n\t' '  ' <"/etc/dkimkeys/${SELECTOR}.txt" | tr -s ' ')"

kl_phase "firewall"
fw_allow mail tcp 25,587,143,993
fw_apply

kl_phase "snapshots"
snapshot_schedule "${POOL}/mail" hourly=72 daily=30 monthly=6

kl_phase "service"
restart_service opendkim.service 30
restart_service dovecot.service 30
restart_service postfix.service 30

kl_phase "verify"
imap_banner() {
  local fd line
  exec {fd}<>/dev/tcp/127.0.0.1/143
  IFS= read -r -t 10 -u "$fd" line
  exec {fd}>&-
  [[ "$line" == "* OK"* ]]
}
# A message from root to the admin user goes through postfix and opendkim into the Maildir; Dovecot
# must then see it in the INBOX.
delivered() {
  local u=$1 id f
  id="kldload-mail-verify-$$-${RANDOM}"
  printf 'From: root@%s\nTo: %s@%s\nSubject: %s\n\nDelivered by the kldload mail role on first boot.\n' \
    "$DOMAIN" "$u" "$DOMAIN" "$id" | sendmail -t -f "root@${DOMAIN}"
  for _ in $(seq 1 60); do
    f="$(grep -ls "^Subject: ${id}" "${VMAIL}/${u}/new/"* 2>/dev/null | head -n1)" || true
    [[ -n "$f" ]] && break
    sleep 1
  done
  [[ -n "$f" ]] || { echo "not delivered to ${VMAIL}/${u}/new"; postqueue -p; return 1; }
  grep -q '^DKIM-Signature: .*d=' "$f" || { echo "delivered, but not DKIM-signed"; return 1; }
  doveadm search -u "$u" mailbox INBOX header Subject "$id" | grep . >/dev/null
}
verify_service_active postfix.service
verify_service_active dovecot.service
verify_service_active opendkim.service
verify_dataset "${POOL}/mail" mountpoint="$VMAIL" recordsize=16K
verify_dataset "${POOL}/mail/queue" mountpoint=/var/spool/postfix
verify_port_listening 25
verify_port_listening 587
verify_port_listening 143
verify_port_listening 993
verify_port_listening 8891
verify_cmd "IMAP greets on 143" imap_banner
if [[ -n "$MAILUSER" ]] && getent passwd "$MAILUSER" >/dev/null; then
  verify_cmd "a message to ${MAILUSER}@${DOMAIN} is DKIM-signed, delivered and seen by Dovecot" delivered "$MAILUSER"
fi
verify_summary
