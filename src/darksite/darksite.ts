import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { profilePackages } from '../build/package-sets.ts';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import type { Logger } from '../core/log.ts';
import { cacheDir, contentKey } from '../core/paths.ts';
import type { SuiteIndex } from '../debian/archive.ts';
import { parseControl } from '../debian/control.ts';
import { fetchDebs } from './fetch.ts';
import { ensureSigningKey, type RepoDeb, simulateInstall, writeRepo } from './repo.ts';
import { type ProfileResolution, resolveProfile } from './resolve.ts';

export interface DarksiteOptions {
  mirror: string;
  suite: string;
  profile: string;
  extra: string[];
  /** Local .debs that join the repository as they are (the prebuilt zfs-modules package). */
  localDebs: string[];
  concurrency?: number;
}

export interface DarksiteResult {
  dir: string;
  key: string;
  packages: number;
  bytes: number;
  fetchSeconds: number;
  cached: boolean;
  resolution: Pick<ProfileResolution, 'warnings' | 'totals'>;
}

async function debFields(exec: Executor, path: string): Promise<RepoDeb> {
  const r = await exec.run(['dpkg-deb', '--field', path, 'Package', 'Version', 'Architecture']);
  const s = parseControl(r.stdout)[0];
  return {
    name: s?.get('Package') ?? '',
    version: s?.get('Version') ?? '',
    arch: s?.get('Architecture') ?? '',
    path,
  };
}

/**
 * profile (+ extras) → closure → verified downloads → signed repository → apt gate. The result
 * is cached under the content key of the exact package list, so an unchanged set costs nothing.
 */
export async function buildDarksite(
  exec: Executor,
  log: Logger,
  index: SuiteIndex,
  o: DarksiteOptions,
): Promise<DarksiteResult> {
  const res = resolveProfile(index, o.profile, o.extra);
  if (res.errors.length)
    throw new KldloadError(
      `darksite: cannot resolve ${o.profile}:\n${res.errors.map((e) => `  ${e.message} (needed by ${e.chain.join(' ← ')})`).join('\n')}`,
      EXIT.badInput,
    );
  const locals = await Promise.all(o.localDebs.map((d) => debFields(exec, d)));
  const key = contentKey({
    suite: o.suite,
    pk: res.packages.map((p) => p.sha256),
    locals: locals.map((l) => `${l.name}=${l.version}`),
  });
  const dir = cacheDir('darksite', `${o.suite}-${o.profile}-${key}`);
  const base = {
    dir,
    key,
    packages: res.packages.length + locals.length,
    bytes: res.totals.bytes,
    resolution: { warnings: res.warnings, totals: res.totals },
  };
  if (existsSync(join(dir, 'dists', o.suite, 'InRelease'))) {
    log.info(`darksite: cached repository ${key} (${base.packages} packages)`);
    return { ...base, fetchSeconds: 0, cached: true };
  }
  const t0 = Date.now();
  let last = 0;
  const paths = await fetchDebs(o.mirror, res.packages, {
    concurrency: o.concurrency ?? 8,
    onProgress: (p) => {
      if (Date.now() - last > 2000 || p.done === p.total) {
        last = Date.now();
        log.info(
          `darksite: fetched ${p.done}/${p.total} (${(p.bytes / 1e6).toFixed(0)}/${(p.totalBytes / 1e6).toFixed(0)} MB new, ${p.cached} cached)`,
        );
      }
    },
  });
  const fetchSeconds = (Date.now() - t0) / 1000;
  const debs: RepoDeb[] = [
    ...res.packages.map((p) => ({
      name: p.name,
      version: p.version,
      arch: p.arch,
      path: paths.get(p.name) ?? '',
    })),
    ...locals,
  ];
  const signing = await ensureSigningKey(exec);
  await writeRepo(exec, log, { dir, suite: o.suite, debs, key: signing });
  // The gate: apt itself, on an empty system seeing only this repository, must install the set.
  const names = profilePackages(o.profile, o.extra).map((p) => p.name);
  const gate = await simulateInstall(exec, {
    dir,
    suite: o.suite,
    packages: names,
    scratch: cacheDir('tmp', `gate-${key}`),
  });
  if (!gate.ok)
    throw new KldloadError(
      `darksite gate: apt cannot install the ${o.profile} set from the darksite alone:\n${gate.output.split('\n').slice(-25).join('\n')}`,
    );
  log.info(`darksite: gate passed (apt simulated installing ${names.length} requested packages offline)`);
  return { ...base, fetchSeconds, cached: false };
}
