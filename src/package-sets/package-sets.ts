import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT, KldloadError } from '../core/errors.ts';

/** Debian package name rules (policy 5.6.1), optionally pinned `name=version`. */
const NAME = /^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$/;

export interface PackageEntry {
  name: string;
  /** Where the name came from, for error messages: file:line. */
  from: string;
  /** `name/backports`: the darksite takes it (and the dependencies that need it) from <suite>-backports. */
  pin?: 'backports';
}

const BACKPORTS = '/backports';
const ENTRY_RULE =
  'a Debian package name (lowercase a-z 0-9 + - .), optionally name=version or name/backports';

/** One word of a package set (`name`, `name=version`, `name/backports`), or undefined if invalid. */
export function parseEntry(word: string, from: string): PackageEntry | undefined {
  const pinned = word.endsWith(BACKPORTS);
  const name = pinned ? word.slice(0, -BACKPORTS.length) : word;
  if (!NAME.test(name) || (pinned && name.includes('='))) return undefined;
  return pinned ? { name, from, pin: 'backports' } : { name, from };
}

/** How an entry is written in a set file or --packages (the inverse of parseEntry). */
export function entryText(p: PackageEntry): string {
  return p.pin ? `${p.name}/${p.pin}` : p.name;
}

/** One entry per name, first mention kept; a backports pin anywhere pins the name. */
export function mergeEntries(list: readonly PackageEntry[]): PackageEntry[] {
  const out = new Map<string, PackageEntry>();
  for (const p of list) {
    const had = out.get(p.name);
    if (!had) out.set(p.name, p);
    else if (p.pin && !had.pin) out.set(p.name, { ...had, pin: p.pin, from: p.from });
  }
  return [...out.values()];
}

/** The repository's profiles/ folder, both from source (src/package-sets) and from the bundle (dist/). */
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
      for (const word of line.split(/\s+/)) {
        const e = parseEntry(word, where);
        if (!e) throw new KldloadError(`${where}: '${word}' is not ${ENTRY_RULE}`, EXIT.badInput);
        out.push(e);
      }
    });
  return out;
}

export function profilePackages(profile: string, extra: string[] = []): PackageEntry[] {
  const list = readPackageSet(join(profilesDir(), `${profile}.list`));
  for (const word of extra) {
    const e = parseEntry(word, '--packages');
    if (!e) throw new KldloadError(`--packages: '${word}' is not ${ENTRY_RULE}`, EXIT.badInput);
    list.push(e);
  }
  return mergeEntries(list);
}
