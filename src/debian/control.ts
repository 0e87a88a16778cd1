/**
 * Parser for Debian control-file syntax (deb822): Packages indexes, Release files, .deb control.
 * Stanzas are separated by blank lines; continuation lines start with a space or tab.
 */
export type Stanza = Map<string, string>;

export function parseControl(text: string): Stanza[] {
  const out: Stanza[] = [];
  let cur: Stanza = new Map();
  let lastKey = '';
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') {
      if (cur.size) out.push(cur);
      cur = new Map();
      lastKey = '';
      continue;
    }
    if (line.startsWith('#')) continue;
    if (line.startsWith(' ') || line.startsWith('\t')) {
      if (lastKey) cur.set(lastKey, `${cur.get(lastKey) ?? ''}\n${line.slice(1)}`);
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    lastKey = line.slice(0, colon);
    cur.set(lastKey, line.slice(colon + 1).trim());
  }
  if (cur.size) out.push(cur);
  return out;
}

/** One `Depends:`-style relation: alternatives of name with an optional version constraint. */
export interface Relation {
  name: string;
  arch?: string;
  op?: '<<' | '<=' | '=' | '>=' | '>>';
  version?: string;
}

export function parseRelations(field: string | undefined): Relation[][] {
  if (!field) return [];
  return field
    .split(',')
    .map((group) => group.trim())
    .filter(Boolean)
    .map((group) =>
      group.split('|').map((alt) => {
        const m =
          /^([a-z0-9][a-z0-9+.-]*)(?::([a-z0-9-]+))?\s*(?:\(\s*(<<|<=|=|>=|>>|<|>)\s*([^)\s]+)\s*\))?/.exec(
            alt.trim(),
          );
        if (!m?.[1]) return { name: alt.trim() };
        // '<' and '>' are obsolete spellings of '<=' and '>='.
        const op = m[3] === '<' ? '<=' : m[3] === '>' ? '>=' : (m[3] as Relation['op']);
        return { name: m[1], ...(m[2] ? { arch: m[2] } : {}), ...(op ? { op, version: m[4] } : {}) };
      }),
    );
}

/**
 * The checksums a Release file lists (its SHA256 field by default): path below dists/<suite>/ →
 * sum. Only well-formed lines count (sum, size, path); anything else lists nothing.
 */
export function releaseSums(release: Stanza | undefined, field = 'SHA256'): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of (release?.get(field) ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    const [sum, , name] = f;
    if (f.length === 3 && sum && name) sums.set(name, sum);
  }
  return sums;
}
