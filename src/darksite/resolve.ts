/**
 * Dependency closure for the darksite (the offline APT mirror on the ISO): which .debs must be on
 * it so that apt, offline, can install a profile's packages plus Priority required/important.
 *
 * This is not apt's solver; it is a deterministic, explainable closure that follows the same
 * rules where they matter for a single-suite, single-architecture mirror:
 *  - Pre-Depends and Depends always, Recommends when asked (a missing Recommends is a warning);
 *  - an or-group takes an alternative already satisfied by the selection if there is one, else the
 *    first satisfiable alternative in order, a real package before providers of the same name;
 *    candidates that would conflict with the selection are passed over when another one fits;
 *  - groups with a real choice are decided only after all choice-free dependencies are in, so
 *    "already selected" sees as much of the closure as possible (and the order of requests
 *    matters less);
 *  - virtual packages through Provides, versioned Provides for versioned dependencies;
 *  - Multi-Arch: `foo:any` needs Multi-Arch: allowed (or foreign, as dpkg accepts), `foo:<arch>`
 *    needs that architecture (arch all counts as native);
 *  - Conflicts/Breaks between chosen packages are reported as warnings.
 *
 * This file is over 300 lines because resolve() is one closure over the selection state (selected,
 * provides, conflicts, queue); the index it reads is resolve-index.ts.
 */

import { KldloadError } from '../core/errors.ts';
import type { SuiteIndex } from '../debian/archive.ts';
import type { Relation } from '../debian/control.ts';
import { profilePackages } from '../package-sets/package-sets.ts';
import {
  type Candidate,
  formatGroup,
  formatRelation,
  PRIORITY_RANK,
  type Provided,
  type ResolverIndex,
  relationsOf,
  resolverIndex,
} from './resolve-index.ts';
import { compareVersions, satisfies } from './version.ts';

export const DEFAULT_PRIORITIES = ['required', 'important'] as const;

/** A requested package; `from` is where the name came from (profiles/server.list:12, --packages). */
export interface Request {
  name: string;
  from: string;
  /** `name/backports` in a package set: see backports.ts (the resolver itself ignores it). */
  pin?: 'backports';
}

export interface ResolveOptions {
  /** Follow Recommends too (apt's default; mmdebstrap and kldload builds do not). */
  recommends?: boolean;
  /** Include every package of these priorities. Default required + important. */
  includePriorities?: readonly string[];
  /** Include Essential: yes packages (nobody declares dependencies on them). Default true. */
  essential?: boolean;
  /** Names (real or virtual) satisfied outside the index, e.g. a locally built .deb's Provides. */
  assumeProvided?: readonly string[];
}

export interface ResolvedPackage {
  name: string;
  version: string;
  arch: string;
  filename: string;
  sha256: string;
  size: number;
  /** Who pulled it in: `server.list:12`, `Priority: important`, `Depends of openssh-server`… */
  reason: string;
}

export interface ResolveError {
  /** The name that could not be satisfied (first alternative of the group). */
  name: string;
  message: string;
  /** From the package that needed it up to the request that started it, e.g. [bar, foo, server.list:3]. */
  chain: string[];
}

/** An or-group (or a virtual name with several providers) where the resolver had to pick. */
export interface Choice {
  group: string;
  chosen: string;
  for: string;
}

export interface ResolveResult {
  packages: ResolvedPackage[];
  errors: ResolveError[];
  warnings: string[];
  choices: Choice[];
}

interface Selected {
  c: Candidate;
  reason: string;
  /** Name of the package whose relation pulled this one in; undefined for roots. */
  parent?: string;
  /** Provenance of a root (file:line, Priority: …). */
  root?: string;
}

/** What a relation can be satisfied by, best first. */
interface Option {
  c: Candidate;
  via?: string;
}

