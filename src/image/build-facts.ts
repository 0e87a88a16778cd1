/**
 * The build plan's facts, gathered read-only: the verified suite index (and <suite>-backports when a
 * pin needs it), the signer's fingerprint and which layers the cache holds. Nothing here builds,
 * generates a key or needs root.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Executor } from '../core/exec.ts';
import { darksiteMarker, needsBackports } from '../darksite/darksite.ts';
import { existingSigningKey } from '../darksite/signing-key.ts';
import { loadSuiteIndex, type SuiteIndex } from '../debian/archive.ts';
import type { Stanza } from '../debian/control.ts';
import { LAYER_MARKER } from './rootfs.ts';
import type { BuildFacts, BuildSpec, CacheState } from './spec.ts';

/** The suite's index, and <suite>-backports' packages when the package set pins any. */
export async function loadIndexes(
  exec: Executor,
  spec: Pick<BuildSpec, 'mirror' | 'suite' | 'packageSet'>,
): Promise<{ index: SuiteIndex; backports?: Stanza[] }> {
  const index = await loadSuiteIndex(exec, spec.mirror, spec.suite);
  if (!needsBackports(spec.packageSet)) return { index };
  const b = await loadSuiteIndex(exec, spec.mirror, `${spec.suite}-backports`);
  return { index, backports: b.packages };
}

const dirs = (d: string): string[] =>
  existsSync(d)
    ? readdirSync(d, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => e.name)
    : [];
const files = (d: string, suffix: string): string[] =>
  existsSync(d) ? readdirSync(d).filter((n) => n.endsWith(suffix)) : [];

/**
 * The complete entries of the cache, with the markers the builders check (a half-built layer
 * left by a killed build does not count).
 */
export function scanCache(root: string, suite: string): CacheState {
  const entries = [
    ...files(join(root, 'zfs-modules'), '.deb').map((n) => `zfs-modules/${n}`),
    ...dirs(join(root, 'layers'))
      .filter((n) => existsSync(join(root, 'layers', n, LAYER_MARKER)))
      .map((n) => `layers/${n}`),
    ...dirs(join(root, 'darksite'))
      .filter(
        (n) => n.startsWith(`${suite}-`) && existsSync(join(root, 'darksite', n, darksiteMarker(suite))),
      )
      .map((n) => `darksite/${n}`),
    ...dirs(join(root, 'debs')).flatMap((d) =>
      files(join(root, 'debs', d), '.deb').map((n) => `debs/${n.slice(0, -'.deb'.length)}`),
    ),
  ];
  return { root, entries: entries.sort() };
}

/**
 * The signer: the user's key (already checked), else the build key if it exists. A build key the
 * caller cannot read (a root-owned cache) counts as not there, with a warning.
 */
export async function signerFingerprint(
  exec: Executor,
  supplied: string | undefined,
  warn: (m: string) => void,
): Promise<string | undefined> {
  if (supplied) return supplied;
  try {
    return await existingSigningKey(exec);
  } catch (e) {
    warn(
      `cannot read the build's signing key (${e instanceof Error ? e.message : String(e)}): planning as if none existed`,
    );
    return undefined;
  }
}

export async function gatherBuildFacts(
  exec: Executor,
  spec: BuildSpec,
  indexes: { index: SuiteIndex; backports?: Stanza[] },
  o: { cacheRoot: string; signer?: string; warn: (m: string) => void },
): Promise<BuildFacts> {
  const signer = await signerFingerprint(exec, o.signer, o.warn);
  return {
    index: indexes.index,
    ...(indexes.backports ? { backports: indexes.backports } : {}),
    ...(signer ? { signer } : {}),
    cache: scanCache(o.cacheRoot, spec.suite),
  };
}
