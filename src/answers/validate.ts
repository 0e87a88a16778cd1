import { existsSync, readFileSync } from 'node:fs';
import { ORIGINAL_INERT, ORIGINAL_INERT_KEYS, ORIGINAL_REFUSED_WHEN_SET } from './original.ts';
import { parseEnvText, type RawEntry } from './parse.ts';
import { checkSetting, type RoleSetting, type RoleSettingValue } from './role-settings.ts';
import { type Answers, FIELD_KEYS, type FieldKey, fieldDef } from './schema.ts';

/** The fewest disks each KLDLOAD_ZFS_TOPOLOGY takes (mirror-stripe: an even number, at least 4). */
export const TOPOLOGY_DISKS = { single: 1, mirror: 2, raidz1: 3, raidz2: 4, 'mirror-stripe': 4 } as const;

export interface AnswerError {
  file: string;
  line?: number;
  key?: string;
  message: string;
  /** `file:line: KEY: message`, what the CLI prints. */
  text: string;
}

/**
 * Warnings have the shape of errors and never stop an install: each names its key and says why
 * it has no effect (keys of the original kldload that cannot apply here, placeholder passwords).
 */
export type Validation =
  | {
      ok: true;
      answers: Answers;
      lines: Partial<Record<FieldKey, number>>;
      /** Values of role settings (declared by the roles given to the validator), in file order. */
      settings: RoleSettingValue[];
      errors: [];
      warnings: AnswerError[];
    }
  | { ok: false; errors: AnswerError[]; warnings: AnswerError[] };

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      row[j] = Math.min(
        (prev[j] ?? 0) + 1,
        (row[j - 1] ?? 0) + 1,
        (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
  return (d[a.length] as number[])[b.length] ?? 99;
}

function suggest(key: string): string {
  const best = [...FIELD_KEYS, ...ORIGINAL_INERT_KEYS]
    .map((k) => [k, distance(key.toUpperCase(), k)] as const)
    .sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= 4 ? `; did you mean ${best[0]}?` : '';
}

const byLine = (x: AnswerError, y: AnswerError) => (x.line ?? 0) - (y.line ?? 0);

export interface ValidateOptions {
  /** Settings declared by the roles this answers file is for (on the ISO, or chosen at build). */
  roleSettings?: readonly RoleSetting[];
  /** Settings of other roles (the library's): named in the error when the role is not carried. */
  otherSettings?: readonly RoleSetting[];
}

export function validateAnswersText(text: string, file = 'answers.env', o: ValidateOptions = {}): Validation {
  const { entries, errors: lineErrors, unreadable } = parseEnvText(text);
  const declared = new Map((o.roleSettings ?? []).map((s) => [s.key, s]));
  const errors: AnswerError[] = [];
  const warnings: AnswerError[] = [];
  const issue = (key: string | undefined, line: number | undefined, message: string): AnswerError => ({
    file,
    ...(line !== undefined ? { line } : {}),
    ...(key ? { key } : {}),
    message,
    text: `${file}${line !== undefined ? `:${line}` : ''}: ${key ? `${key}: ` : ''}${message}`,
  });
  const err = (key: string | undefined, line: number | undefined, message: string) =>
    errors.push(issue(key, line, message));
  const warn = (key: string, line: number | undefined, message: string) =>
    warnings.push(issue(key, line, message));
  for (const e of lineErrors) err(e.key, e.line, e.message);

  const settings: RoleSettingValue[] = [];
  for (const [key, { line, value }] of entries) {
    const setting = declared.get(key);
    const inert = ORIGINAL_INERT[key];
    if (setting) {
      // Empty means unset (the role's default), like an empty optional answer.
      if (value === '') continue;
      const wrong = checkSetting(setting, value);
      if (wrong) err(key, line, `${setting.secret ? '' : `'${value}' `}${wrong}`);
      else settings.push({ key, value, secret: setting.secret, role: setting.role });
    } else if (o.otherSettings?.some((x) => x.key === key)) {
      const roles = [...new Set(o.otherSettings.filter((x) => x.key === key).map((x) => x.role))];
      err(
        key,
        line,
        `a setting of role ${roles.join(' or ')}, which ${o.roleSettings ? 'is not chosen' : 'is not on this ISO'}; add --role ${roles[0]} at build or remove the line`,
      );
    } else if (inert && value.trim() && ORIGINAL_REFUSED_WHEN_SET[key])
      err(key, line, ORIGINAL_REFUSED_WHEN_SET[key] as string);
    else if (inert) warn(key, line, `has no effect here: ${inert}`);
    else if (!(FIELD_KEYS as string[]).includes(key))
      err(
        key,
        line,
        key.toUpperCase().startsWith('KLDLOAD_')
          ? `unknown answer${suggest(key)}`
          : 'not a kldload answer (answers are KLDLOAD_* variables)',
      );
  }

  const values: Record<string, unknown> = {};
  const lines: Partial<Record<FieldKey, number>> = {};
  for (const key of FIELD_KEYS) {
    const def = fieldDef(key);
    const entry: RawEntry | undefined = entries.get(key);
    if (entry) lines[key] = entry.line;
    const raw = entry?.value ?? def.default;
    if (raw === undefined || (entry && entry.value === '' && !def.required)) {
      if (def.required && !unreadable.has(key)) err(key, undefined, `required: ${def.help}`);
      values[key] = def.default !== undefined ? def.schema.parse(def.default) : undefined;
      continue;
    }
    const r = def.schema.safeParse(raw);
    if (!r.success) {
      const msg = r.error.issues[0]?.message ?? 'invalid';
      const shown = def.secret ? '' : `'${raw.length > 60 ? `${raw.slice(0, 57)}...` : raw}' `;
      err(key, entry?.line, `${shown}${msg}`);
    } else values[key] = r.data;
  }
  if (errors.length) return { ok: false, errors, warnings: warnings.sort(byLine) };

  const a = values as Answers;
  const at = (k: FieldKey) => lines[k];
  if (a.KLDLOAD_PASSWORD !== undefined && a.KLDLOAD_PASSWORD_HASH !== undefined)
    err(
      'KLDLOAD_PASSWORD_HASH',
      at('KLDLOAD_PASSWORD_HASH'),
      'set either KLDLOAD_PASSWORD or KLDLOAD_PASSWORD_HASH, not both',
    );
  if (
    a.KLDLOAD_PASSWORD === undefined &&
    a.KLDLOAD_PASSWORD_HASH === undefined &&
    a.KLDLOAD_SSH_PUBKEY === undefined &&
    a.KLDLOAD_ADMIN_SSH_KEYS === undefined
  )
    err(
      'KLDLOAD_USERNAME',
      at('KLDLOAD_USERNAME'),
      'no way to log in: set KLDLOAD_PASSWORD, KLDLOAD_PASSWORD_HASH, KLDLOAD_SSH_PUBKEY or KLDLOAD_ADMIN_SSH_KEYS',
    );
  // The original's example files carry placeholders; the value itself is never shown.
  for (const k of ['KLDLOAD_PASSWORD', 'KLDLOAD_ROOT_PASSWORD', 'KLDLOAD_ZFS_PASSPHRASE'] as const) {
    const v = a[k];
    if (v !== undefined && /^(change-?me(zfs)?|admin)$/i.test(v))
      warn(
        k,
        at(k),
        'is a placeholder from an example file: every machine installed from this file gets it; change it',
      );
  }
  if (a.KLDLOAD_SUITE !== undefined) {
    if (lines.KLDLOAD_DEBIAN_SUITE === undefined) a.KLDLOAD_DEBIAN_SUITE = a.KLDLOAD_SUITE;
    else if (a.KLDLOAD_SUITE !== a.KLDLOAD_DEBIAN_SUITE)
      err(
        'KLDLOAD_SUITE',
        at('KLDLOAD_SUITE'),
        `says ${a.KLDLOAD_SUITE}, KLDLOAD_DEBIAN_SUITE says ${a.KLDLOAD_DEBIAN_SUITE}; keep one`,
      );
  }
  if (a.KLDLOAD_ZFS_POOL !== undefined && a.KLDLOAD_ZFS_POOL !== a.KLDLOAD_POOL_NAME)
    err(
      'KLDLOAD_ZFS_POOL',
      at('KLDLOAD_ZFS_POOL'),
      `names the encryption root ${a.KLDLOAD_ZFS_POOL}, but the pool (and so its encryption root) is ${a.KLDLOAD_POOL_NAME}; to name the pool ${a.KLDLOAD_ZFS_POOL}, set KLDLOAD_POOL_NAME=${a.KLDLOAD_ZFS_POOL} (the original kldload always created rpool)`,
    );
  const netKeys = ['KLDLOAD_NET_IP', 'KLDLOAD_NET_PREFIX', 'KLDLOAD_NET_GW', 'KLDLOAD_NET_DNS'] as const;
  if (a.KLDLOAD_NET_METHOD === 'static') {
    for (const k of ['KLDLOAD_NET_IP', 'KLDLOAD_NET_GW', 'KLDLOAD_NET_DNS'] as const)
      if (a[k] === undefined) err('KLDLOAD_NET_METHOD', at('KLDLOAD_NET_METHOD'), `static needs ${k}`);
    const ip = a.KLDLOAD_NET_IP;
    const prefix = a.KLDLOAD_NET_PREFIX;
    if (ip !== undefined) {
      const [addr = '', own] = ip.split('/');
      const max = addr.includes(':') ? 128 : 32;
      if (prefix !== undefined && Number(prefix) > max)
        err(
          'KLDLOAD_NET_PREFIX',
          at('KLDLOAD_NET_PREFIX'),
          `'${prefix}' is longer than ${max}, the most an address like ${addr} has`,
        );
      else if (own !== undefined && prefix !== undefined && own !== prefix)
        err(
          'KLDLOAD_NET_PREFIX',
          at('KLDLOAD_NET_PREFIX'),
          `says /${prefix}, KLDLOAD_NET_IP says /${own}; keep one`,
        );
      else if (own === undefined && prefix === undefined)
        err(
          'KLDLOAD_NET_IP',
          at('KLDLOAD_NET_IP'),
          `'${ip}' has no prefix length: write ${ip}/24 (your network's length) or set KLDLOAD_NET_PREFIX`,
        );
      else a.KLDLOAD_NET_IP = `${addr}/${own ?? prefix}`;
    }
  } else {
    for (const k of netKeys)
      if (a[k] !== undefined)
        err(k, at(k), 'is only used with KLDLOAD_NET_METHOD=static; remove it or set static');
  }
  // KLDLOAD_ZFS_DATA_DISKS are the pool's disks, as in the original kldload. It also put
  // KLDLOAD_DISK outside the pool (ESP only) while this installer used to add it to the pool:
  // a list without KLDLOAD_DISK could mean either, so it is refused rather than guessed.
  const topo = a.KLDLOAD_ZFS_TOPOLOGY;
  const data = a.KLDLOAD_ZFS_DATA_DISKS ?? [];
  const need = TOPOLOGY_DISKS[topo];
  if (topo === 'single' && data.length)
    err(
      'KLDLOAD_ZFS_DATA_DISKS',
      at('KLDLOAD_ZFS_DATA_DISKS'),
      'needs KLDLOAD_ZFS_TOPOLOGY=mirror, raidz1, raidz2 or mirror-stripe',
    );
  else if (topo !== 'single') {
    const dup = data.find((d, i) => data.indexOf(d) !== i);
    if (dup) err('KLDLOAD_ZFS_DATA_DISKS', at('KLDLOAD_ZFS_DATA_DISKS'), `lists ${dup} twice`);
    else if (data.length && a.KLDLOAD_DISK !== undefined && !data.includes(a.KLDLOAD_DISK))
      err(
        'KLDLOAD_ZFS_DATA_DISKS',
        at('KLDLOAD_ZFS_DATA_DISKS'),
        `does not list KLDLOAD_DISK (${a.KLDLOAD_DISK}), which is ambiguous: in the original kldload these are the pool's only disks and KLDLOAD_DISK holds just the boot partition; this installer used to add KLDLOAD_DISK to them. List every disk of the pool here and make KLDLOAD_DISK one of them (it gets the boot partition): KLDLOAD_DISK=${data[0]} for a pool on these disks only, or add ${a.KLDLOAD_DISK} to the list`,
      );
    else if (data.length < need || (topo === 'mirror-stripe' && data.length % 2))
      err(
        'KLDLOAD_ZFS_TOPOLOGY',
        at('KLDLOAD_ZFS_TOPOLOGY'),
        `${topo} needs ${topo === 'mirror-stripe' ? 'an even number of disks, at least 4,' : `at least ${need} disks`} in KLDLOAD_ZFS_DATA_DISKS, the pool's disks with KLDLOAD_DISK among them (has ${data.length})`,
      );
  }
  if (a.KLDLOAD_ZFS_ENCRYPT && a.KLDLOAD_ZFS_PASSPHRASE === undefined)
    err('KLDLOAD_ZFS_ENCRYPT', at('KLDLOAD_ZFS_ENCRYPT'), 'encryption needs KLDLOAD_ZFS_PASSPHRASE');
  if (!a.KLDLOAD_ZFS_ENCRYPT && a.KLDLOAD_ZFS_PASSPHRASE !== undefined)
    err('KLDLOAD_ZFS_PASSPHRASE', at('KLDLOAD_ZFS_PASSPHRASE'), 'is only used with KLDLOAD_ZFS_ENCRYPT=1');
  if (a.KLDLOAD_POSTINSTALL_URL !== undefined && a.KLDLOAD_POSTINSTALL_B64 !== undefined)
    err(
      'KLDLOAD_POSTINSTALL_B64',
      at('KLDLOAD_POSTINSTALL_B64'),
      'set either KLDLOAD_POSTINSTALL_URL or KLDLOAD_POSTINSTALL_B64, not both',
    );
  if (a.KLDLOAD_POSTINSTALL_URL?.startsWith('http://') && a.KLDLOAD_POSTINSTALL_SHA256 === undefined)
    err(
      'KLDLOAD_POSTINSTALL_URL',
      at('KLDLOAD_POSTINSTALL_URL'),
      'http:// can be altered on the way: use https://, or pin the script with KLDLOAD_POSTINSTALL_SHA256=<sha256sum of it>',
    );
  if (a.KLDLOAD_POSTINSTALL_SHA256 !== undefined && a.KLDLOAD_POSTINSTALL_URL === undefined)
    err(
      'KLDLOAD_POSTINSTALL_SHA256',
      at('KLDLOAD_POSTINSTALL_SHA256'),
      'is only used with KLDLOAD_POSTINSTALL_URL',
    );
  if (a.KLDLOAD_POSTINSTALL_B64 !== undefined && !a.KLDLOAD_POSTINSTALL_B64.startsWith('#!'))
    err(
      'KLDLOAD_POSTINSTALL_B64',
      at('KLDLOAD_POSTINSTALL_B64'),
      "does not decode to a script (no '#!' first line)",
    );
  warnings.sort(byLine);
  if (errors.length) return { ok: false, errors, warnings };
  return { ok: true, answers: a, lines, settings, errors: [], warnings };
}

export function validateAnswersFile(path: string, o: ValidateOptions = {}): Validation {
  if (!existsSync(path))
    return {
      ok: false,
      errors: [{ file: path, message: 'no such file', text: `${path}: no such file` }],
      warnings: [],
    };
  return validateAnswersText(readFileSync(path, 'utf8'), path, o);
}

/** Secret values of these answers, for the logger's redaction list. */
export function secretsOf(a: Answers): string[] {
  return FIELD_KEYS.filter((k) => fieldDef(k).secret)
    .map((k) => a[k])
    .filter((v): v is string => typeof v === 'string');
}
