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

export interface RootfsSpec {
  /** Layer name: live, target-server … */
  name: string;
  suite: string;
  mirror: string;
  variant: 'minbase' | 'important' | 'standard' | 'apt';
  packages: string[];
  /** Local .deb files installed alongside (the prebuilt ZFS module). */
  debs: string[];
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

/**
 * One mmdebstrap run → one zstd squashfs, kept in the cache under its content key. The kernel
 * and initrd are copied out beside it (the live layer boots them from the ISO).
 */
export async function ensureRootfs(exec: Executor, log: Logger, spec: RootfsSpec): Promise<RootfsLayer> {
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
    const hooks: string[] = [];
    for (const [path, content] of Object.entries(spec.files)) {
      const src = join(filesDir, path);
      mkdirSync(join(src, '..'), { recursive: true });
      writeFileSync(src, content);
      hooks.push(`--customize-hook=mkdir -p "$1${dirnameOf(path)}" && cp -a "${src}" "$1${path}"`);
    }
    for (const h of spec.customize) hooks.push(`--customize-hook=${h}`);
    const t0 = Date.now();
    log.info(`${spec.name}: mmdebstrap ${spec.suite} (${spec.variant}, ${spec.packages.length} packages)`);
    const mm = exec.run(
      [
        'mmdebstrap',
        `--variant=${spec.variant}`,
        '--components=main,contrib',
        '--mode=root',
        `--include=${[...spec.packages, ...spec.debs].join(',')}`,
        ...(spec.debs.length ? ['--hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount'] : []),
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
