import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import type { Logger } from '../core/log.ts';
import { cacheDir, contentKey } from '../core/paths.ts';
import { loadSuiteIndex, type SuiteIndex } from '../debian/archive.ts';
import { parseControl, type Stanza } from '../debian/control.ts';
import { type PackageEntry, profilePackages } from '../package-sets/package-sets.ts';
import { type BackportsChoice, pinBackports } from './backports.ts';
import { FETCH_CONCURRENCY, fetchDebs } from './fetch.ts';
import { type RepoDeb, simulateInstall, writeRepo } from './repo.ts';
import {
  type ProfileResolution,
  type Request,
  type ResolvedPackage,
  type ResolveError,
  type ResolveOptions,
  resolveSet,
} from './resolve.ts';
import { buildIndex, resolverIndex } from './resolve-index.ts';
import { ensureSigningKey, type SigningKey } from './signing-key.ts';
import { type SuppliedDeb, suppliedLabel } from './supplied.ts';

export interface DarksiteOptions {
  mirror: string;
  suite: string;
  profile: string;
  extra: string[];
  /** Local .debs that join the repository as they are (the prebuilt zfs-modules package). */
  localDebs: string[];
  /**
   * The user's .debs (--deb, payload debs/), already checked by inspectDebs: they join the
   * repository, and their Depends/Pre-Depends are resolved against the archive.
   */
  supplied?: SuppliedDeb[];
  /** Sign with this key (--darksite-key, checked by suppliedSigningKey); default the build key. */
  signingKey?: SigningKey;
  /** The requested packages; default profiles/<profile>.list plus `extra`. */
  packageSet?: PackageEntry[];
  /** Resolver options (tests leave out the Priority roots to keep the repository small). */
  resolve?: ResolveOptions;
  /** The closure, when the caller resolved it already (the build plan): not resolved again. */
  resolution?: DarksiteResolution;
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
  /** The user's packages on the darksite (from --deb and payload debs/). */
  supplied: { name: string; version: string; arch: string; file: string }[];
  /** Fingerprint of the key that signed the repository. */
  signer: string;
  /** Packages taken from <suite>-backports (name/backports pins and what they need). */
  backports: DarksiteResolution['backports'];
}

export interface DarksiteResolution extends ProfileResolution {
  /** Packages taken from <suite>-backports, with why (a pin's file:line, or the dependency). */
  backports: { name: string; version: string; reason: string }[];
}

/**
 * The darksite's closure: the requests over the suite's index, with `name/backports` pins taken
 * from <suite>-backports (fetched and verified only when a pin asks for it) and the user's .debs
 * as candidates that replace archive packages of the same name.
 */
export async function resolveDarksite(
  exec: Executor,
  index: SuiteIndex,
  o: { requests: readonly Request[]; supplied?: readonly SuppliedDeb[]; resolve?: ResolveOptions },
): Promise<DarksiteResolution> {
  const backports = needsBackports(o.requests)
    ? (await loadSuiteIndex(exec, index.mirror, `${index.suite}-backports`)).packages
    : undefined;
  return resolveDarksiteWith(index, backports, o);
}

/** A pin asks for <suite>-backports: its index must be loaded before resolving. */
export function needsBackports(requests: readonly Request[]): boolean {
  return requests.some((r) => r.pin === 'backports');
}

/** resolveDarksite without I/O: the backports index is given (when a pin needs it). */
export function resolveDarksiteWith(
  index: SuiteIndex,
  backports: readonly Stanza[] | undefined,
  o: { requests: readonly Request[]; supplied?: readonly SuppliedDeb[]; resolve?: ResolveOptions },
): DarksiteResolution {
  const supplied = o.supplied ?? [];
  const pins = o.requests.filter((r) => r.pin === 'backports');
  let stanzas: readonly Stanza[] | undefined;
  let bpo: BackportsChoice | undefined;
  if (pins.length) {
    if (!backports)
      throw new KldloadError(`${index.suite}: backports pins need the ${index.suite}-backports index`);
    bpo = pinBackports(
      { stanzas: index.packages, index: resolverIndex(index) },
      backports,
      pins,
      index.suite,
    );
    stanzas = bpo.stanzas;
  }
  if (supplied.length) {
    const names = new Set(supplied.map((d) => d.name));
    stanzas = [
      ...(stanzas ?? index.packages).filter((s) => !names.has(s.get('Package') ?? '')),
      ...supplied.map((d) => d.stanza),
    ];
  }
  const ri = stanzas ? buildIndex(stanzas) : resolverIndex(index);
  const res = resolveSet(ri, o.requests, o.resolve);
  const chosen = bpo?.chosen ?? new Map<string, string>();
  return {
    ...res,
    errors: [...(bpo?.errors ?? []), ...res.errors],
    backports: res.packages
      .filter((p) => chosen.has(p.name) && !supplied.some((d) => d.name === p.name))
      .map((p) => ({ name: p.name, version: p.version, reason: chosen.get(p.name) ?? '' })),
  };
}

/** What the darksite requests: the package set (default the profile plus extras) and the supplied .debs. */
export function darksiteRequests(
  o: Pick<DarksiteOptions, 'profile' | 'extra' | 'packageSet' | 'supplied'>,
): Request[] {
  return [
    ...(o.packageSet ?? profilePackages(o.profile, o.extra)),
    ...(o.supplied ?? []).map((d) => ({ name: d.name, from: suppliedLabel(d) })),
  ];
}

