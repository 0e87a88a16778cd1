/**
 * What the day-2 VM tests install from: a signed APT repository the test builds on the host with the
 * tree's own tools (the archive index reader, the verified .deb fetcher, the ZFS module builder and
 * the darksite repository writer), copied into the guest. It carries
 * - Debian's newer security kernel (trixie-security: a new ABI, as a plain `apt upgrade` would bring),
 * - the ZFS module package for that ABI (built once with zfs-dkms, cached like the build's own),
 * - two small probe packages made with dpkg-deb,
 * and a second repository (suite kltest2) with kl-probe 2.0: the newer version kupgrade upgrades to.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Executor } from '../../src/core/exec.ts';
import type { Logger } from '../../src/core/log.ts';
import { fetchDebs } from '../../src/darksite/fetch.ts';
import { type RepoDeb, writeRepo } from '../../src/darksite/repo.ts';
import { ensureSigningKey } from '../../src/darksite/signing-key.ts';
import { byName, hostMirror, loadSuiteIndex } from '../../src/debian/archive.ts';
import { parseRelations } from '../../src/debian/control.ts';
import { ensureZfsModuleDeb, kernelFacts } from '../../src/image/zfs-module.ts';
import { makeDeb } from '../integration/darksite-helpers.ts';

export const SUITE = 'kltest';
export const SUITE2 = 'kltest2';
export const SECURITY_MIRROR = 'http://deb.debian.org/debian-security';

export interface Day2Repo {
  dir: string;
  /** Suite kltest2: kl-probe 2.0 only. */
  dir2: string;
  /** ABI of the kernel the target was installed with (trixie) and of the newer one (trixie-security). */
  oldAbi: string;
  newAbi: string;
  zfsModulePackage: string;
}

/** A Debian kernel the installed target does not have: its meta package and image, fetched and verified. */
interface FetchedKernel {
  abi: string;
  imageName: string;
  debs: RepoDeb[];
}

/**
 * linux-image-<flavour> (meta + image) from `suite` at `mirror`, fetched with the darksite's verified
 * fetcher. Refuses the ABI the target runs (`installedAbi`): the test needs a kernel with no module.
 */
async function fetchKernel(
  exec: Executor,
  log: Logger,
  o: { mirror: string; suite: string; flavour: string; installedAbi: string },
): Promise<FetchedKernel> {
  const idx = byName(await loadSuiteIndex(exec, o.mirror, o.suite, ['main']));
  const meta = idx.get(`linux-image-${o.flavour}`);
  const imageName = parseRelations(meta?.get('Depends'))
    .flat()
    .find((r) => r.name.startsWith('linux-image-'))?.name;
  const image = imageName ? idx.get(imageName) : undefined;
  if (!meta || !imageName || !image) throw new Error(`${o.suite} carries no linux-image-${o.flavour}`);
  const abi = imageName.replace(/^linux-image-/, '');
  if (abi === o.installedAbi)
    throw new Error(`${o.suite}'s kernel ${abi} is the installed one: no newer ABI to test with`);
  const wanted = [meta, image].map((s) => ({
    name: s.get('Package') as string,
    version: s.get('Version') as string,
    filename: s.get('Filename') as string,
    sha256: s.get('SHA256') as string,
    size: Number(s.get('Size')),
  }));
  log.info(`day2 repo: fetching ${wanted.map((w) => w.name).join(', ')} from ${o.suite}`);
  const paths = await fetchDebs(o.mirror, wanted);
  return {
    abi,
    imageName,
    debs: wanted.map((w) => ({
      name: w.name,
      version: w.version,
      arch: 'amd64',
      path: paths.get(w.name) as string,
    })),
  };
}

/**
 * What the README test command's day-2 scenario installs: trixie-security's cloud kernel (another
 * ABI, with far fewer modules than the generic one, so its initramfs is made in a fraction of the
 * time under TCG) and no ZFS module for it, in a signed repository. The guard must hold it back.
 * The generic kernel with its module (the full path, booted) is e2e:day2's.
 */
