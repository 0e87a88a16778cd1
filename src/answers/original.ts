/**
 * Keys of the original kldload's answers files (its TEMPLATE.env documents every one) that cannot
 * apply to this installer. They are accepted, so its files work as they are, and each present key
 * gets exactly one warning: the key and why it has no effect. Keys of the original that do apply
 * here are ordinary fields in schema.ts (KLDLOAD_NET_PREFIX, KLDLOAD_ZFS_ASHIFT, …).
 */
const OTHER_DISTRO =
  "another distribution's setting (RHEL, Fedora, EL or dnf); this installer installs Debian";
const MIRROR =
  "the install is offline, from the darksite on the medium; the installed system's apt sources are Debian's own";
const SECURE_BOOT =
  'Secure Boot preparation (shim, MOK enrolment) is not supported yet: the machine installs and boots with Secure Boot off';
const AUTODEPLOY =
  "the original's first-boot autodeploy (golden images, cluster bootstrap, labs, templates) is not part of this installer; first boot runs the roles chosen with build --role";
const AI = "the original's AI stack (Ollama, Open WebUI, models) is not part of this installer";
const NETBOOT = 'netboot is not part of this installer: it boots from the ISO or a USB stick';
const EXPORT = 'exporting the disk as an image is not part of this installer';
const packages = (what: string, names: string) =>
  `${what} are not installed by a switch: build with --packages ${names.replaceAll(' ', ',')} and list them in KLDLOAD_EXTRA_PACKAGES`;

