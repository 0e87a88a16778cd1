/**
 * The backports pin: a package-set entry `name/backports` takes that package from
 * <suite>-backports, and with it only the dependencies that need it — a dependency the suite's
 * own version satisfies stays the suite's (apt does the same for `apt-get install name/<suite>-backports`).
 *
 * The result is a set of Packages stanzas with exactly one origin per name (the suite's, or
 * backports' for the chosen names) that the ordinary resolver then closes over.
 */
import { parseRelations, type Relation, type Stanza } from '../debian/control.ts';
import type { Request, ResolveError } from './resolve.ts';
import { buildIndex, type Candidate, formatRelation, type ResolverIndex } from './resolve-index.ts';
import { satisfies } from './version.ts';

export interface BackportsChoice {
  /** Stanzas for the resolver: the suite's, with chosen names replaced by their backports version. */
  stanzas: Stanza[];
  /** Name → why it comes from backports (`server.list:4`, `Depends of foo (libfoo (>= 2))`). */
  chosen: Map<string, string>;
  errors: ResolveError[];
}

const versionOk = (v: string | undefined, r: Relation): boolean =>
  !r.op || (v !== undefined && satisfies(v, r.op, r.version));

/** The first package of `index` (real, then providers) whose version satisfies r. */
function canSatisfy(index: ResolverIndex, r: Relation): Candidate | undefined {
  const ok = (v: string | undefined) => versionOk(v, r);
  for (const c of index.packages.get(r.name) ?? []) if (ok(c.version)) return c;
  for (const p of index.provides.get(r.name) ?? []) if (ok(p.version)) return p.pkg;
  return undefined;
}

export function pinBackports(
  main: { stanzas: readonly Stanza[]; index: ResolverIndex },
  backports: readonly Stanza[],
  pins: readonly Request[],
  suite: string,
  arch = 'amd64',
): BackportsChoice {
  const bpo = buildIndex(backports, arch);
  const chosen = new Map<string, string>();
  const picked = new Map<string, Candidate>();
  const errors: ResolveError[] = [];
  const queue: Candidate[] = [];
  const choose = (c: Candidate, why: string) => {
    if (picked.has(c.name)) return;
    picked.set(c.name, c);
    chosen.set(c.name, why);
    queue.push(c);
  };
  for (const p of pins) {
    const c = bpo.packages.get(p.name)?.[0];
    if (!c) {
      const inSuite = main.index.packages.get(p.name)?.[0];
      errors.push({
        name: p.name,
        chain: [p.from],
        message: `${p.from}: ${p.name}/backports: ${p.name} is not in ${suite}-backports${inSuite ? ` (${suite} has ${inSuite.version}: drop /backports)` : ''}`,
      });
      continue;
    }
    choose(c, p.from);
  }
  // Dependencies of what comes from backports: the suite's version where it satisfies the
  // relation, backports' where only that one does.
  for (let i = 0; i < queue.length; i++) {
    const c = queue[i] as Candidate;
    const fields: [string, string | undefined][] = [
      ['Pre-Depends', c.stanza.get('Pre-Depends')],
      ['Depends', c.stanza.get('Depends')],
    ];
    for (const [field, text] of fields) {
      for (const group of parseRelations(text)) {
        const viaPicked = group.some((r) => {
          const p = picked.get(r.name);
          return p !== undefined && versionOk(p.version, r);
        });
        if (viaPicked) continue;
        if (group.some((r) => !picked.has(r.name) && canSatisfy(main.index, r))) continue;
        for (const r of group) {
          const b = canSatisfy(bpo, r);
          if (b) {
            choose(b, `${field} of ${c.name} (${formatRelation(r)})`);
            break;
          }
        }
        // Nothing fits: the resolver reports it with the whole chain.
      }
    }
  }
  const stanzas = [
    ...main.stanzas.filter((s) => !picked.has(s.get('Package') ?? '')),
    ...[...picked.values()].map((c) => c.stanza),
  ];
  return { stanzas, chosen, errors };
}
