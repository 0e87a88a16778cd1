#!/bin/bash
# kldload role: postgres — Debian's PostgreSQL on datasets tuned for it, nightly dump + snapshot.
# order: 30
# requires: base zfs
# provides: postgres
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

POOL="${KLDLOAD_POOL_NAME:-rpool}"

kl_phase "datasets"
# 8K records match PostgreSQL's page size; data and WAL are separate datasets so each can be
# snapshotted, sent and tuned on its own.
ensure_dataset "${POOL}/postgres" mountpoint=/var/lib/postgresql recordsize=8K compression=lz4 atime=off logbias=throughput
ensure_dataset "${POOL}/postgres/wal" recordsize=8K compression=lz4 atime=off
# The package must not make its default cluster on the root dataset: ours is made below, on these.
mkdir -p /etc/postgresql-common
if ! grep -q '^create_main_cluster' /etc/postgresql-common/createcluster.conf 2>/dev/null; then
  echo 'create_main_cluster = false' >>/etc/postgresql-common/createcluster.conf
fi

kl_phase "packages"
pkg_install postgresql

kl_phase "cluster"
VER="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n1)"
chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/wal
if ! pg_lsclusters -h | grep "^${VER} main " >/dev/null; then
  pg_createcluster "$VER" main -d "/var/lib/postgresql/${VER}/main" -- --waldir="/var/lib/postgresql/wal/${VER}-main"
fi
MEM_MB=$(($(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024))
CONF_DIR="/etc/postgresql/${VER}/main"
install -d -o postgres -g postgres "${CONF_DIR}/conf.d"
if ! grep -q "^include_dir = 'conf.d'" "${CONF_DIR}/postgresql.conf"; then
  echo "include_dir = 'conf.d'" >>"${CONF_DIR}/postgresql.conf"
fi
cat >"${CONF_DIR}/conf.d/kldload.conf" <<CONF
# Written by the kldload postgres role.
# ZFS never writes a torn page (copy-on-write, checksummed), so full-page images only cost WAL.
full_page_writes = off
shared_buffers = $((MEM_MB / 4))MB
effective_cache_size = $((MEM_MB / 2))MB
maintenance_work_mem = $((MEM_MB / 16))MB
wal_compression = on
CONF

kl_phase "backups"
install -d -m 0750 -o postgres -g postgres /var/backups/postgresql
cat >/usr/local/sbin/kldload-pg-backup <<BACKUP
#!/bin/bash
# Nightly: a crash-consistent snapshot of data + WAL, then a logical dump. Written by the postgres role.
set -euo pipefail
stamp=\$(date -u +%Y%m%d-%H%M%S)
zfs snapshot -r "${POOL}/postgres@nightly-\${stamp}"
runuser -u postgres -- pg_dumpall | zstd -q -T0 >"/var/backups/postgresql/all-\${stamp}.sql.zst"
find /var/backups/postgresql -name 'all-*.sql.zst' -mtime +14 -delete
BACKUP
chmod 0755 /usr/local/sbin/kldload-pg-backup
cat >/etc/systemd/system/kldload-pg-backup.service <<'UNIT'
[Unit]
Description=kldload: PostgreSQL snapshot and dump
After=postgresql.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/kldload-pg-backup
UNIT
cat >/etc/systemd/system/kldload-pg-backup.timer <<'UNIT'
[Unit]
Description=kldload: nightly PostgreSQL snapshot and dump

[Timer]
OnCalendar=*-*-* 02:30:00
RandomizedDelaySec=30m
Persistent=true

[Install]
WantedBy=timers.target
UNIT
systemctl daemon-reload
systemctl enable --now kldload-pg-backup.timer

kl_phase "service"
systemctl enable "postgresql@${VER}-main.service"
systemctl restart "postgresql@${VER}-main.service"
wait_for_service "postgresql@${VER}-main.service" 120

kl_phase "verify"
verify_service_active "postgresql@${VER}-main.service"
verify_port_listening 5432
verify_dataset "${POOL}/postgres" recordsize=8K
verify_dataset "${POOL}/postgres/wal" recordsize=8K
if [[ "$(runuser -u postgres -- psql -tAc 'SHOW full_page_writes')" == off ]]; then
  log "PASS full_page_writes is off"
else
  die "full_page_writes is not off"
fi
verify_summary
