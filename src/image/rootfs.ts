import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Executor } from '../core/exec.ts';
import { safeRemove } from '../core/fs.ts';
import { type Logger, withHeartbeat } from '../core/log.ts';
import { cacheDir, contentKey } from '../core/paths.ts';
import { shq } from '../core/plan.ts';

export interface RootfsSpec {
  /** Layer name: live, target-server … */
  name: string;
  suite: string;
  mirror: string;
  variant: 'minbase' | 'important' | 'standard' | 'apt';
  packages: string[];
  /**
   * Local .deb files (the prebuilt ZFS module), installed by the first customize hook together with
   * `late`: the build compiles the module while the layer is made, and the hook waits for the file.
   */
  debs: string[];
  /** Of `packages`, the ones that depend on the module (zfs-initramfs, zfs-zed): installed with `debs`. */
  late: string[];
  /** Shell hooks run by mmdebstrap after packages are installed; $1 is the root. */
  customize: string[];
  /** Files copied into the root before customize hooks: target path → content. */
  files: Record<string, string>;
  /** Bumped when the recipe changes in a way the other inputs do not show. */
  recipe: number;
}

export interface RootfsLayer {
  dir: string;
  squashfs: string;
  vmlinuz: string;
  initrd: string;
  info: { kabi: string; packages: string[]; key: string; name: string };
  cached: boolean;
}

/** A layer's cache key: everything that decides its content (package set, hooks, files, module deb). */
export function layerKey(spec: RootfsSpec): string {
  return contentKey({ ...spec, debs: spec.debs.map((d) => d.split('/').pop()) });
}

/** The layer's folder name under the cache's layers/ (complete once its LAYER_MARKER exists). */
export function layerDirName(spec: RootfsSpec): string {
  return `${spec.name}-${layerKey(spec)}`;
}

/** Written last, after the squashfs: a layer folder without it is not a cached layer. */
export const LAYER_MARKER = 'info.json';

/** How long a layer waits for its .debs (the module compile) before it gives up. */
const DEB_WAIT_SEC = 3 * 3600;

/**
 * The first customize hook: waits until every .deb exists (the build writes them with a rename, so
 * a file that exists is whole) or `abort` does (the module build failed), then installs them with the
 * packages that need them from the suite, through the chroot's apt, as the include step would have.
 * Its `I:` lines reach the build log like mmdebstrap's own.
 */
export function lateInstallHook(spec: RootfsSpec, abort: string): string {
  const names = spec.debs.map((d) => d.split('/').pop() ?? d);
  return [
    'set -e',
    'wait_deb() {',
    '  n=0',
    '  while [ ! -e "$1" ]; do',
    `    [ -e ${shq(abort)} ] && { echo "E: the zfs module build failed: ${spec.name} stops" >&2; exit 1; }`,
    `    [ $((n % 60)) -eq 0 ] && echo "I: waiting for \${1##*/} (the zfs module compiles beside this layer)"`,
    `    n=$((n + 1)); [ $n -gt ${DEB_WAIT_SEC} ] && { echo "E: no $1 after ${DEB_WAIT_SEC} s" >&2; exit 1; }`,
    '    sleep 1',
    '  done',
    '}',
    ...spec.debs.map((d) => `wait_deb ${shq(d)}`),
    'mkdir -p "$1/var/cache/kldload-debs"',
    ...spec.debs.map((d) => `cp ${shq(d)} "$1/var/cache/kldload-debs/"`),
    `echo "I: installing ${[...names, ...spec.late].join(' ')}"`,
    `chroot "$1" apt-get install -y --no-install-recommends ${[...names.map((n) => `/var/cache/kldload-debs/${n}`), ...spec.late].map(shq).join(' ')}`,
    'rm -rf "$1/var/cache/kldload-debs"',
  ].join('\n');
}

/**
 * One mmdebstrap run → one zstd squashfs, kept in the cache under its content key. The kernel
 * and initrd are copied out beside it (the live layer boots them from the ISO).
 */
