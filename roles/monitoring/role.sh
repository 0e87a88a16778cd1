#!/bin/bash
# kldload role: monitoring — Prometheus + node exporter from Debian on a tuned dataset; Grafana when supplied.
# order: 40
# requires: base zfs
# provides: monitoring metrics
# wants-debs: grafana
# setting: KLDLOAD_MONITORING_ALLOW cidrs
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

POOL="${KLDLOAD_POOL_NAME:-rpool}"
# Who may reach Prometheus (9090), the node exporter (9100) and Grafana (3000) from other machines:
# KLDLOAD_MONITORING_ALLOW, addresses or networks separated by commas; default: the local subnet.
# This host itself always may (loopback); the firewall drops everyone else.
ALLOW="${KLDLOAD_MONITORING_ALLOW:-$(kl_local_subnet)}"
PROM=http://127.0.0.1:9090

kl_phase "datasets"
# TSDB chunks are large append-only files: 128K records, zstd. Grafana keeps a small SQLite database.
ensure_dataset "${POOL}/prometheus" mountpoint=/var/lib/prometheus recordsize=128K compression=zstd atime=off primarycache=all

kl_phase "packages"
pkg_install prometheus prometheus-node-exporter curl nftables
chown prometheus:prometheus /var/lib/prometheus
GRAFANA=""
if pkg_available grafana; then
  ensure_dataset "${POOL}/grafana" mountpoint=/var/lib/grafana recordsize=16K compression=zstd atime=off
  pkg_install grafana
  GRAFANA=yes
else
  log "grafana: not on the darksite (Debian does not package it); to get it, add its .deb at build: kldload build --deb grafana_<version>_amd64.deb"
fi

kl_phase "configure"
cat >/etc/prometheus/prometheus.yml <<YAML
# Written by the kldload monitoring role. Add scrape targets below (other hosts' node exporters on :9100).
global:
  scrape_interval: 15s
  evaluation_interval: 15s
  external_labels:
    monitor: '$(hostname)'

scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ['localhost:9090']
  - job_name: node
    static_configs:
      - targets: ['localhost:9100']
YAML
promtool check config /etc/prometheus/prometheus.yml
if [[ -n "$GRAFANA" ]]; then
  mkdir -p /etc/grafana/provisioning/datasources
  cat >/etc/grafana/provisioning/datasources/kldload.yaml <<'YAML'
# Written by the kldload monitoring role.
apiVersion: 1
datasources:
  - name: Prometheus
    type: prometheus
    access: proxy
    url: http://127.0.0.1:9090
    isDefault: true
YAML
  chown -R grafana:grafana /var/lib/grafana
fi

kl_phase "firewall"
if [[ -z "$ALLOW" ]]; then
  log "firewall: no KLDLOAD_MONITORING_ALLOW and no local subnet: only this host reaches Prometheus and the node exporter"
fi
fw_allow_from monitoring tcp 9090,9100 "$ALLOW"
if [[ -n "$GRAFANA" ]]; then
  fw_allow_from monitoring tcp 3000 "$ALLOW"
fi
fw_apply

kl_phase "snapshots"
snapshot_schedule "${POOL}/prometheus" hourly=0 daily=30 monthly=0

kl_phase "service"
restart_service prometheus.service 120
restart_service prometheus-node-exporter.service 60
if [[ -n "$GRAFANA" ]]; then
  restart_service grafana-server.service 120
fi

kl_phase "verify"
# The first scrape happens within one interval after Prometheus is ready.
node_target_up() {
  curl -fsS --max-time 5 "${PROM}/api/v1/query?query=up%7Bjob%3D%22node%22%7D" | grep '"value":\[[0-9.]*,"1"\]' >/dev/null
}
retry 20 3 curl -fsS --max-time 5 -o /dev/null "${PROM}/-/ready"
retry 30 3 node_target_up || true
verify_service_active prometheus.service
verify_service_active prometheus-node-exporter.service
verify_dataset "${POOL}/prometheus" mountpoint=/var/lib/prometheus recordsize=128K
verify_port_listening 9090
verify_port_listening 9100
verify_http "${PROM}/-/ready"
verify_http http://127.0.0.1:9100/metrics node_zfs
verify_cmd "prometheus scrapes the node exporter (up{job=\"node\"} == 1)" node_target_up
# Every monitoring firewall rule names its sources: none opens the ports to everyone.
sources_only() {
  ! grep -v 'saddr' "$(_kl_fw_dir)/monitoring.input" 2>/dev/null | grep -q .
}
verify_cmd "monitoring ports open only to ${ALLOW:-this host}" sources_only
if [[ -n "$GRAFANA" ]]; then
  verify_service_active grafana-server.service
  retry 20 3 curl -fsS --max-time 5 -o /dev/null http://127.0.0.1:3000/api/health || true
  verify_http http://127.0.0.1:3000/api/health database
fi
verify_summary
