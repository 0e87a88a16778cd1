import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, KldloadError } from '../core/errors.ts';

export const PROFILES = ['core', 'server', 'desktop'] as const;
export type Profile = (typeof PROFILES)[number];

/** Debian package name rules (policy 5.6.1), optionally pinned `name=version`. */
const NAME = /^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$/;

export interface PackageEntry {
  name: string;
  /** Where the name came from, for error messages: file:line. */
  from: string;
}

/** The repository's profiles/ folder, both from source (src/build) and from the bundle (dist/). */
export function profilesDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const c of [join(here, '../../profiles'), join(here, '../profiles'), join(here, 'profiles')]) {
    if (existsSync(join(c, 'core.list'))) return resolve(c);
  }
  throw new KldloadError('profiles/ folder not found next to kldload');
}

/** Reads a package set file: one or more names per line, `#` comments, `@include other.list`. */
export function readPackageSet(file: string, seen = new Set<string>()): PackageEntry[] {
  const abs = resolve(file);
  if (seen.has(abs)) throw new KldloadError(`${file}: include cycle`, EXIT.badInput);
  seen.add(abs);
  const out: PackageEntry[] = [];
  readFileSync(abs, 'utf8')
    .split('\n')
    .forEach((raw, i) => {
      const line = raw.replace(/#.*/, '').trim();
      if (!line) return;
      const where = `${basename(abs)}:${i + 1}`;
      const inc = /^@include\s+(\S+)$/.exec(line);
      if (inc?.[1]) {
        out.push(...readPackageSet(join(dirname(abs), inc[1]), seen));
        return;
      }
      for (const name of line.split(/\s+/)) {
        if (!NAME.test(name))
          throw new KldloadError(
            `${where}: '${name}' is not a valid Debian package name (lowercase a-z 0-9 + - .)`,
            EXIT.badInput,
          );
        out.push({ name, from: where });
      }
    });
  return out;
}

export function profilePackages(profile: string, extra: string[] = []): PackageEntry[] {
  const list = readPackageSet(join(profilesDir(), `${profile}.list`));
  for (const name of extra) {
    if (!NAME.test(name))
      throw new KldloadError(`--packages: '${name}' is not a valid Debian package name`, EXIT.badInput);
    list.push({ name, from: '--packages' });
  }
  const seen = new Set<string>();
  return list.filter((p) => {
    if (seen.has(p.name)) return false;
    seen.add(p.name);
    return true;
  });
}
