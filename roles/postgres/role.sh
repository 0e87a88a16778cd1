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
ensure_line /etc/postgresql-common/createcluster.conf 'create_main_cluster = false' '^create_main_cluster'

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
ensure_line "${CONF_DIR}/postgresql.conf" "include_dir = 'conf.d'"
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
install_timer kldload-pg-backup '*-*-* 02:30:00' 'kldload: PostgreSQL snapshot and dump' \
  /usr/local/sbin/kldload-pg-backup after=postgresql.service delay=30m

kl_phase "service"
restart_service "postgresql@${VER}-main.service" 120

kl_phase "verify"
verify_service_active "postgresql@${VER}-main.service"
verify_port_listening 5432
verify_dataset "${POOL}/postgres" recordsize=8K
verify_dataset "${POOL}/postgres/wal" recordsize=8K
verify_service_active kldload-pg-backup.timer
if [[ "$(runuser -u postgres -- psql -tAc 'SHOW full_page_writes')" == off ]]; then
  log "PASS full_page_writes is off"
else
  die "full_page_writes is not off"
fi
verify_summary
