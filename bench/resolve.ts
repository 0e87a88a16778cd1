/**
 * Darksite resolver timings against the real suite index:
 *   node --import tsx bench/resolve.ts [suite] [mirror]
 * Prints one JSON line per profile. `loadMs` is loadSuiteIndex (InRelease fetch + gpgv + the cached,
 * hash-checked Packages.gz); `parseMs` is gunzip + parseControl alone, re-run on the same files;
 * `indexMs` builds the resolver maps (names, Provides); `resolveMs` is the first (cold) closure of
 * the profile, `warmMs` the median of 5 more runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PROFILES } from '../src/core/debian.ts';
import { SystemExecutor } from '../src/core/exec.ts';
import { cacheDir, sha256 } from '../src/core/paths.ts';
import { type ResolveOptions, resolveProfile } from '../src/darksite/resolve.ts';
import { buildIndex } from '../src/darksite/resolve-index.ts';
import { hostMirror, loadSuiteIndex } from '../src/debian/archive.ts';
import { parseControl } from '../src/debian/control.ts';

const suiteName = process.argv[2] ?? 'trixie';
const mirror = process.argv[3] ?? hostMirror();

function time<T>(fn: () => T): [T, number] {
  const t = performance.now();
  const r = fn();
  return [r, Math.round((performance.now() - t) * 10) / 10];
}

let t = performance.now();
const suite = await loadSuiteIndex(new SystemExecutor(), mirror, suiteName);
const loadMs = Math.round(performance.now() - t);

// The same Packages.gz files loadSuiteIndex just read from its cache, parsed again on their own.
const dir = cacheDir('index', sha256(`${mirror} ${suiteName}`).slice(0, 12));
const gz = (suite.release.get('SHA256') ?? '')
  .split('\n')
  .map((l) => l.trim().split(/\s+/))
  .filter(([, , name]) => /^(main|contrib)\/binary-amd64\/Packages\.gz$/.test(name ?? ''))
  .map(([sum]) => readFileSync(join(dir, `${sum}.gz`)));
t = performance.now();
const texts = gz.map((b) => gunzipSync(b).toString('utf8'));
const gunzipMs = Math.round(performance.now() - t);
const [stanzas, parseOnlyMs] = time(() => texts.flatMap(parseControl));
const parseMs = Math.round(gunzipMs + parseOnlyMs);
const [index, indexMs] = time(() => buildIndex(suite.packages));

function run(profile: string, opts: ResolveOptions) {
  const [first, resolveMs] = time(() => resolveProfile(index, profile, [], opts));
  const warm = Array.from({ length: 5 }, () => time(() => resolveProfile(index, profile, [], opts))[1]).sort(
    (a, b) => a - b,
  );
  return {
    packages: first.totals.count,
    mb: Math.round(first.totals.bytes / 1e5) / 10,
    errors: first.errors.length,
    warnings: first.warnings.length,
    resolveMs,
    warmMs: warm[2],
  };
}

for (const profile of PROFILES) {
  const plain = run(profile, {});
  const withRecommends = run(profile, { recommends: true });
  console.log(
    JSON.stringify({
      suite: suiteName,
      profile,
      stanzas: stanzas.length,
      loadMs,
      parseMs,
      indexMs,
      ...plain,
      withRecommends,
    }),
  );
}
