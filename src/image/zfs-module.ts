import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { safeRemove } from '../core/fs.ts';
import { type Logger, withHeartbeat } from '../core/log.ts';
import { cacheDir } from '../core/paths.ts';
import { byName, type SuiteIndex } from '../debian/archive.ts';
import { parseRelations } from '../debian/control.ts';

export interface KernelFacts {
  /** Kernel ABI as in /lib/modules, e.g. 6.12.57+deb13-amd64. */
  kabi: string;
  kernelPackage: string;
  zfsVersion: string;
}

/** Which exact kernel and ZFS the suite ships today, read from the verified Packages index. */
export function kernelFacts(index: SuiteIndex): KernelFacts {
  const pk = byName(index);
  const meta = pk.get('linux-image-amd64');
  const dep = parseRelations(meta?.get('Depends'))
    .flat()
    .find((r) => r.name.startsWith('linux-image-'));
  const zfs = pk.get('zfs-dkms')?.get('Version');
  if (!dep || !zfs)
    throw new KldloadError(`${index.suite}: cannot find linux-image-amd64 or zfs-dkms in the index`);
  return { kabi: dep.name.replace(/^linux-image-/, ''), kernelPackage: dep.name, zfsVersion: zfs };
}

/**
 * Does `pkg` depend on the ZFS module (zfs-modules | zfs-dkms), itself or through what it depends on?
 * zfs-initramfs and zfs-zed do in today's suites. A layer installs those with the module's .deb once
 * it is compiled, and everything else meanwhile; one left out would make apt choose zfs-dkms.
 */
export function moduleUsers(index: SuiteIndex): (pkg: string) => boolean {
  const pk = byName(index);
  const known = new Map<string, boolean>();
  const needs = (name: string): boolean => {
    const k = known.get(name);
    if (k !== undefined) return k;
    known.set(name, false); // a cycle does not reach the module through itself
    const v = ['Pre-Depends', 'Depends'].some((f) =>
      parseRelations(pk.get(name)?.get(f))
        .flat()
        .some((r) => r.name === 'zfs-modules' || needs(r.name)),
    );
    known.set(name, v);
    return v;
  };
  return needs;
}

/** The module package's name and version, as its control file says (the darksite key uses them). */
export function moduleDebFields(k: KernelFacts): { name: string; version: string } {
  return { name: `zfs-modules-${k.kabi}`, version: k.zfsVersion };
}

/** The module package's file name under the cache's zfs-modules/ (one per kernel ABI and zfs version). */
export function moduleDebName(k: KernelFacts): string {
  return `zfs-modules-${k.kabi}_${k.zfsVersion.replace(/:/g, '%3a')}_amd64.deb`;
}

export function moduleDebPath(k: KernelFacts): string {
  return cacheDir('zfs-modules', moduleDebName(k));
}

/**
 * The ZFS module is compiled once per (kernel ABI, zfs version) with zfs-dkms in a throw-away
 * chroot, then shipped as a small binary package `zfs-modules-<kabi>` that Provides zfs-modules,
 * so zfs-initramfs is satisfied without dkms and no target or live system ever compiles.
 */
export async function ensureZfsModuleDeb(
  exec: Executor,
  log: Logger,
  opts: { mirror: string; suite: string; kernel: KernelFacts },
): Promise<string> {
  const deb = moduleDebPath(opts.kernel);
  if (existsSync(deb)) {
    log.info(`zfs module: cached ${deb}`);
    return deb;
  }
  const { kabi, zfsVersion } = opts.kernel;
  log.info(`zfs module: building zfs ${zfsVersion} for ${kabi} with zfs-dkms (once; ~4 min)`);
  mkdirSync(cacheDir('tmp'), { recursive: true });
  const work = mkdtempSync(join(cacheDir('tmp'), 'dkms-'));
  const root = join(work, 'root');
  try {
    // dkms builds in zfs-dkms' postinst for kernels whose headers are present; the hook forces a
    // build for our ABI in case the postinst skipped it (it keys off `uname -r` in some versions).
    const hook = `chroot "$1" sh -c 'ls /lib/modules/${kabi}/updates/dkms/zfs.ko* >/dev/null 2>&1 || dkms install zfs/${zfsVersion.replace(/-[^-]*$/, '')} -k ${kabi}'`;
    const run = exec.run(
      [
        'mmdebstrap',
        '--variant=apt',
        '--components=main,contrib',
        `--include=linux-image-${kabi},linux-headers-${kabi},zfs-dkms,build-essential`,
        '--aptopt=APT::Install-Recommends "false"',
        `--customize-hook=${hook}`,
        opts.suite,
        root,
        opts.mirror,
      ],
      { onLine: (l) => l.startsWith('I: ') && log.info(`  [dkms ${log.elapsed().toFixed(0)}s] ${l}`) },
    );
    await withHeartbeat(log, 'zfs module (dkms compiling)', run);
    const built = join(root, 'lib/modules', kabi, 'updates/dkms');
    const kos = existsSync(built) ? readdirSync(built).filter((f) => /\.ko(\.xz|\.zst)?$/.test(f)) : [];
    if (!kos.some((f) => f.startsWith('zfs.ko')))
      throw new KldloadError(`zfs-dkms produced no zfs.ko for ${kabi}`);
    const pkg = join(work, 'pkg');
    mkdirSync(join(pkg, 'DEBIAN'), { recursive: true });
    mkdirSync(join(pkg, 'lib/modules', kabi, 'updates/dkms'), { recursive: true });
    for (const f of kos) cpSync(join(built, f), join(pkg, 'lib/modules', kabi, 'updates/dkms', f));
    writeFileSync(
      join(pkg, 'DEBIAN/control'),
      [
        `Package: ${moduleDebFields(opts.kernel).name}`,
        `Version: ${moduleDebFields(opts.kernel).version}`,
        'Architecture: amd64',
        'Maintainer: kldload <kldload@localhost>',
        `Depends: linux-image-${kabi}`,
        'Provides: zfs-modules',
        'Conflicts: zfs-dkms',
        'Section: contrib/kernel',
        'Priority: optional',
        `Description: OpenZFS ${zfsVersion} kernel modules for Linux ${kabi}`,
        ' Built once with zfs-dkms at image build time; no compiler on the target.',
        '',
      ].join('\n'),
    );
    writeFileSync(join(pkg, 'DEBIAN/postinst'), `#!/bin/sh\nset -e\ndepmod -a ${kabi} || true\n`);
    chmodSync(join(pkg, 'DEBIAN/postinst'), 0o755);
    mkdirSync(cacheDir('zfs-modules'), { recursive: true });
    await exec.run(['dpkg-deb', '--root-owner-group', '-Zxz', '--build', pkg, `${deb}.tmp`]);
    renameSync(`${deb}.tmp`, deb);
    log.info(`zfs module: built ${deb}`);
    return deb;
  } finally {
    safeRemove(work);
  }
}