export async function buildHeldKernelRepo(
  exec: Executor,
  log: Logger,
  work: string,
): Promise<{ dir: string; abi: string; meta: string }> {
  const trixie = kernelFacts(await loadSuiteIndex(exec, hostMirror(), 'trixie'));
  // The security pocket's when it has one; after a point release trixie's own (another ABI all the same).
  const from = async (mirror: string, suite: string) =>
    fetchKernel(exec, log, { mirror, suite, flavour: 'cloud-amd64', installedAbi: trixie.kabi });
  const k = await from(SECURITY_MIRROR, 'trixie-security').catch((e: unknown) => {
    log.info(`day2 repo: ${e instanceof Error ? e.message : String(e)}; using trixie's cloud kernel`);
    return from(hostMirror(), 'trixie');
  });
  const key = await ensureSigningKey(exec, join(work, 'repo-key'));
  const dir = join(work, 'kernel-repo');
  await writeRepo(exec, log, { dir, suite: SUITE, debs: k.debs, key });
  if (!existsSync(join(dir, 'dists', SUITE, 'InRelease'))) throw new Error(`${dir}: no InRelease written`);
  return { dir, abi: k.abi, meta: 'linux-image-cloud-amd64' };
}

export async function buildDay2Repo(exec: Executor, log: Logger, work: string): Promise<Day2Repo> {
  const mirror = hostMirror();
  const trixie = kernelFacts(await loadSuiteIndex(exec, mirror, 'trixie'));
  const k = await fetchKernel(exec, log, {
    mirror: SECURITY_MIRROR,
    suite: 'trixie-security',
    flavour: 'amd64',
    installedAbi: trixie.kabi,
  });
  const newAbi = k.abi;
  const imageName = k.imageName;

  // The module builder's chroot needs the security kernel and trixie's zfs-dkms: an mmdebstrap
  // MIRROR that is a file is pasted into the chroot's sources.list.
  const sources = join(work, 'dkms-sources.list');
  writeFileSync(
    sources,
    `deb ${mirror} trixie main contrib\ndeb ${SECURITY_MIRROR} trixie-security main contrib\n`,
  );
  const kernel = { kabi: newAbi, kernelPackage: imageName, zfsVersion: trixie.zfsVersion };
  const zfsDeb = await ensureZfsModuleDeb(exec, log, { mirror: sources, suite: 'trixie', kernel });

  const probes = join(work, 'probes');
  mkdirSync(probes, { recursive: true });
  const debs: RepoDeb[] = [
    ...k.debs,
    { name: `zfs-modules-${newAbi}`, version: trixie.zfsVersion, arch: 'amd64', path: zfsDeb },
    ...['kl-probe', 'kl-probe-extra'].map((name) => ({
      name,
      version: '1.0',
      arch: 'all',
      path: makeDeb(probes, { name, version: '1.0' }),
    })),
  ];
  const key = await ensureSigningKey(exec, join(work, 'repo-key'));
  const dir = join(work, 'repo');
  await writeRepo(exec, log, { dir, suite: SUITE, debs, key });
  const dir2 = join(work, 'repo2');
  const v2 = join(work, 'probes2');
  mkdirSync(v2, { recursive: true });
  const probe2 = makeDeb(v2, { name: 'kl-probe', version: '2.0' });
  await writeRepo(exec, log, {
    dir: dir2,
    suite: SUITE2,
    debs: [{ name: 'kl-probe', version: '2.0', arch: 'all', path: probe2 }],
    key,
  });
  for (const [d, s] of [
    [dir, SUITE],
    [dir2, SUITE2],
  ] as const)
    if (!existsSync(join(d, 'dists', s, 'InRelease'))) throw new Error(`${d}: no InRelease written`);
  return { dir, dir2, oldAbi: trixie.kabi, newAbi, zfsModulePackage: `zfs-modules-${newAbi}` };
}