export function resolve(
  index: ResolverIndex,
  requests: readonly Request[],
  opts: ResolveOptions = {},
): ResolveResult {
  const native = index.arch;
  const priorities = new Set(opts.includePriorities ?? DEFAULT_PRIORITIES);
  const assumed = new Set(opts.assumeProvided ?? []);
  const selected = new Map<string, Selected>();
  /** Virtual name → selected packages providing it. */
  const selProvides = new Map<string, Provided[]>();
  /** Name (real or virtual) → Conflicts/Breaks of selected packages against it. */
  const selNegative = new Map<string, { owner: Candidate; r: Relation }[]>();
  const errors: ResolveError[] = [];
  const warnings: string[] = [];
  const choices: Choice[] = [];
  const queue: Candidate[] = [];
  let head = 0;
  const pendingChoices: { owner: Candidate; group: Relation[]; field: string }[] = [];
  const pendingRecommends: { owner: Candidate; group: Relation[] }[] = [];

  const archOk = (c: Candidate, r: Relation): boolean => {
    if (!r.arch) return true; // only native and all are in the index
    if (c.multiArch === 'foreign') return true; // dpkg: foreign satisfies any qualifier
    if (r.arch === 'any') return c.multiArch === 'allowed';
    const want = r.arch === 'native' ? native : r.arch;
    return (c.arch === 'all' ? native : c.arch) === want;
  };
  const versionOk = (v: string | undefined, r: Relation): boolean =>
    !r.op || (v !== undefined && satisfies(v, r.op, r.version));

  /** The selected package (other than `except`) that satisfies r, if any. */
  const selectedMatch = (r: Relation, except?: Candidate): Candidate | undefined => {
    const s = selected.get(r.name);
    if (s && s.c !== except && archOk(s.c, r) && versionOk(s.c.version, r)) return s.c;
    for (const p of selProvides.get(r.name) ?? [])
      if (p.pkg !== except && archOk(p.pkg, r) && versionOk(p.version, r)) return p.pkg;
    return undefined;
  };
  /** Whether the selection, or something supplied outside the index, satisfies r. */
  const satisfied = (r: Relation): boolean => assumed.has(r.name) || selectedMatch(r) !== undefined;

  /** Packages that could satisfy r: the real package first, then providers (selected, priority, name). */
  const options = (r: Relation): Option[] => {
    const out: Option[] = [];
    const taken = (c: Candidate): boolean => {
      const s = selected.get(c.name);
      return s !== undefined && s.c !== c;
    };
    for (const c of index.packages.get(r.name) ?? [])
      if (!taken(c) && archOk(c, r) && versionOk(c.version, r)) {
        out.push({ c });
        break; // highest satisfying version only
      }
    const provs = (index.provides.get(r.name) ?? []).filter(
      (p) => !taken(p.pkg) && archOk(p.pkg, r) && versionOk(p.version, r),
    );
    provs.sort(
      (x, y) =>
        Number(selected.has(y.pkg.name)) - Number(selected.has(x.pkg.name)) ||
        (PRIORITY_RANK[x.pkg.priority] ?? 5) - (PRIORITY_RANK[y.pkg.priority] ?? 5) ||
        (x.pkg.name < y.pkg.name ? -1 : x.pkg.name > y.pkg.name ? 1 : 0) ||
        compareVersions(y.pkg.version, x.pkg.version),
    );
    const seen = new Set<Candidate>();
    for (const p of provs) {
      if (seen.has(p.pkg) || out.some((o) => o.c === p.pkg)) continue;
      seen.add(p.pkg);
      out.push({ c: p.pkg, via: r.name });
    }
    return out;
  };

  /** Whether choosing c would clash with a Conflicts/Breaks in either direction. */
  const clashes = (c: Candidate): boolean => {
    const rel = relationsOf(c);
    for (const { r } of rel.negative) if (selectedMatch(r, c)) return true;
    for (const { owner, r } of selNegative.get(c.name) ?? [])
      if (owner !== c && versionOk(c.version, r)) return true;
    for (const p of rel.provides)
      for (const { owner, r } of selNegative.get(p.name) ?? [])
        if (owner !== c && versionOk(p.version, r)) return true;
    return false;
  };

  const select = (c: Candidate, reason: string, parent?: string, root?: string): void => {
    selected.set(c.name, { c, reason, ...(parent ? { parent } : {}), ...(root ? { root } : {}) });
    const rel = relationsOf(c);
    for (const { name: v, version: pv } of rel.provides) {
      const p: Provided = pv ? { pkg: c, version: pv } : { pkg: c };
      const l = selProvides.get(v);
      if (l) l.push(p);
      else selProvides.set(v, [p]);
    }
    for (const { r } of rel.negative) {
      const l = selNegative.get(r.name);
      if (l) l.push({ owner: c, r });
      else selNegative.set(r.name, [{ owner: c, r }]);
    }
    queue.push(c);
  };

  const chainOf = (name: string): string[] => {
    const out: string[] = [];
    let cur: string | undefined = name;
    while (cur) {
      const s = selected.get(cur);
      out.push(cur);
      if (!s) break;
      if (!s.parent) {
        if (s.root) out.push(s.root);
        break;
      }
      cur = s.parent;
    }
    return out;
  };

  /** Why no alternative of the group fits: unknown name, or versions/architectures on offer. */
  const explain = (group: Relation[]): string =>
    group
      .map((r) => {
        const real = index.packages.get(r.name) ?? [];
        const provs = index.provides.get(r.name) ?? [];
        if (!real.length && !provs.length) return `'${r.name}' is not in the index`;
        const have = [
          ...real.map(
            (c) =>
              `${c.name} ${c.version}${c.arch !== 'all' ? ` ${c.arch}` : ''} (Multi-Arch: ${c.multiArch})`,
          ),
          ...provs.map((p) => `${p.pkg.name} provides ${r.name}${p.version ? ` = ${p.version}` : ''}`),
        ];
        const sel = selected.get(r.name);
        const taken =
          sel && !versionOk(sel.c.version, r) ? `; ${sel.c.name} ${sel.c.version} is already chosen` : '';
        return `'${formatRelation(r)}' has no match among ${have.slice(0, 4).join(', ')}${have.length > 4 ? ', …' : ''}${taken}`;
      })
      .join('; ');

  /** Tries to satisfy one group; returns false when nothing fits. */
  const satisfy = (owner: Candidate, group: Relation[], field: string, forceChoice: boolean): boolean => {
    for (const r of group) if (satisfied(r)) return true;
    const opts: Option[] = [];
    for (const r of group) for (const o of options(r)) if (!opts.some((x) => x.c === o.c)) opts.push(o);
    if (!opts.length) return false;
    if (opts.length > 1 && !forceChoice) {
      pendingChoices.push({ owner, group, field });
      return true;
    }
    const pick = opts.find((o) => !clashes(o.c)) ?? (opts[0] as Option);
    if (group.length > 1 || pick.via)
      choices.push({ group: formatGroup(group), chosen: pick.c.name, for: owner.name });
    select(pick.c, `${field} of ${owner.name}${pick.via ? ` via ${pick.via}` : ''}`, owner.name);
    return true;
  };

  const fail = (owner: Candidate, group: Relation[], field: string): void => {
    const chain = chainOf(owner.name);
    const name = group[0]?.name ?? '';
    errors.push({
      name,
      chain,
      message: `${field} '${formatGroup(group)}' of ${chain.join(' ← ')} cannot be satisfied: ${explain(group)}`,
    });
  };

  const drain = (): void => {
    for (; head < queue.length; head++) {
      const c = queue[head] as Candidate;
      const rel = relationsOf(c);
      for (const g of rel.preDepends) if (!satisfy(c, g, 'Pre-Depends', false)) fail(c, g, 'Pre-Depends');
      for (const g of rel.depends) if (!satisfy(c, g, 'Depends', false)) fail(c, g, 'Depends');
      if (opts.recommends) for (const g of rel.recommends) pendingRecommends.push({ owner: c, group: g });
    }
  };

  // Roots: requests in order, then priority and Essential packages.
  for (const req of requests) {
    const eq = req.name.indexOf('=');
    const r: Relation =
      eq > 0 ? { name: req.name.slice(0, eq), op: '=', version: req.name.slice(eq + 1) } : { name: req.name };
    // An explicit request for a real package wants that package, not something that Provides it.
    const sel = selected.get(r.name);
    if (sel ? versionOk(sel.c.version, r) : !index.packages.has(r.name) && satisfied(r)) continue;
    const o = options(r);
    const pick = o.find((x) => !clashes(x.c)) ?? o[0];
    if (!pick) {
      const known = index.packages.has(r.name) || index.provides.has(r.name);
      errors.push({
        name: r.name,
        chain: [req.from],
        message: known
          ? `${req.from}: ${explain([r])}`
          : `${req.from}: unknown package '${r.name}' (not in the index, not provided by any package)`,
      });
      continue;
    }
    if (pick.via) choices.push({ group: req.name, chosen: pick.c.name, for: req.from });
    select(pick.c, `${req.from}${pick.via ? ` via ${pick.via}` : ''}`, undefined, req.from);
  }
  const wantEssential = opts.essential ?? true;
  const roots: Candidate[] = [];
  for (const list of index.packages.values()) {
    const c = list[0];
    if (c && (priorities.has(c.priority) || (wantEssential && c.essential))) roots.push(c);
  }
  roots.sort((x, y) => (x.name < y.name ? -1 : 1));
  for (const c of roots) {
    if (selected.has(c.name)) continue;
    const why = c.essential && wantEssential ? 'Essential: yes' : `Priority: ${c.priority}`;
    select(c, why, undefined, why);
  }

  // Choice-free dependencies first, then one choice at a time, then Recommends (same again).
  for (;;) {
    drain();
    const choice = pendingChoices.shift();
    if (choice) {
      if (!satisfy(choice.owner, choice.group, choice.field, true))
        fail(choice.owner, choice.group, choice.field);
      continue;
    }
    const rec = pendingRecommends.shift();
    if (!rec) break;
    if (!satisfy(rec.owner, rec.group, 'Recommends', true))
      warnings.push(
        `Recommends '${formatGroup(rec.group)}' of ${chainOf(rec.owner.name).join(' ← ')} skipped: ${explain(rec.group)}`,
      );
  }

  // Conflicts/Breaks among the chosen packages.
  for (const [, s] of [...selected].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const { field, r } of relationsOf(s.c).negative) {
      const hit = selectedMatch(r, s.c);
      if (hit)
        warnings.push(
          `${s.c.name} ${s.c.version} ${field}: ${formatRelation(r)}, but ${hit.name} ${hit.version} is selected (${selected.get(hit.name)?.reason ?? ''})`,
        );
    }
  }

  const packages = [...selected.values()]
    .map(
      ({ c, reason }): ResolvedPackage => ({
        name: c.name,
        version: c.version,
        arch: c.arch,
        filename: c.filename,
        sha256: c.sha256,
        size: c.size,
        reason,
      }),
    )
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { packages, errors, warnings, choices };
}

