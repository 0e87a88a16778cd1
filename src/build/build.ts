import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { payloadSettings } from '../answers/role-settings.ts';
import { type Answers, FIELD_KEYS, type FieldKey, fieldDef } from '../answers/schema.ts';
import { type ValidateOptions, validateAnswersFile } from '../answers/validate.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { safeRemove, takeBuildLock } from '../core/fs.ts';
import type { Logger } from '../core/log.ts';
import { cacheDir, contentKey } from '../core/paths.ts';
import { buildDarksite } from '../darksite/darksite.ts';
import { listRepo, type SigningKey, suppliedSigningKey } from '../darksite/repo.ts';
import { inspectDebs, payloadDebs, type SuppliedDeb } from '../darksite/supplied.ts';
import { loadSuiteIndex } from '../debian/archive.ts';
import { check, formatFinding, postinstallLibDir } from '../postinstall/check.ts';
import { writeIso } from './iso.ts';
import {
  entryText,
  mergeEntries,
  type PackageEntry,
  type Profile,
  profilePackages,
  profilesDir,
} from './package-sets.ts';
import {
  assemblePayload,
  availableRoles,
  expandRoles,
  librarySettings,
  missingWantedDebs,
  rolePackages,
} from './roles.ts';
import { ensureRootfs, type RootfsSpec } from './rootfs.ts';
import { ensureZfsModuleDeb, type KernelFacts, kernelFacts, moduleDebPath } from './zfs-module.ts';

export interface BuildOptions {
  profile: Profile;
  suite: 'trixie' | 'bookworm';
  mirror: string;
  output: string;
  bundle: string;
  answers?: string;
  payload?: string;
  zbm?: string;
  extraPackages: string[];
  /** Roles from the library (roles/<name>), run by the dispatcher on first boot. */
  roles: string[];
  /** OCI / docker-save tarballs for /root/darksite/images (roles load them on first boot). */
  images?: string[];
  /** The user's .debs for the darksite (--deb); the payload's debs/*.deb count too. */
  debs?: string[];
  /** GNUPGHOME whose one secret key signs the darksite (--darksite-key); default the build key. */
  darksiteKey?: string;
}

/** Darksite inputs checked before any work: the user's .debs and signing key. */
interface DarksiteInputs {
  supplied: SuppliedDeb[];
  /** Profile, --packages and role entries with their file:line and backports pins. */
  packageSet: PackageEntry[];
  signingKey?: SigningKey;
  /** The user's --packages alone (extraPackages here also carries the roles' packages). */
  requested: string[];
}

export interface ImageInfo {
  profile: Profile;
  suite: string;
  kabi: string;
  zfsVersion: string;
  /** The public mirror written into the target's apt sources for later updates. */
  publicMirror: string;
  layer: string;
  roles: string[];
  /** Names of the packages supplied as .deb files (--deb, payload debs/) that the darksite carries. */
  suppliedDebs: string[];
  /** File names of the container images (--image) in /root/darksite/images. */
  images: string[];
  /** The --packages entries: what KLDLOAD_EXTRA_PACKAGES can ask for beyond the profile. */
  extraPackages: string[];
  /**
   * Random id of this ISO build. The installer writes it on the pool it made and will not wipe a
   * disk carrying it again without kldload.reinstall=1 (an ISO left attached must not reinstall forever).
   */
  buildId?: string;
}

export interface BuildResult {
  iso: string;
  sizeBytes: number;
  image: ImageInfo;
  phases: { name: string; seconds: number; cached: boolean }[];
}

const PUBLIC_MIRROR = 'http://deb.debian.org/debian';

