#!/bin/bash
# kldload role: bastion — hardened sshd jump host; every interactive session of the bastion users is
# recorded to an audit dataset whose snapshots are never pruned.
# order: 60
# requires: base ssh zfs
# provides: bastion
# setting: KLDLOAD_BASTION_GROUP name
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

POOL="${KLDLOAD_POOL_NAME:-rpool}"
GROUP="${KLDLOAD_BASTION_GROUP:-bastion}"
AUDIT=/var/log/sessions

kl_phase "datasets"
# Session recordings: small appends, compress well. Snapshots keep them even if a user with root
# deletes the files; autoprune=no means sanoid never removes one.
ensure_dataset "${POOL}/audit" mountpoint=/var/log/audit-trail recordsize=16K compression=zstd atime=off
ensure_dataset "${POOL}/audit/sessions" mountpoint="$AUDIT" recordsize=16K compression=zstd atime=off
chmod 0711 "$AUDIT"

kl_phase "packages"
pkg_install auditd fail2ban python3-systemd nftables util-linux

kl_phase "session recording"
getent group "$GROUP" >/dev/null || groupadd --system "$GROUP"
cat >/usr/local/sbin/kldload-session-record <<'REC'
#!/bin/bash
# sshd ForceCommand for bastion users: the session (or the given command) runs under script(1), which
# writes what the terminal showed plus timing to /var/log/sessions/USER/. Replay: scriptreplay.
set -euo pipefail
dir="/var/log/sessions/${USER}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)-$$"
from="${SSH_CLIENT%% *}"
logger -p authpriv.notice -t kldload-session "session ${stamp} user=${USER} from=${from:-?} command=${SSH_ORIGINAL_COMMAND:-<shell>}"
if [[ -n "${SSH_ORIGINAL_COMMAND:-}" ]]; then
  cmd=("$SHELL" -c "$SSH_ORIGINAL_COMMAND")
else
  cmd=("$SHELL" -l)
fi
if [[ ! -t 0 ]]; then
  # No terminal (scp, sftp, port forwarding helpers): logged above, not recorded byte by byte.
  exec "${cmd[@]}"
fi
exec script -q -f -e --log-io "${dir}/${stamp}.log" --log-timing "${dir}/${stamp}.timing" -c "$(printf '%q ' "${cmd[@]}")"
REC
chmod 0755 /usr/local/sbin/kldload-session-record
# Each user gets a folder they can append to but not list others'; the folder is made at login by PAM.
cat >/usr/local/sbin/kldload-session-dir <<'MKDIR'
#!/bin/bash
# pam_exec (open_session): make /var/log/sessions/$PAM_USER for members of the bastion group.
set -eu
[[ "${PAM_TYPE:-}" == open_session ]] || exit 0
d="/var/log/sessions/${PAM_USER}"
if [[ ! -d "$d" ]]; then
  install -d -m 0700 -o "$PAM_USER" "$d"
fi
chattr +a "$d" 2>/dev/null || true
MKDIR
chmod 0755 /usr/local/sbin/kldload-session-dir
ensure_line /etc/pam.d/sshd 'session optional pam_exec.so quiet /usr/local/sbin/kldload-session-dir' kldload-session-dir

kl_phase "sshd"
cat >/etc/ssh/sshd_config.d/10-kldload-bastion.conf <<SSHD
# Written by the kldload bastion role. Keys only, no root, modern algorithms, verbose auth log.
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthenticationMethods publickey
MaxAuthTries 3
MaxSessions 10
LoginGraceTime 30
ClientAliveInterval 300
ClientAliveCountMax 2
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding yes
PermitTunnel no
LogLevel VERBOSE
KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com
MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com

Match Group ${GROUP}
    ForceCommand /usr/local/sbin/kldload-session-record
SSHD
sshd -t
systemctl reload ssh.service

kl_phase "audit"
cat >/etc/audit/rules.d/60-kldload-bastion.rules <<'RULES'
# Written by the kldload bastion role: who ran what as root, and changes to access configuration.
-a always,exit -F arch=b64 -S execve -F euid=0 -F auid>=1000 -F auid!=unset -k root-commands
-w /etc/ssh/sshd_config -p wa -k sshd-config
-w /etc/ssh/sshd_config.d/ -p wa -k sshd-config
-w /etc/sudoers -p wa -k sudoers
-w /etc/sudoers.d/ -p wa -k sudoers
-w /etc/passwd -p wa -k identity
-w /etc/group -p wa -k identity
RULES
restart_service auditd.service 30
augenrules --load
cat >/etc/fail2ban/jail.d/kldload-bastion.conf <<'JAIL'
# Written by the kldload bastion role.
[sshd]
enabled = true
backend = systemd
banaction = nftables-multiport
maxretry = 5
findtime = 10m
bantime = 1h
JAIL
restart_service fail2ban.service 60

kl_phase "firewall"
# SSH only: the base rules already allow 22 and nothing else.
fw_apply

kl_phase "snapshots"
snapshot_schedule "${POOL}/audit" hourly=24 daily=31 monthly=12 autoprune=no recursive=yes

kl_phase "verify"
# Not grep -q: it would exit at the first match and sshd, still writing, would die of SIGPIPE (pipefail).
sshd_setting() { sshd -T | grep -ix "$1" >/dev/null; }
# A throwaway bastion user logs in with a key over a terminal; its session must land in the audit trail.
session_recorded() {
  local u=kl-verify-$$ home key out
  useradd -m -G "$GROUP" -s /bin/bash "$u"
  home="$(getent passwd "$u" | cut -d: -f6)"
  key="$(mktemp -d)/id"
  ssh-keygen -q -t ed25519 -N '' -f "$key"
  install -d -m 0700 -o "$u" -g "$u" "${home}/.ssh"
  install -m 0600 -o "$u" -g "$u" "${key}.pub" "${home}/.ssh/authorized_keys"
  out="$(ssh -tt -i "$key" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    "${u}@127.0.0.1" 'echo kldload-recorded-$((6*7))' </dev/null 2>/dev/null || true)"
  local ok=0
  [[ "$out" == *kldload-recorded-42* ]] || ok=1
  grep -qs kldload-recorded-42 "${AUDIT}/${u}"/*.log || ok=1
  chattr -a "${AUDIT}/${u}" 2>/dev/null || true
  rm -rf "${AUDIT:?}/${u}" "$(dirname "$key")"
  userdel -r "$u" 2>/dev/null || true
  return "$ok"
}
verify_service_active ssh.service
verify_service_active auditd.service
verify_service_active fail2ban.service
verify_dataset "${POOL}/audit/sessions" mountpoint="$AUDIT"
verify_cmd "sshd: passwords off" sshd_setting "passwordauthentication no"
verify_cmd "sshd: root login off" sshd_setting "permitrootlogin no"
verify_cmd "audit rules loaded" bash -c "auditctl -l | grep root-commands >/dev/null"
verify_cmd "fail2ban guards sshd" fail2ban-client status sshd
verify_cmd "a bastion user's ssh session is recorded in ${AUDIT}" session_recorded
verify_summary
