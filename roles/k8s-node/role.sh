#!/bin/bash
# kldload role: k8s-node — a Kubernetes node's base: containerd (systemd cgroups) on ZFS datasets, kernel
# prerequisites, CNI plugins, kubectl; kubeadm + kubelet when their .debs were supplied at build.
# order: 28
# requires: base zfs
# provides: k8s-node containerd
# wants-debs: kubeadm kubelet cri-tools
# setting: KLDLOAD_K8S_ROLE one-of:worker,control-plane
# setting: KLDLOAD_K8S_POD_CIDR cidr4
# shellcheck source=/dev/null
source "${KLDLOAD_POSTINSTALL_LIB:-/usr/lib/kldload/postinstall/lib.sh}"
kl_strict

POOL="${KLDLOAD_POOL_NAME:-rpool}"
ROLE="${KLDLOAD_K8S_ROLE:-worker}"
POD_CIDR="${KLDLOAD_K8S_POD_CIDR:-10.244.0.0/16}"
IMAGES="${KLDLOAD_DARKSITE:-/root/darksite}/images"
case "$ROLE" in
  worker | control-plane) ;;
  *) die "k8s-node: KLDLOAD_K8S_ROLE must be worker or control-plane (got '${ROLE}')" ;;
esac

kl_phase "kernel"
cat >/etc/modules-load.d/kldload-k8s.conf <<'MODS'
# Written by the kldload k8s-node role.
overlay
br_netfilter
MODS
modprobe overlay
modprobe br_netfilter
cat >/etc/sysctl.d/60-kldload-k8s.conf <<'SYSCTL'
# Written by the kldload k8s-node role: bridged pod traffic through netfilter, routing on.
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
SYSCTL
sysctl -q --system
# The kubelet refuses to run with swap on; a kldload install has none, but a user may have added some.
swapoff -a

kl_phase "datasets"
ensure_dataset "${POOL}/containerd" mountpoint=/var/lib/containerd recordsize=128K compression=zstd atime=off com.sun:auto-snapshot=false
ensure_dataset "${POOL}/kubelet" mountpoint=/var/lib/kubelet recordsize=128K compression=zstd atime=off com.sun:auto-snapshot=false

kl_phase "packages"
pkg_install containerd runc containernetworking-plugins kubectl conntrack ebtables ethtool socat iptables nftables
K8S_DEBS=""
if pkg_available kubeadm && pkg_available kubelet; then
  pkg_install kubeadm kubelet
  if pkg_available cri-tools; then pkg_install cri-tools; fi
  K8S_DEBS=yes
else
  log "kubeadm/kubelet: NOT on the darksite. Debian does not package them; this node has containerd, the kernel"
  log "  prerequisites and kubectl, but cannot join a cluster until you supply them at build:"
  log "  kldload build --role k8s-node --deb kubeadm_<v>_amd64.deb --deb kubelet_<v>_amd64.deb --deb cri-tools_<v>_amd64.deb"
fi
# Upstream kubelet looks for CNI plugins in /opt/cni/bin; Debian installs them to /usr/lib/cni.
mkdir -p /opt/cni
if [[ ! -e /opt/cni/bin ]]; then
  ln -s /usr/lib/cni /opt/cni/bin
fi

kl_phase "containerd"
mkdir -p /etc/containerd
containerd config default >/etc/containerd/config.toml.new
# The kubelet uses the systemd cgroup driver; containerd must agree or pods restart in a loop.
sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml.new
mv /etc/containerd/config.toml.new /etc/containerd/config.toml
restart_service containerd.service 60
# Images from the ISO go into the namespace the kubelet uses: pods start without a registry.
imported=()
if [[ -d "$IMAGES" ]]; then
  for tar in "$IMAGES"/*.tar; do
    [[ -e "$tar" ]] || continue
    while IFS= read -r ref; do
      imported+=("$ref")
    done < <(ctr -n k8s.io images import --all-platforms "$tar" | awk '/^unpacking / { print $2 }')
    log "images: ${tar##*/} imported into containerd (k8s.io)"
  done
fi

kl_phase "kubelet"
if [[ -n "$K8S_DEBS" ]]; then
  systemctl enable kubelet.service
  if [[ "$ROLE" == worker && -r "${KLDLOAD_DARKSITE:-/root/darksite}/k8s-join.sh" ]]; then
    log "worker: running k8s-join.sh from the payload"
    bash "${KLDLOAD_DARKSITE:-/root/darksite}/k8s-join.sh"
  elif [[ "$ROLE" == control-plane ]]; then
    log "control plane: run 'kubeadm init --pod-network-cidr=${POD_CIDR}' when the cluster's network is decided"
  else
    log "worker: put the join command in the payload as k8s-join.sh (kubeadm token create --print-join-command)"
  fi
fi

kl_phase "firewall"
fw_allow k8s-node tcp 10250
fw_allow k8s-node tcp 30000-32767
if [[ "$ROLE" == control-plane ]]; then
  fw_allow k8s-node tcp 6443,2379-2380,10257,10259
fi
fw_rule k8s-node input "ip saddr ${POD_CIDR} accept"
fw_apply

kl_phase "verify"
module_loaded() { [[ -d "/sys/module/$1" ]]; }
sysctl_is() { [[ "$(sysctl -n "$1")" == "$2" ]]; }
systemd_cgroups() { containerd config dump | grep 'SystemdCgroup = true' >/dev/null; }
run_image() {
  local out
  out="$(ctr -n k8s.io run --rm --net-host "$1" "kldload-verify-$$")"
  log "container output: ${out}"
}
verify_service_active containerd.service
verify_dataset "${POOL}/containerd" mountpoint=/var/lib/containerd
verify_cmd "module br_netfilter loaded" module_loaded br_netfilter
verify_cmd "module overlay loaded" module_loaded overlay
verify_cmd "bridged traffic goes through iptables" sysctl_is net.bridge.bridge-nf-call-iptables 1
verify_cmd "IPv4 forwarding on" sysctl_is net.ipv4.ip_forward 1
verify_cmd "containerd uses systemd cgroups" systemd_cgroups
verify_cmd "kubectl is installed" kubectl version --client
verify_cmd "CNI plugins in /opt/cni/bin" test -x /opt/cni/bin/bridge
for ref in "${imported[@]}"; do
  verify_cmd "containerd runs ${ref} from the ISO" run_image "$ref"
done
if [[ -n "$K8S_DEBS" ]]; then
  verify_cmd "kubeadm is installed" kubeadm version -o short
  verify_cmd "kubelet is enabled" systemctl is-enabled kubelet.service
fi
verify_summary
