import { existsSync, readFileSync } from 'node:fs';
import { parseEnvText, type RawEntry } from './parse.ts';
import { checkSetting, type RoleSetting, type RoleSettingValue } from './role-settings.ts';
import { type Answers, FIELD_KEYS, type FieldKey, fieldDef } from './schema.ts';

export interface AnswerError {
  file: string;
  line?: number;
  key?: string;
  message: string;
  /** `file:line: KEY: message`, what the CLI prints. */
  text: string;
}

export type Validation =
  | {
      ok: true;
      answers: Answers;
      lines: Partial<Record<FieldKey, number>>;
      /** Values of role settings (declared by the roles given to the validator), in file order. */
      settings: RoleSettingValue[];
      errors: [];
    }
  | { ok: false; errors: AnswerError[] };

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
  const best = FIELD_KEYS.map((k) => [k, distance(key.toUpperCase(), k)] as const).sort(
    (x, y) => x[1] - y[1],
  )[0];
  return best && best[1] <= 4 ? `; did you mean ${best[0]}?` : '';
}

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
  const err = (key: string | undefined, line: number | undefined, message: string) =>
    errors.push({
      file,
      ...(line !== undefined ? { line } : {}),
      ...(key ? { key } : {}),
      message,
      text: `${file}${line !== undefined ? `:${line}` : ''}: ${key ? `${key}: ` : ''}${message}`,
    });
  for (const e of lineErrors) err(e.key, e.line, e.message);

  const settings: RoleSettingValue[] = [];
  for (const [key, { line, value }] of entries) {
    const setting = declared.get(key);
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
    } else if (!(FIELD_KEYS as string[]).includes(key))
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
  if (errors.length) return { ok: false, errors };

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
    a.KLDLOAD_SSH_PUBKEY === undefined
  )
    err(
      'KLDLOAD_USERNAME',
      at('KLDLOAD_USERNAME'),
      'no way to log in: set KLDLOAD_PASSWORD, KLDLOAD_PASSWORD_HASH or KLDLOAD_SSH_PUBKEY',
    );
  if (a.KLDLOAD_NET_METHOD === 'static') {
    for (const k of ['KLDLOAD_NET_IP', 'KLDLOAD_NET_GW', 'KLDLOAD_NET_DNS'] as const)
      if (a[k] === undefined) err('KLDLOAD_NET_METHOD', at('KLDLOAD_NET_METHOD'), `static needs ${k}`);
  } else {
    for (const k of ['KLDLOAD_NET_IP', 'KLDLOAD_NET_GW', 'KLDLOAD_NET_DNS'] as const)
      if (a[k] !== undefined)
        err(k, at(k), 'is only used with KLDLOAD_NET_METHOD=static; remove it or set static');
  }
  const data = a.KLDLOAD_ZFS_DATA_DISKS ?? [];
  const need = { single: 0, mirror: 1, raidz1: 2, raidz2: 3 }[a.KLDLOAD_ZFS_TOPOLOGY];
  if (a.KLDLOAD_ZFS_TOPOLOGY === 'single' && data.length)
    err(
      'KLDLOAD_ZFS_DATA_DISKS',
      at('KLDLOAD_ZFS_DATA_DISKS'),
      'needs KLDLOAD_ZFS_TOPOLOGY=mirror, raidz1 or raidz2',
    );
  else if (data.length < need)
    err(
      'KLDLOAD_ZFS_TOPOLOGY',
      at('KLDLOAD_ZFS_TOPOLOGY'),
      `${a.KLDLOAD_ZFS_TOPOLOGY} needs at least ${need} disk(s) in KLDLOAD_ZFS_DATA_DISKS besides KLDLOAD_DISK (has ${data.length})`,
    );
  const all = [a.KLDLOAD_DISK, ...data];
  const dup = all.find((d, i) => all.indexOf(d) !== i);
  if (dup)
    err(
      'KLDLOAD_ZFS_DATA_DISKS',
      at('KLDLOAD_ZFS_DATA_DISKS'),
      `lists ${dup} twice (KLDLOAD_DISK counts too)`,
    );
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
  if (a.KLDLOAD_POSTINSTALL_B64 !== undefined && !a.KLDLOAD_POSTINSTALL_B64.startsWith('#!'))
    err(
      'KLDLOAD_POSTINSTALL_B64',
      at('KLDLOAD_POSTINSTALL_B64'),
      "does not decode to a script (no '#!' first line)",
    );
  if (errors.length) return { ok: false, errors };
  return { ok: true, answers: a, lines, settings, errors: [] };
}

export function validateAnswersFile(path: string, o: ValidateOptions = {}): Validation {
  if (!existsSync(path))
    return { ok: false, errors: [{ file: path, message: 'no such file', text: `${path}: no such file` }] };
  return validateAnswersText(readFileSync(path, 'utf8'), path, o);
}

/** Secret values of these answers, for the logger's redaction list. */
export function secretsOf(a: Answers): string[] {
  return FIELD_KEYS.filter((k) => fieldDef(k).secret)
    .map((k) => a[k])
    .filter((v): v is string => typeof v === 'string');
}
