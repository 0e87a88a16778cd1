/**
 * The role model of the postinstall dispatcher (payload/target/postinstall/dispatch.sh), in TypeScript
 * for `kldload postinstall check|plan|new`. Every rule here mirrors a function of lib.sh; the unit tests
 * run both on the same fixtures and compare.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Capabilities the base install guarantees (KL_BASE_PROVIDES in lib.sh). */
export const BASE_PROVIDES: readonly string[] = ['base', 'systemd', 'zfs', 'ssh', 'apt'];

export interface MapEntry {
  prefix: string;
  selectors: string[];
  line: number;
}

/**
 * The hostname-prefix map used when roles/map does not exist (kl_default_role_map in lib.sh): its
 * selectors are the role library's names.
 */
export const DEFAULT_ROLE_MAP: readonly MapEntry[] = (
  [
    ['web-', 'web'],
    ['db-', 'postgres'],
    ['pg-', 'postgres'],
    ['mon-', 'monitoring'],
    ['cp-', 'k8s-node'],
    ['worker-', 'k8s-node'],
    ['k8s-', 'k8s-node'],
    ['ci-', 'ci-runner'],
    ['docker-', 'docker'],
    ['nfs-', 'nfs'],
    ['vpn-', 'vpn-gateway'],
    ['mail-', 'mail'],
    ['mx-', 'mail'],
    ['bastion-', 'bastion'],
    ['jump-', 'bastion'],
    ['xmpp-', 'xmpp'],
    ['dev-', 'workstation'],
  ] as const
).map(([prefix, selector], i) => ({ prefix, selectors: [selector], line: i + 1 }));

/** roles/NN-name.sh, as dispatch.sh accepts it. */
export const ROLE_FILE = /^([0-9]+)-([A-Za-z0-9][A-Za-z0-9_.-]*)\.sh$/;

export interface HeaderWord {
  word: string;
  /** 1-based line of the header line that holds the word. */
  line: number;
}

export interface Role {
  /** File name, e.g. 40-webserver.sh */
  file: string;
  path: string;
  number: number;
  /** 40-webserver.sh → webserver */
  name: string;
  requires: HeaderWord[];
  provides: HeaderWord[];
  shared: boolean;
  /** NN-verification.sh: always runs, last. */
  final: boolean;
  /** `# chosen: build`: chosen with kldload build --role; runs on every host under the built-in map. */
  chosen: boolean;
  text: string;
}

/**
 * The header is the leading block of comment and blank lines (role_meta in lib.sh). Returns the words of
 * every `# key: …` line, keyed by the lowercased key.
 */
export function parseHeader(text: string): Map<string, HeaderWord[]> {
  const out = new Map<string, HeaderWord[]>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? '').replace(/\r$/, '');
    if (raw.trim() === '') continue;
    if (!raw.startsWith('#')) break;
    const m = /^#\s*([A-Za-z-]+):(.*)$/.exec(raw);
    if (!m?.[1]) continue;
    const key = m[1].toLowerCase();
    const words = (m[2] ?? '').split(/\s+/).filter(Boolean);
    const list = out.get(key) ?? [];
    for (const word of words) list.push({ word, line: i + 1 });
    out.set(key, list);
  }
  return out;
}