function targetSources(suite: string): string {
  const sec = suite === 'bookworm' ? 'bookworm-security' : `${suite}-security`;
  return `Types: deb
URIs: ${PUBLIC_MIRROR}
Suites: ${suite} ${suite}-updates
Components: main contrib non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.debian.org/debian-security
Suites: ${sec}
Components: main contrib non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;
}

/**
 * Files of payload/target/kernel baked into every target image (path on the target → file name):
 * the ZFS kernel guard (docs/day2.md). In the image, not the install plan, so the first kernel the
 * installer adds with kernel-install is already guarded.
 */
export const TARGET_KERNEL_FILES: Record<string, { file: string; exec: boolean }> = {
  '/usr/lib/kernel/install.d/85-kldload-zfs-guard.install': {
    file: '85-kldload-zfs-guard.install',
    exec: true,
  },
  '/usr/lib/kldload/zfs-kernel-reconcile': { file: 'zfs-kernel-reconcile', exec: true },
  '/etc/apt/apt.conf.d/80kldload-zfs-kernels': { file: '80kldload-zfs-kernels', exec: false },
};

function targetKernelFiles(): Record<string, string> {
  const dir = join(profilesDir(), '../payload/target/kernel');
  return Object.fromEntries(
    Object.entries(TARGET_KERNEL_FILES).map(([path, f]) => [path, readFileSync(join(dir, f.file), 'utf8')]),
  );
}

/** Everything a target layer depends on. Machine identity is stripped: each install makes its own. */
export function targetSpec(o: BuildOptions, k: KernelFacts, moduleDeb: string): RootfsSpec {
  return {
    name: `target-${o.profile}`,
    suite: o.suite,
    mirror: o.mirror,
    variant: 'important',
    // The image is the profile alone; --packages go to the darksite, installed on demand.
    packages: [`linux-image-${k.kabi}`, ...profilePackages(o.profile).map((p) => p.name)],
    debs: [moduleDeb],
    files: { '/etc/apt/sources.list.d/debian.sources': targetSources(o.suite), ...targetKernelFiles() },
    customize: [
      'rm -f "$1/etc/apt/sources.list"',
      // The files are copied with the build host's mode; kernel-install only runs executable plugins.
      ...Object.entries(TARGET_KERNEL_FILES)
        .filter(([, f]) => f.exec)
        .map(([path]) => `chmod 0755 "$1${path}"`),
      // Per-machine identity must never be shared by every machine installed from one ISO.
      'rm -f "$1"/etc/ssh/ssh_host_*_key "$1"/etc/ssh/ssh_host_*_key.pub "$1/etc/hostid" "$1/etc/zfs/zpool.cache"',
      ': > "$1/etc/machine-id"',
      // The initrd is built here, natively, with no hostid in it; the installer puts this machine's
      // hostid in front as an early segment (update-initramfs under TCG costs minutes).
      'chroot "$1" update-initramfs -u -k all',
    ],
    recipe: 2,
  };
}

export function liveSpec(o: BuildOptions, k: KernelFacts, moduleDeb: string): RootfsSpec {
  return {
    name: 'live',
    suite: o.suite,
    mirror: o.mirror,
    variant: 'minbase',
    packages: [`linux-image-${k.kabi}`, ...profilePackages('live').map((p) => p.name)],
    debs: [moduleDeb],
    files: {
      '/etc/systemd/system/kldload-installer.service': readFileSync(
        join(profilesDir(), '../payload/live/kldload-installer.service'),
        'utf8',
      ),
      '/etc/hostname': 'kldload-live\n',
    },
    customize: [
      'chroot "$1" systemctl enable kldload-installer.service',
      // The installer must never auto-import pools it finds on the machine's disks (they may be
      // someone's data), and the import units drag in udev-settle, which stalls the boot.
      'chroot "$1" systemctl disable zfs-import-cache.service zfs-import-scan.service zfs-mount.service zfs-share.service zfs-zed.service zfs-import.target zfs.target',
      // The live medium is a console appliance: root logs in without a password for debugging.
      'chroot "$1" passwd -d root',
      // live-boot's hooks must be in the initrd that boots the ISO.
      `chroot "$1" update-initramfs -u -k ${k.kabi}`,
    ],
    recipe: 2,
  };
}

async function timed<T>(
  phases: BuildResult['phases'],
  name: string,
  fn: () => Promise<T>,
  cached: (r: T) => boolean = () => false,
): Promise<T> {
  const t0 = Date.now();
  const r = await fn();
  phases.push({ name, seconds: (Date.now() - t0) / 1000, cached: cached(r) });
  return r;
}

/** What to do instead of embedding a secret in plain text, per key; secrets not listed get the seed-stick advice. */
const PLAIN_SECRET_ADVICE: Partial<Record<FieldKey, string>> = {
  KLDLOAD_PASSWORD: "use KLDLOAD_PASSWORD_HASH='$y$…' instead (mkpasswd -m yescrypt)",
  KLDLOAD_ROOT_PASSWORD:
    'leave it unset (root stays locked, the administrator has sudo) or set it after the install',
  KLDLOAD_ZFS_PASSPHRASE:
    'a passphrase has no hashed form: give the answers on a KLDLOADSEED USB stick at install time instead of embedding them',
  KLDLOAD_POSTINSTALL_URL:
    'a token in it is readable too: use a URL without a token (pin it with KLDLOAD_POSTINSTALL_SHA256), or give the answers on a KLDLOADSEED USB stick',
};
/** Secret keys whose value is already one-way (a crypt hash): safe enough on the medium. */
const HASHED_SECRETS = new Set<FieldKey>(['KLDLOAD_PASSWORD_HASH']);

/** One warning per secret that `build --answers` would put on the ISO readable by anyone holding it. */
export function embeddedSecretWarnings(file: string, a: Answers): string[] {
  return FIELD_KEYS.filter((k) => fieldDef(k).secret && !HASHED_SECRETS.has(k) && a[k] !== undefined).map(
    (k) =>
      `WARNING: --answers ${file}: ${k} goes onto the ISO in plain text (anyone with the ISO can read it); ${
        PLAIN_SECRET_ADVICE[k] ?? 'give it on a KLDLOADSEED USB stick at install time instead'
      }`,
  );
}

/**
 * Role settings embedded answers may carry: those of the chosen roles (with the ones they pull in)
 * and of the payload's own roles; the library's others are named in the error when given.
 */
export function buildSettings(o: Pick<BuildOptions, 'roles' | 'payload'>): ValidateOptions {
  const chosen = expandRoles(o.roles);
  const payloadDir = o.payload && existsSync(o.payload) ? o.payload : undefined;
  return {
    roleSettings: [...librarySettings(chosen), ...(payloadDir ? payloadSettings(payloadDir) : [])],
    otherSettings: librarySettings(availableRoles().filter((r) => !chosen.includes(r))),
  };
}

export function checkBuildInputs(o: BuildOptions, warn: (m: string) => void = () => undefined): void {
  if (o.answers) {
    const v = validateAnswersFile(o.answers, buildSettings(o));
    if (!v.ok)
      throw new KldloadError(
        `--answers ${o.answers} is invalid; refusing to embed it:\n${v.errors.map((e) => e.text).join('\n')}`,
        EXIT.badInput,
      );
    for (const w of v.warnings) warn(`WARNING: ${w.text}`);
    for (const w of embeddedSecretWarnings(o.answers, v.answers)) warn(w);
  }
  if (o.payload && !(existsSync(o.payload) && statSync(o.payload).isDirectory()))
    throw new KldloadError(`--payload ${o.payload}: not a directory`, EXIT.badInput);
  if (o.zbm && !existsSync(o.zbm)) throw new KldloadError(`--zbm ${o.zbm}: no such file`, EXIT.badInput);
  if (!existsSync(o.bundle)) throw new KldloadError(`kldload bundle ${o.bundle} missing: run npm run bundle`);
  profilePackages(o.profile, o.extraPackages);
}

/** Embedded answers may only ask for packages the darksite really carries. */
function checkEmbeddedExtras(answersFile: string, available: string[], settings: ValidateOptions): void {
  const v = validateAnswersFile(answersFile, settings);
  if (!v.ok) return;
  const have = new Set(available);
  const missing = (v.answers.KLDLOAD_EXTRA_PACKAGES ?? []).filter((n) => !have.has(n));
  if (missing.length)
    throw new KldloadError(
      `${answersFile}:${v.lines.KLDLOAD_EXTRA_PACKAGES}: KLDLOAD_EXTRA_PACKAGES: ${missing.join(', ')} not on the darksite; add them with --packages`,
      EXIT.badInput,
    );
}

/** A broken postinstaller never goes into an ISO: bash -n, shellcheck and role order, before building. */
async function checkPayload(exec: Executor, log: Logger, payload: string): Promise<void> {
  const hasScripts = existsSync(join(payload, 'postinstall.sh')) || existsSync(join(payload, 'roles'));
  if (!hasScripts) return;
  const findings = await check(payload, exec);
  for (const f of findings.filter((x) => x.level !== 'info'))
    log.info(`postinstall check: ${formatFinding(f)}`);
  const errors = findings.filter((f) => f.level === 'error');
  if (errors.length)
    throw new KldloadError(
      `--payload ${payload}: the postinstaller has errors; fix them (kldload postinstall check ${payload}):\n${errors.map(formatFinding).join('\n')}`,
      EXIT.badInput,
    );
}

/** answers → layers (cached by content) → ISO. Only what changed is rebuilt. */
export async function build(exec: Executor, log: Logger, o: BuildOptions): Promise<BuildResult> {
  checkBuildInputs(o, (m) => log.info(m));
  const supplied = await inspectDebs(exec, [
    ...(o.debs ?? []).map((path) => ({ path, from: '--deb' })),
    ...payloadDebs(o.payload),
  ]);
  const signingKey = o.darksiteKey ? await suppliedSigningKey(exec, o.darksiteKey) : undefined;
  const roles = expandRoles(o.roles, (m) => log.info(m));
  const payload = assemblePayload(o.payload, roles, o.images ?? []);
  if (payload) await checkPayload(exec, log, payload);
  const release = await takeBuildLock(cacheDir('build.lock'), cacheDir('tmp'), (mp) => {
    log.info(`cleaning up after an interrupted build: umount ${mp}`);
    return exec.run(['umount', '--lazy', mp]);
  });
  try {
    return await buildLocked(
      exec,
      log,
      {
        ...o,
        roles,
        ...(payload ? { payload } : {}),
        // Role packages ride on the darksite; first boot installs them offline.
        extraPackages: [...o.extraPackages, ...rolePackages(roles).map(entryText)],
      },
      {
        supplied,
        packageSet: mergeEntries([...profilePackages(o.profile, o.extraPackages), ...rolePackages(roles)]),
        ...(signingKey ? { signingKey } : {}),
        requested: o.extraPackages,
      },
    );
  } finally {
    release();
    if (payload && payload !== o.payload) safeRemove(payload);
  }
}

async function buildLocked(
  exec: Executor,
  log: Logger,
  o: BuildOptions,
  ds: DarksiteInputs,
): Promise<BuildResult> {
  const phases: BuildResult['phases'] = [];
  const libDir = postinstallLibDir();
  const index = await timed(phases, 'index', () => loadSuiteIndex(exec, o.mirror, o.suite));
  const k = kernelFacts(index);
  log.info(`suite ${o.suite} ${index.release.get('Version') ?? ''}: kernel ${k.kabi}, zfs ${k.zfsVersion}`);
  const hadDeb = existsSync(moduleDebPath(k));
  const deb = await timed(
    phases,
    'zfs-module',
    () => ensureZfsModuleDeb(exec, log, { mirror: o.mirror, suite: o.suite, kernel: k }),
    () => hadDeb,
  );
  const darksite = await timed(
    phases,
    'darksite',
    () =>
      buildDarksite(exec, log, index, {
        mirror: o.mirror,
        suite: o.suite,
        profile: o.profile,
        extra: o.extraPackages,
        localDebs: [deb],
        supplied: ds.supplied,
        packageSet: ds.packageSet,
        ...(ds.signingKey ? { signingKey: ds.signingKey } : {}),
      }),
    (d) => d.cached,
  );
  if (o.answers)
    checkEmbeddedExtras(
      o.answers,
      listRepo(darksite.dir, o.suite).map((p) => p.name),
      buildSettings(o),
    );
  const target = await timed(
    phases,
    'target-layer',
    () => ensureRootfs(exec, log, targetSpec(o, k, deb)),
    (l) => l.cached,
  );
  const live = await timed(
    phases,
    'live-layer',
    () => ensureRootfs(exec, log, liveSpec(o, k, deb)),
    (l) => l.cached,
  );
  const image: ImageInfo = {
    profile: o.profile,
    suite: o.suite,
    kabi: target.info.kabi,
    zfsVersion: k.zfsVersion,
    publicMirror: PUBLIC_MIRROR,
    layer: target.info.key,
    roles: o.roles,
    suppliedDebs: darksite.supplied.map((d) => d.name),
    images: (o.images ?? []).map((i) => basename(i)),
    extraPackages: ds.requested,
    buildId: randomBytes(8).toString('hex'),
  };
  for (const [role, names] of missingWantedDebs(o.roles, new Set(image.suppliedDebs)))
    log.info(
      `WARNING: role ${role}: ${names.join(', ')} not supplied (Debian does not package them); the role runs without them. Supply them with --deb FILE.deb`,
    );
  const imageJson = cacheDir('tmp', `image-${contentKey(image)}.json`);
  mkdirSync(cacheDir('tmp'), { recursive: true });
  writeFileSync(imageJson, `${JSON.stringify(image, null, 1)}\n`);
  await timed(phases, 'iso', () =>
    writeIso(
      exec,
      log,
      {
        vmlinuz: live.vmlinuz,
        initrd: live.initrd,
        liveSquashfs: live.squashfs,
        targetSquashfs: target.squashfs,
        imageJson,
        bundle: o.bundle,
        ...(o.answers ? { answers: o.answers } : {}),
        ...(o.payload ? { payloadDir: o.payload } : {}),
        ...(o.zbm ? { zbm: o.zbm } : {}),
        ...(libDir ? { postinstallLib: libDir } : {}),
        aptRepo: darksite.dir,
      },
      resolve(o.output),
    ),
  );
  return { iso: resolve(o.output), sizeBytes: statSync(o.output).size, image, phases };
}