export const ORIGINAL_INERT: Readonly<Record<string, string>> = {
  KLDLOAD_RHEL_USERNAME: OTHER_DISTRO,
  KLDLOAD_RHEL_PASSWORD: OTHER_DISTRO,
  KLDLOAD_RHEL_KEY: OTHER_DISTRO,
  KLDLOAD_RHEL_ORG: OTHER_DISTRO,
  KLDLOAD_FEDORA_RELEASE: OTHER_DISTRO,
  KLDLOAD_RELEASE: OTHER_DISTRO,
  KLDLOAD_CUSTOM_REPO: OTHER_DISTRO,
  KLDLOAD_ALLOW_INTERNET_FALLBACK: OTHER_DISTRO,
  KLDLOAD_KEEP_OFFLINE_REPOS: OTHER_DISTRO,
  KLDLOAD_MIRROR: MIRROR,
  KLDLOAD_DEBIAN_MIRROR: MIRROR,
  KLDLOAD_CUSTOM_MIRROR_URL: MIRROR,
  KLDLOAD_ENABLE_SECURE_BOOT: SECURE_BOOT,
  KLDLOAD_MOK_PASSWORD: SECURE_BOOT,
  KLDLOAD_MOK_KEY_FILE: SECURE_BOOT,
  KLDLOAD_MOK_CERT_FILE: SECURE_BOOT,
  KLDLOAD_KEEP_NETBOOT: NETBOOT,
  KLDLOAD_NETBOOT_NETDEV: NETBOOT,
  KLDLOAD_TEMPLATE: AUTODEPLOY,
  KLDLOAD_BUILD_IMAGES: AUTODEPLOY,
  KLDLOAD_BUILD_ZTEST_GOLDENS: AUTODEPLOY,
  KLDLOAD_KLAB_NO_AUTO: AUTODEPLOY,
  KLDLOAD_KLAB_ZFS_DEV: AUTODEPLOY,
  KLDLOAD_ZFSLAB_MODE: AUTODEPLOY,
  KLDLOAD_K8S_BOOTSTRAP: `${AUTODEPLOY} (a Kubernetes node: --role k8s-node)`,
  KLDLOAD_K8S_CONTROL_PLANES: AUTODEPLOY,
  KLDLOAD_K8S_WORKERS: AUTODEPLOY,
  KLDLOAD_KEEP_CPS: AUTODEPLOY,
  KLDLOAD_KEEP_WORKERS: AUTODEPLOY,
  KLDLOAD_HUB_LAN: AUTODEPLOY,
  KLDLOAD_CLUSTER_CIDR: AUTODEPLOY,
  KLDLOAD_ENABLE_AI: AI,
  KLDLOAD_AI_PULL_MODEL: AI,
  KLDLOAD_AI_MODEL: AI,
  KLDLOAD_BOB_MODEL: AI,
  KLDLOAD_PULL_VISION_MODEL: AI,
  KLDLOAD_MIN_AI_VRAM_GB: AI,
  KLDLOAD_FORCE_AI: AI,
  KLDLOAD_AUTODEPLOY_PARALLEL_AI: AI,
  KLDLOAD_AI_MODEL_CHAT: AI,
  KLDLOAD_AI_MODEL_CODE: AI,
  KLDLOAD_AI_MODEL_SMART: AI,
  KLDLOAD_ENABLE_DEVOPS:
    'metrics (Prometheus, Grafana) come from the monitoring role here: build --role monitoring',
  KLDLOAD_ENABLE_WEBUI: "the original's web UI, its proxy and ttyd-k9s are not part of this installer",
  KLDLOAD_ENABLE_ZXPLORE: "the original's zxplore tools are not part of this installer",
  KLDLOAD_ENABLE_EBPF: packages('eBPF tools', 'bpftool bpftrace bpfcc-tools linux-perf'),
  KLDLOAD_ENABLE_KVM: packages('KVM packages', 'qemu-system-x86 libvirt-daemon-system'),
  KLDLOAD_ENABLE_K8S: packages('container packages', 'containerd conntrack'),
  KLDLOAD_NVIDIA_DRIVERS: 'NVIDIA drivers are not installed by this installer (not on the darksite)',
  KLDLOAD_WIFI_SSID: 'Wi-Fi is not configured: networking is systemd-networkd on wired interfaces',
  KLDLOAD_WIFI_PSK: 'Wi-Fi is not configured: networking is systemd-networkd on wired interfaces',
  KLDLOAD_WIREGUARD: 'WireGuard comes from the vpn-gateway role here: build --role vpn-gateway',
  KLDLOAD_GENERATE_SSH_KEY: 'the original read it nowhere either; no key pair is generated',
  KLDLOAD_EXPORT_FORMAT: EXPORT,
  KLDLOAD_EXPORT_SCP_HOST: EXPORT,
  KLDLOAD_EXPORT_SCP_USER: EXPORT,
  KLDLOAD_EXPORT_SCP_PATH: EXPORT,
  KLDLOAD_EXPORT_SCP_KEY: EXPORT,
  KLDLOAD_EXPORT_SCP_PASS: EXPORT,
  KLDLOAD_SECRETS_TIMEOUT:
    'this installer never waits for typed input: a missing secret is an error before the first write',
  KLDLOAD_STORAGE_MANUAL: 'an unattended install never stops for a shell to build the pool by hand',
  KLDLOAD_ALLOW_DUPLICATE_POOL_NAME:
    'this installer has no such switch: it only ever creates its pool on the target disks',
  KLDLOAD_ZFS_SPECIAL_DISKS:
    'special vdevs are not created by this installer; add one after the install with zpool add',
  KLDLOAD_ZFS_BPOOL_SIZE_MIB:
    'there is no separate boot pool: the kernel and initrd live on the EFI system partition (KLDLOAD_ESP_SIZE)',
  KLDLOAD_DISK_STABLE: 'it is derived, not an input (the original overwrote it too)',
};

export const ORIGINAL_INERT_KEYS = Object.keys(ORIGINAL_INERT);

/**
 * Inert keys whose non-empty value is refused, not warned about: it names disks the install would
 * leave out of the pool, a layout nobody asked for (empty stays a warning, as in the original's
 * templates).
 */
export const ORIGINAL_REFUSED_WHEN_SET: Readonly<Record<string, string>> = {
  KLDLOAD_ZFS_SPECIAL_DISKS:
    'names disks for a special vdev, which this installer does not create (no VM has booted one); remove the line or leave it empty, install, then add the vdev: zpool add <pool> special mirror DISK1 DISK2 (a mirror: losing a special vdev loses the pool)',
};