/** sort -t- -k1,1n -k2 under LC_ALL=C, as dispatch.sh orders role files. */
export function compareRoleFiles(a: string, b: string): number {
  const na = Number.parseInt(a, 10);
  const nb = Number.parseInt(b, 10);
  if (na !== nb) return na - nb;
  const ra = a.slice(a.indexOf('-') + 1);
  const rb = b.slice(b.indexOf('-') + 1);
  if (ra !== rb) return ra < rb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function roleFromText(file: string, path: string, text: string): Role | undefined {
  const m = ROLE_FILE.exec(file);
  if (!m?.[1]) return undefined;
  const name = file.slice(file.indexOf('-') + 1, -'.sh'.length);
  const header = parseHeader(text);
  const sharedValue = (header.get('shared') ?? [])
    .map((w) => w.word)
    .join(' ')
    .toLowerCase();
  return {
    file,
    path,
    number: Number.parseInt(m[1], 10),
    name,
    requires: header.get('requires') ?? [],
    provides: header.get('provides') ?? [],
    shared: /^0[0-9]-/.test(file) || ['yes', 'true', '1'].includes(sharedValue),
    final: name === 'verification',
    chosen: (header.get('chosen') ?? []).map((w) => w.word).join(' ') === 'build',
    text,
  };
}

/** DIR/roles when it exists, else DIR itself (a roles folder given directly). */
export function rolesDirOf(dir: string): string {
  const sub = join(dir, 'roles');
  return existsSync(sub) && statSync(sub).isDirectory() ? sub : dir;
}

/** Role files of a roles folder in dispatcher order, and the .sh files the dispatcher ignores. */
export function readRoles(rolesDir: string): { roles: Role[]; ignored: string[] } {
  if (!existsSync(rolesDir)) return { roles: [], ignored: [] };
  const roles: Role[] = [];
  const ignored: string[] = [];
  for (const file of readdirSync(rolesDir).sort()) {
    if (!file.endsWith('.sh')) continue;
    const path = join(rolesDir, file);
    if (!statSync(path).isFile()) continue;
    const role = roleFromText(file, path, readFileSync(path, 'utf8'));
    if (role) roles.push(role);
    else ignored.push(file);
  }
  roles.sort((a, b) => compareRoleFiles(a.file, b.file));
  return { roles, ignored };
}

/** `PREFIX SELECTOR…` lines, `#` comments (kl_host_selectors in lib.sh). */
export function parseRoleMap(text: string): MapEntry[] {
  const out: MapEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    const fields = raw.replace(/#.*/, '').split(/\s+/).filter(Boolean);
    const [prefix, ...selectors] = fields;
    if (prefix) out.push({ prefix, selectors: selectors.length ? selectors : ['none'], line: i + 1 });
  });
  return out;
}

/** The first entry whose prefix the short hostname starts with (`*` matches any). */
export function matchHost(host: string, map: readonly MapEntry[]): MapEntry | undefined {
  const short = host.split('.')[0] ?? host;
  return map.find((e) => e.prefix === '*' || short.startsWith(e.prefix));
}

/** Selectors for a host: those of the matching map entry, or `all` when none matches. */
export function hostSelectors(host: string, map: readonly MapEntry[]): string[] {
  return matchHost(host, map)?.selectors ?? ['all'];
}

/** role_matches in lib.sh: SELECTOR picks NAME, SELECTOR-…, …-SELECTOR; `all` picks everything. */
export function roleMatches(name: string, selectors: readonly string[]): boolean {
  return selectors.some(
    (s) => s === 'all' || name === s || name.startsWith(`${s}-`) || name.endsWith(`-${s}`),
  );
}

/**
 * Shared roles, then the selected ones, then verification; each group in file order. With
 * `chosenRun` (the selectors come from the built-in map) roles chosen at build are selected too.
 */
export function planRoles(
  roles: readonly Role[],
  selectors: readonly string[],
  o: { chosenRun?: boolean } = {},
): { run: Role[]; unselected: Role[] } {
  const shared: Role[] = [];
  const chosen: Role[] = [];
  const final: Role[] = [];
  const unselected: Role[] = [];
  for (const r of roles) {
    if (r.final) final.push(r);
    else if (r.shared) shared.push(r);
    else if (roleMatches(r.name, selectors) || (o.chosenRun && r.chosen)) chosen.push(r);
    else unselected.push(r);
  }
  return { run: [...shared, ...chosen, ...final], unselected };
}

/** The map a roles folder uses: roles/map when present, else the built-in one. */
export function roleMapOf(rolesDir: string): { entries: MapEntry[]; file?: string } {
  const file = join(rolesDir, 'map');
  if (existsSync(file)) return { entries: parseRoleMap(readFileSync(file, 'utf8')), file };
  return { entries: [...DEFAULT_ROLE_MAP] };
}

export interface Unmet {
  role: Role;
  requirement: HeaderWord;
  /** Why: which roles provide it, and where they stand in this plan. */
  hint: string;
}

/** Requirements in a run list that no earlier role (nor the base system) provides. */
export function unmetRequirements(run: readonly Role[], all: readonly Role[], hostLabel: string): Unmet[] {
  const provided = new Set<string>(BASE_PROVIDES);
  const inPlan = new Set(run.map((r) => r.file));
  const out: Unmet[] = [];
  for (const role of run) {
    for (const req of role.requires) {
      if (provided.has(req.word)) continue;
      const providers = all.filter((r) => r.provides.some((p) => p.word === req.word));
      const hint = providers.length
        ? providers
            .map((p) =>
              inPlan.has(p.file)
                ? `${p.file} provides it but runs later`
                : `${p.file} provides it but is not selected for ${hostLabel}`,
            )
            .join('; ')
        : `no role provides it; the base system provides ${BASE_PROVIDES.join(' ')}`;
      out.push({ role, requirement: req, hint });
    }
    for (const p of role.provides) provided.add(p.word);
  }
  return out;
}