/** The packages fetched from the mirror: the closure without the supplied ones (they come from the user). */
export function remotePackages(
  res: Pick<DarksiteResolution, 'packages'>,
  supplied: readonly SuppliedDeb[],
): ResolvedPackage[] {
  return res.packages.filter((p) => !supplied.some((d) => d.name === p.name && d.sha256 === p.sha256));
}

/**
 * The repository's content key: the exact remote .debs, the local ones (name=version), the
 * supplied files and the signer. The plan (src/image/plan.ts) and buildDarksite both use it.
 */
export function darksiteKey(o: {
  suite: string;
  remote: readonly Pick<ResolvedPackage, 'sha256'>[];
  locals: readonly Pick<RepoDeb, 'name' | 'version'>[];
  supplied: readonly Pick<SuppliedDeb, 'sha256'>[];
  signer: string;
}): string {
  return contentKey({
    suite: o.suite,
    pk: o.remote.map((p) => p.sha256),
    locals: o.locals.map((l) => `${l.name}=${l.version}`),
    supplied: o.supplied.map((d) => d.sha256).sort(),
    signer: o.signer,
  });
}

/** The repository's folder name in the cache (under darksite/). */
export function darksiteDirName(suite: string, profile: string, key: string): string {
  return `${suite}-${profile}-${key}`;
}

/** A cached repository is complete once its InRelease is signed (writeRepo writes it last). */
export function darksiteMarker(suite: string): string {
  return join('dists', suite, 'InRelease');
}

/** A resolver failure, worded for the user: a supplied .deb's missing dependency names the file. */
function resolveErrorText(e: ResolveError, supplied: readonly SuppliedDeb[]): string {
  const root = e.chain[e.chain.length - 1] ?? '';
  const deb = supplied.find((d) => suppliedLabel(d) === root);
  if (deb)
    return `${root}: cannot satisfy '${e.name}' for ${deb.name} ${deb.version} from the Debian archive or the other supplied .debs (${e.message}); supply it with --deb too, or use a build of ${deb.name} that does not need it`;
  return `${e.message} (needed by ${e.chain.join(' ← ')})`;
}

/** A closure with errors stops the build (exit 2), each error worded for the user. */
export function assertResolved(
  profile: string,
  res: Pick<DarksiteResolution, 'errors'>,
  supplied: readonly SuppliedDeb[],
): void {
  if (res.errors.length)
    throw new KldloadError(
      `darksite: cannot resolve ${profile}:\n${res.errors.map((e) => `  ${resolveErrorText(e, supplied)}`).join('\n')}`,
      EXIT.badInput,
    );
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
 * profile (+ extras, + supplied .debs) → closure → verified downloads → signed repository → apt
 * gate. The result is cached under the content key of the exact package list, the supplied files
 * and the signing key, so an unchanged set costs nothing.
 */
export async function buildDarksite(
  exec: Executor,
  log: Logger,
  index: SuiteIndex,
  o: DarksiteOptions,
): Promise<DarksiteResult> {
  const supplied = o.supplied ?? [];
  const requests = darksiteRequests(o);
  const res =
    o.resolution ??
    (await resolveDarksite(exec, index, {
      requests,
      supplied,
      ...(o.resolve ? { resolve: o.resolve } : {}),
    }));
  assertResolved(o.profile, res, supplied);
  // The closure holds the supplied packages themselves: they come from the user, not the mirror.
  const remote = remotePackages(res, supplied);
  const locals = await Promise.all(o.localDebs.map((d) => debFields(exec, d)));
  const signing = o.signingKey ?? (await ensureSigningKey(exec));
  const key = darksiteKey({ suite: o.suite, remote, locals, supplied, signer: signing.fingerprint });
  const dir = cacheDir('darksite', darksiteDirName(o.suite, o.profile, key));
  const base = {
    dir,
    key,
    packages: res.packages.length + locals.length,
    bytes: res.totals.bytes,
    resolution: { warnings: res.warnings, totals: res.totals },
    supplied: supplied.map((d) => ({ name: d.name, version: d.version, arch: d.arch, file: d.path })),
    signer: signing.fingerprint,
    backports: res.backports,
  };
  if (existsSync(join(dir, darksiteMarker(o.suite)))) {
    log.info(`darksite: cached repository ${key} (${base.packages} packages)`);
    return { ...base, fetchSeconds: 0, cached: true };
  }
  const t0 = Date.now();
  let last = 0;
  const paths = await fetchDebs(o.mirror, remote, {
    concurrency: o.concurrency ?? FETCH_CONCURRENCY,
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
    ...remote.map((p) => ({
      name: p.name,
      version: p.version,
      arch: p.arch,
      path: paths.get(p.name) ?? '',
    })),
    ...supplied.map(({ name, version, arch, path }) => ({ name, version, arch, path })),
    ...locals,
  ];
  await writeRepo(exec, log, { dir, suite: o.suite, debs, key: signing });
  // The gate: apt itself, on an empty system seeing only this repository, must install the set,
  // the user's own packages included.
  const names = [...new Set(requests.map((p) => p.name))];
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
