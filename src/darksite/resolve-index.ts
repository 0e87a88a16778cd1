/**
 * The resolver's index of a Packages file (resolve.ts): candidates by name, highest version first,
 * the virtual names they Provide, and each candidate's relations parsed once.
 */
import type { SuiteIndex } from '../debian/archive.ts';
import { parseRelations, type Relation, type Stanza } from '../debian/control.ts';
import { compareVersions } from './version.ts';

export const PRIORITY_RANK: Record<string, number> = {
  required: 0,
  important: 1,
  standard: 2,
  optional: 3,
  extra: 4,
};

export interface Candidate {
  name: string;
  version: string;
  arch: string;
  multiArch: string;
  priority: string;
  essential: boolean;
  filename: string;
  sha256: string;
  size: number;
  stanza: Stanza;
}

export interface Provided {
  pkg: Candidate;
  version?: string;
}

/** Lookup structures built once per Packages index. */
export interface ResolverIndex {
  arch: string;
  /** Name → candidates of that name, highest version first. */
  packages: Map<string, Candidate[]>;
  /** Virtual name → packages that Provide it (with the provided version, if versioned). */
  provides: Map<string, Provided[]>;
}

export function buildIndex(stanzas: readonly Stanza[], arch = 'amd64'): ResolverIndex {
  const packages = new Map<string, Candidate[]>();
  const provides = new Map<string, Provided[]>();
  for (const s of stanzas) {
    const name = s.get('Package');
    const version = s.get('Version');
    const a = s.get('Architecture') ?? 'all';
    if (!name || !version || (a !== arch && a !== 'all')) continue;
    const c: Candidate = {
      name,
      version,
      arch: a,
      multiArch: s.get('Multi-Arch') ?? 'no',
      priority: s.get('Priority') ?? 'optional',
      essential: s.get('Essential') === 'yes',
      filename: s.get('Filename') ?? '',
      sha256: s.get('SHA256') ?? '',
      size: Number(s.get('Size') ?? 0),
      stanza: s,
    };
    const list = packages.get(name);
    if (list) list.push(c);
    else packages.set(name, [c]);
    if (s.has('Provides')) {
      for (const { name: v, version: pv } of providesOf(s)) {
        const p: Provided = pv ? { pkg: c, version: pv } : { pkg: c };
        const l = provides.get(v);
        if (l) l.push(p);
        else provides.set(v, [p]);
      }
    }
  }
  for (const list of packages.values())
    if (list.length > 1) list.sort((x, y) => compareVersions(y.version, x.version));
  return { arch, packages, provides };
}

export interface Relations {
  preDepends: Relation[][];
  depends: Relation[][];
  recommends: Relation[][];
  /** Conflicts and Breaks, each tagged with its field. */
  negative: { field: string; r: Relation }[];
  /** Names this package provides, with the provided version when versioned. */
  provides: { name: string; version?: string }[];
}

function providesOf(s: Stanza): { name: string; version?: string }[] {
  return parseRelations(s.get('Provides'))
    .flat()
    .map((r) => (r.op === '=' && r.version ? { name: r.name, version: r.version } : { name: r.name }));
}

const relCache = new WeakMap<Candidate, Relations>();

export function relationsOf(c: Candidate): Relations {
  let r = relCache.get(c);
  if (!r) {
    const s = c.stanza;
    r = {
      preDepends: parseRelations(s.get('Pre-Depends')),
      depends: parseRelations(s.get('Depends')),
      recommends: parseRelations(s.get('Recommends')),
      negative: [
        ...parseRelations(s.get('Conflicts'))
          .flat()
          .map((x) => ({ field: 'Conflicts', r: x })),
        ...parseRelations(s.get('Breaks'))
          .flat()
          .map((x) => ({ field: 'Breaks', r: x })),
      ],
      provides: providesOf(s),
    };
    relCache.set(c, r);
  }
  return r;
}

export function formatRelation(r: Relation): string {
  return `${r.name}${r.arch ? `:${r.arch}` : ''}${r.op ? ` (${r.op} ${r.version})` : ''}`;
}

export function formatGroup(g: Relation[]): string {
  return g.map(formatRelation).join(' | ');
}

const indexCache = new WeakMap<SuiteIndex, ResolverIndex>();

/** The resolver index of a loaded suite, built once per SuiteIndex object. */
export function resolverIndex(index: SuiteIndex, arch = 'amd64'): ResolverIndex {
  let r = indexCache.get(index);
  if (!r || r.arch !== arch) {
    r = buildIndex(index.packages, arch);
    indexCache.set(index, r);
  }
  return r;
}
