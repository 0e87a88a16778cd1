/**
 * `kldload postinstall new --role NAME DIR`: writes roles/NN-name.sh from a template that already
 * follows the framework (lib.sh, kl_strict, requires/provides headers, phases, a verify section).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { EXIT, KldloadError } from '../core/errors.ts';
import { TARGET } from '../layout.ts';
import { readRoles } from './roles.ts';

export interface NewRoleOptions {
  /** Capabilities an earlier role must provide. */
  requires?: readonly string[];
  /** Capabilities this role sets up (default: its name). */
  provides?: readonly string[];
  /** Run on every host, before the host's own roles (numbered 00-09 unless `number` is given). */
  shared?: boolean;
  /** NN to use instead of the next free one. */
  number?: number;
  description?: string;
}

export interface NewRoleResult {
  path: string;
  file: string;
  number: number;
  rolesDir: string;
}

const NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const WORD = /^[A-Za-z0-9][A-Za-z0-9_.:@+/-]*$/;

/** DIR/roles when it exists or DIR is not itself a roles folder; DIR when it is one. */
function targetRolesDir(dir: string): string {
  const sub = join(dir, 'roles');
  if (existsSync(sub)) return sub;
  if (basename(dir) === 'roles' || readRoles(dir).roles.length) return dir;
  return sub;
}

/**
 * The number for a new role: shared roles take the lowest free 00-09; verification is 90; other roles
 * take the next multiple of ten after the highest of 10-89 (or the next free number before 90).
 */
export function nextRoleNumber(taken: readonly number[], o: { shared?: boolean; name?: string }): number {
  const used = new Set(taken);
  if (o.name === 'verification') return 90;
  if (o.shared) {
    for (let n = 0; n <= 9; n++) if (!used.has(n)) return n;
    throw new KldloadError('no free number for a shared role in 00-09; pass --number', EXIT.badInput);
  }
  // 00-09 are shared by name, so a host role starts at 10.
  const below = taken.filter((n) => n >= 10 && n < 90);
  const top = below.length ? Math.max(...below) : 0;
  const tens = (Math.floor(top / 10) + 1) * 10;
  if (tens < 90 && !used.has(tens)) return tens;
  for (let n = Math.max(top + 1, 10); n < 90; n++) if (!used.has(n)) return n;
  throw new KldloadError('no free role number below 90; pass --number', EXIT.badInput);
}

export function roleTemplate(file: string, name: string, o: NewRoleOptions): string {
  const provides = o.provides ?? [name];
  const lines = [
    '#!/bin/bash',
    `# ${file} — ${o.description ?? `sets up ${name}`}`,
    `# requires: ${(o.requires ?? []).join(' ')}`.trimEnd(),
    `# provides: ${provides.join(' ')}`.trimEnd(),
    ...(o.shared ? ['# shared: yes'] : []),
    '#',
    '# One step of the kldload postinstall dispatcher (/root/darksite/postinstall.sh), run on first boot',
    '# as its own bash process, from /root/darksite, with the install manifest (KLDLOAD_*) in the',
    '# environment. It must be idempotent: after a power cut every role not yet in roles.done runs again.',
    '# Check it before building an ISO: kldload postinstall check /path/to/darksite',
    '',
    '# shellcheck source=lib.sh',
    `source "\${KLDLOAD_POSTINSTALL_LIB:-${TARGET.postinstallLib}/lib.sh}"`,
    'kl_strict',
    '',
    `pool="\${KLDLOAD_POOL_NAME:-rpool}"`,
    '',
    'kl_phase "packages"',
    `# pkg_install ${name}`,
    '',
    'kl_phase "datasets"',
    `ensure_dataset "\${pool}/data/${name}" compression=zstd atime=off`,
    '',
    'kl_phase "configuration"',
    `# install -D -m 0644 "\${KLDLOAD_DARKSITE:-${TARGET.payload}}/config/${name}.conf" /etc/${name}/${name}.conf`,
    '',
    'kl_phase "services"',
    `# restart_service ${name} 60`,
    '',
    'kl_phase "verify"',
    `verify_dataset "\${pool}/data/${name}" compression=zstd atime=off`,
    `# verify_service_active ${name}`,
    '# verify_port_listening 8080',
    '# verify_http http://127.0.0.1:8080/ "expected text"',
    '',
    `log "${name}: done"`,
    '',
  ];
  return lines.join('\n');
}

function words(list: readonly string[] | undefined, what: string): void {
  for (const w of list ?? [])
    if (!WORD.test(w))
      throw new KldloadError(
        `${what} '${w}': one word per capability (letters, digits, _ . : @ + / -)`,
        EXIT.badInput,
      );
}

/** Writes DIR/roles/NN-NAME.sh (DIR itself when it is a roles folder); never overwrites. */
export function newRole(dir: string, name: string, o: NewRoleOptions = {}): NewRoleResult {
  if (!NAME.test(name))
    throw new KldloadError(
      `role name '${name}': lowercase letters, digits and single hyphens, starting with a letter (e.g. webserver)`,
      EXIT.badInput,
    );
  words(o.requires, 'requires');
  words(o.provides, 'provides');
  if (o.number !== undefined && !(Number.isInteger(o.number) && o.number >= 0 && o.number <= 999))
    throw new KldloadError(`--number ${o.number}: a whole number 0-999`, EXIT.badInput);
  const rolesDir = targetRolesDir(dir);
  const { roles } = readRoles(rolesDir);
  const same = roles.find((r) => r.name === name);
  if (same) throw new KldloadError(`role '${name}' already exists: ${same.path}`, EXIT.badInput);
  const number =
    o.number ??
    nextRoleNumber(
      roles.map((r) => r.number),
      { shared: !!o.shared, name },
    );
  const file = `${String(number).padStart(2, '0')}-${name}.sh`;
  const path = join(rolesDir, file);
  mkdirSync(rolesDir, { recursive: true });
  try {
    writeFileSync(path, roleTemplate(file, name, o), { mode: 0o755, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new KldloadError(`${path} already exists`, EXIT.badInput);
    throw e;
  }
  return { path, file, number, rolesDir };
}
