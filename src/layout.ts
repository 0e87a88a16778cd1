/**
 * The layout contract: where things are on the ISO, in the live system and on the installed
 * target, which logs and manifests exist, and what kldload/image.json says (its zod schema is in
 * layout-image.ts, so that the many commands that never read it do not load zod). The image build writes
 * these places; the install plan, the live installer, first boot and the VM checks read them, all
 * through this module. It imports nothing of kldload, so every folder may import it. The shell side
 * (payload/target/postinstall/lib.sh, dispatch.sh) uses the same paths; its tests compare them.
 */
/**
 * The bundle's chunks (scripts/bundle.mjs: esbuild splitting), in `chunks/` beside the entry file,
 * which imports them by relative path: wherever the bundle is copied, that folder goes with it.
 */
export const bundleChunks = (bundle: string): string =>
  `${bundle.slice(0, bundle.lastIndexOf('/') + 1)}chunks`;

/** On the ISO, relative to its root; the live system mounts the medium at MEDIUM.root. */
export const MEDIUM = {
  root: '/run/live/medium',
  dir: 'kldload',
  bundle: 'kldload/kldload.mjs',
  target: 'kldload/target.squashfs',
  image: 'kldload/image.json',
  answers: 'kldload/answers.env',
  /**
   * The payload (build --payload), copied to TARGET.payload. "darksite" means the APT repository
   * (MEDIUM.apt, REPO) everywhere but in that one target path, which the original kldload fixed.
   */
  payload: 'kldload/payload',
  zbm: 'kldload/zfsbootmenu.efi',
  /** A golden image (build --golden): manifest.json, SHA256SUMS and one zfs send stream per dataset. */
  golden: 'kldload/golden',
  postinstallLib: 'kldload/postinstall',
  /** The signed APT repository (the darksite proper). */
  apt: 'kldload/apt',
  label: 'KLDLOAD',
} as const;

/** Label of the FAT volume (a USB stick) that may carry answers.env at install time. */
export const SEED_LABEL = 'KLDLOADSEED';

/** The live installer's scratch folder (a copy of the answers found, the seed mount). */
export const LIVE_WORK = '/run/kldload';

/** Where the darksite lives on the ISO, on the live system and (KLDLOAD_KEEP_DARKSITE=1) on the target. */
export const REPO = {
  onMedium: MEDIUM.apt,
  keyring: 'kldload-darksite.gpg',
  targetDir: '/var/lib/kldload/darksite',
  targetKeyring: '/usr/share/keyrings/kldload-darksite.gpg',
  /** One-line source list lib.sh's pkg_install uses on first boot (darksite only). */
  firstbootList: '/etc/kldload/darksite.list',
  component: 'main',
};

/** Paths on the installed target. */
export const TARGET = {
  /** kldload's configuration and install records. */
  configDir: '/etc/kldload',
  /** The KLDLOAD_* facts of the install, no secrets (mode 0640). */
  manifest: '/etc/kldload/install-manifest.env',
  /** Role settings from the answers; the secret ones go to roleSecrets (mode 0600). */
  roleSettings: '/etc/kldload/role-settings.env',
  roleSecrets: '/etc/kldload/role-secrets.env',
  /** The payload from the medium (MEDIUM.payload) and its entry point. */
  payload: '/root/darksite',
  postinstall: '/root/darksite/postinstall.sh',
  libDir: '/usr/lib/kldload',
  /** kldload itself, run by Debian's nodejs (/usr/sbin/kldload and the k* tools call it). */
  bundle: '/usr/lib/kldload/kldload.mjs',
  /** lib.sh, dispatch.sh and strict-env.sh for postinstallers. */
  postinstallLib: '/usr/lib/kldload/postinstall',
  firstbootDone: '/var/lib/kldload/firstboot.done',
  firstbootState: '/var/lib/kldload/firstboot.json',
  /** Written by lib.sh's ERR trap: line=, command=, file=, exit= … */
  postinstallFailure: '/var/lib/kldload/postinstall-failure',
  /** Held (flock) for a whole first-boot run; under /run, so a power cut leaves no stale lock. */
  firstbootLock: '/run/kldload/firstboot.lock',
  /** The ZFS kernel guard baked into every target image (docs/day2.md). */
  kernelGuard: '/usr/lib/kernel/install.d/85-kldload-zfs-guard.install',
  kernelReconcile: '/usr/lib/kldload/zfs-kernel-reconcile',
  /** kldload spray's helper: many lzc_clone calls from one process (python3, libzfs_core by ctypes). */
  sprayHelper: '/usr/lib/kldload/spray-clone.py',
  kernelAptConf: '/etc/apt/apt.conf.d/80kldload-zfs-kernels',
  /** Every ESP of the machine (PARTUUIDs, first = fstab's /boot/efi), kept in step by `kldload esp sync`. */
  espList: '/etc/kldload/esps',
  /** kernel-install plugin: after a kernel's entry was written or removed, sync the other ESPs. */
  espSyncPlugin: '/usr/lib/kernel/install.d/95-kldload-esp-sync.install',
  /** systemd generator: /boot/efi is the ESP the machine booted from when that is not fstab's. */
  espGenerator: '/usr/lib/systemd/system-generators/kldload-esp',
} as const;

/**
 * A copy's identity is made anew on its first boot (src/day2/identity.ts) by this unit, once, while
 * the marker exists. Here, not in identity.ts, so that kldload spray reads them without loading the
 * boot-environment modules.
 */
export const IDENTITY_UNIT = 'kldload-identity.service';
export const REIDENTIFY_MARKER = '/etc/kldload/reidentify';

/** Logs: the installer's is written in the live system and copied to the target at the end. */
export const LOGS = {
  dir: '/var/log/kldload',
  installer: '/var/log/kldload/installer.log',
  firstboot: '/var/log/kldload/firstboot.log',
  postinstall: '/var/log/kldload/postinstall.log',
} as const;

/**
 * The comment the installer sets on the pool it made: the ISO's build id. A disk carrying the id of
 * the ISO that boots is not wiped again without kldload.reinstall=1.
 */
export const isoMarker = (buildId: string) => `kldload-iso:${buildId}`;
