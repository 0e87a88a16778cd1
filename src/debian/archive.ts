import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DEBIAN_KEYRING } from '../core/debian.ts';
import { KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { cacheDir, sha256 } from '../core/paths.ts';
import { retry } from '../core/time.ts';
import { parseControl, releaseSums, type Stanza } from './control.ts';

/** The Debian mirror this host already uses (deb822 or one-line sources), else deb.debian.org. */
export function hostMirror(): string {
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (!existsSync(f)) continue;
    const text = readFileSync(f, 'utf8');
    const uris = [...text.matchAll(/^URIs:\s*(\S+)/gm), ...text.matchAll(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)/gm)]
      .map((m) => m[1] ?? '')
      .filter((u) => /\/debian\/?$/.test(u));
    if (uris[0]) return uris[0].replace(/\/$/, '');
  }
  return 'http://deb.debian.org/debian';
}

export interface SuiteIndex {
  mirror: string;
  suite: string;
  /** Release fields (Codename, Version, Date…) after signature verification. */
  release: Stanza;
  packages: Stanza[];
}

function fetchBytes(url: string, attempts = 3): Promise<Uint8Array> {
  return retry(
    async () => {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    },
    {
      attempts,
      delayMs: (i) => 1000 * (i + 1),
      giveUp: (last) => new KldloadError(`cannot fetch ${url} after ${attempts} attempts: ${String(last)}`),
    },
  );
}

/**
 * Fetches the suite's InRelease, verifies it with gpgv against debian-archive-keyring, then fetches
 * each component's Packages.gz and checks it against the SHA256 the signed Release lists.
 */
export async function loadSuiteIndex(
  exec: Executor,
  mirror: string,
  suite: string,
  components = ['main', 'contrib'],
  arch = 'amd64',
): Promise<SuiteIndex> {
  const dir = cacheDir('index', sha256(`${mirror} ${suite}`).slice(0, 12));
  mkdirSync(dir, { recursive: true });
  const inrelease = join(dir, 'InRelease');
  writeFileSync(inrelease, await fetchBytes(`${mirror}/dists/${suite}/InRelease`));
  const verified = join(dir, 'Release.verified');
  await exec.run(['gpgv', '--keyring', DEBIAN_KEYRING, '--output', verified, inrelease]).catch((e) => {
    throw new KldloadError(`signature check of ${mirror}/dists/${suite}/InRelease failed: ${String(e)}`);
  });
  const release = parseControl(readFileSync(verified, 'utf8'))[0] ?? new Map();
  const sums = releaseSums(release);
  const packages: Stanza[] = [];
  for (const comp of components) {
    // Suites list different encodings (trixie: .gz; trixie-backports: .xz and plain only).
    const base = `${comp}/binary-${arch}/Packages`;
    const ext = ['.gz', '.xz', ''].find((e) => sums.has(`${base}${e}`));
    if (ext === undefined) throw new KldloadError(`${suite} Release does not list ${base}(.gz|.xz)`);
    const rel = `${base}${ext}`;
    const want = sums.get(rel) as string;
    const cached = join(dir, `${want}${ext}`);
    if (!existsSync(cached)) {
      const data = await fetchBytes(`${mirror}/dists/${suite}/${rel}`);
      if (sha256(data) !== want) throw new KldloadError(`${rel}: SHA256 mismatch against the signed Release`);
      writeFileSync(`${cached}.tmp`, data);
      renameSync(`${cached}.tmp`, cached);
    }
    const text =
      ext === '.gz'
        ? gunzipSync(readFileSync(cached)).toString('utf8')
        : ext === '.xz'
          ? (await exec.run(['xz', '-dc', cached])).stdout
          : readFileSync(cached, 'utf8');
    packages.push(...parseControl(text));
  }
  return { mirror, suite, release, packages };
}

/** Highest-versioned stanza per package name (a suite normally has exactly one). */
export function byName(index: SuiteIndex): Map<string, Stanza> {
  const m = new Map<string, Stanza>();
  for (const s of index.packages) {
    const n = s.get('Package');
    if (n && !m.has(n)) m.set(n, s);
  }
  return m;
}