export interface ProfileResolution extends ResolveResult {
  totals: { count: number; bytes: number };
}

/**
 * What the ZFS-on-root build supplies itself: the prebuilt `zfs-modules-<kabi>` .deb provides
 * zfs-modules, so zfs-initramfs / zfsutils-linux never pull zfs-dkms and a compiler onto the mirror.
 */
export const LOCAL_PROVIDES = ['zfs-modules'] as const;

/** The closure of explicit requests with count and download size. */
export function resolveSet(
  index: ResolverIndex,
  requests: readonly Request[],
  opts: ResolveOptions = {},
): ProfileResolution {
  const result = resolve(index, requests, { assumeProvided: LOCAL_PROVIDES, ...opts });
  return {
    ...result,
    totals: { count: result.packages.length, bytes: result.packages.reduce((n, p) => n + p.size, 0) },
  };
}

/** A profile's closure (profiles/<profile>.list plus `extra` names) with count and download size. */
export function resolveProfile(
  index: SuiteIndex | ResolverIndex,
  profile: string,
  extra: string[] = [],
  opts: ResolveOptions = {},
): ProfileResolution {
  const ri = 'provides' in index ? index : resolverIndex(index);
  const requests = profilePackages(profile, extra);
  if (!requests.length) throw new KldloadError(`profile ${profile} lists no packages`);
  return resolveSet(ri, requests, opts);
}