export async function ensureRootfs(
  exec: Executor,
  log: Logger,
  spec: RootfsSpec,
  /** A file whose appearance means the .debs will never come (the module build failed). */
  abort: string,
): Promise<RootfsLayer> {
  const key = layerKey(spec);
  const dir = cacheDir('layers', layerDirName(spec));
  const layer = (cached: boolean): RootfsLayer => ({
    dir,
    squashfs: join(dir, 'filesystem.squashfs'),
    vmlinuz: join(dir, 'vmlinuz'),
    initrd: join(dir, 'initrd.img'),
    info: JSON.parse(readFileSync(join(dir, LAYER_MARKER), 'utf8')),
    cached,
  });
  if (existsSync(join(dir, LAYER_MARKER))) {
    log.info(`${spec.name}: cached layer ${key}`);
    return layer(true);
  }
  mkdirSync(cacheDir('tmp'), { recursive: true });
  const work = mkdtempSync(join(cacheDir('tmp'), `${spec.name}-`));
  const root = join(work, 'root');
  const filesDir = join(work, 'files');
  try {
    const hooks: string[] = spec.debs.length ? [`--customize-hook=${lateInstallHook(spec, abort)}`] : [];
    for (const [path, content] of Object.entries(spec.files)) {
      const src = join(filesDir, path);
      mkdirSync(join(src, '..'), { recursive: true });
      writeFileSync(src, content);
      hooks.push(`--customize-hook=mkdir -p "$1${dirnameOf(path)}" && cp -a "${src}" "$1${path}"`);
    }
    for (const h of spec.customize) hooks.push(`--customize-hook=${h}`);
    const t0 = Date.now();
    const now = spec.packages.filter((p) => !spec.late.includes(p));
    log.info(
      `${spec.name}: mmdebstrap ${spec.suite} (${spec.variant}, ${now.length} packages; then ${[...spec.debs.map((d) => d.split('/').pop()), ...spec.late].join(', ') || 'nothing'})`,
    );
    const mm = exec.run(
      [
        'mmdebstrap',
        `--variant=${spec.variant}`,
        '--components=main,contrib',
        '--mode=root',
        `--include=${now.join(',')}`,
        ...hooks,
        spec.suite,
        root,
        spec.mirror,
      ],
      {
        env: { DEBIAN_FRONTEND: 'noninteractive' },
        onLine: (l) =>
          l.startsWith('I: ') && log.info(`  [${spec.name} ${((Date.now() - t0) / 1000).toFixed(0)}s] ${l}`),
      },
    );
    await withHeartbeat(log, `${spec.name} (mmdebstrap)`, mm);
    const kabi = readdirSync(join(root, 'lib/modules')).sort().pop() ?? '';
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const pkgs = await exec.run(['chroot', root, 'dpkg-query', '-W', '-f', '${Package}=${Version}\\n']);
    const tmpOut = join(work, 'out');
    mkdirSync(tmpOut);
    cpSync(join(root, 'boot', `vmlinuz-${kabi}`), join(tmpOut, 'vmlinuz'));
    if (existsSync(join(root, 'boot', `initrd.img-${kabi}`)))
      cpSync(join(root, 'boot', `initrd.img-${kabi}`), join(tmpOut, 'initrd.img'));
    log.info(`${spec.name}: mksquashfs (zstd)`);
    await exec.run([
      'mksquashfs',
      root,
      join(tmpOut, 'filesystem.squashfs'),
      '-comp',
      'zstd',
      '-noappend',
      '-quiet',
    ]);
    writeFileSync(
      join(tmpOut, LAYER_MARKER),
      `${JSON.stringify({ name: spec.name, key, kabi, packages: pkgs.stdout.trim().split('\n') }, null, 1)}\n`,
    );
    mkdirSync(join(dir, '..'), { recursive: true });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmpOut, dir);
    log.info(`${spec.name}: layer ${key} ready in ${((Date.now() - t0) / 1000).toFixed(0)}s`);
    return layer(false);
  } finally {
    safeRemove(work);
  }
}

function dirnameOf(p: string): string {
  return p.slice(0, p.lastIndexOf('/')) || '/';
}
