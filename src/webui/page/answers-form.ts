/**
 * The wizard's form as an answers file and back, without the DOM (unit-tested): what the page
 * downloads, validates and sends is answersText(); an uploaded file fills the form with fromUpload().
 * Keys the wizard has no field for are kept from the upload as they were, never dropped.
 */
import { formatEnvLine, parseEnvText } from '../../answers/parse.ts';
import type { RoleSetting } from '../../answers/role-settings.ts';
import { FIELDS, type FieldDef, type FieldKey, fieldDef } from '../../answers/schema.ts';

export interface FormState {
  /** KLDLOAD_* values the fields hold. */
  values: Partial<Record<string, string>>;
  /** The pool's disks as offered (by-id path when there is one), KLDLOAD_DISK first. */
  disks: string[];
  wipe: boolean;
  passwordMode: 'password' | 'hash';
  /** Uploaded keys the wizard does not edit, written back as they came, in their order. */
  kept: [string, string][];
}

/** The keys the wizard's fields write (role settings besides). */
export const WIZARD_KEYS: readonly string[] = [
  'KLDLOAD_PROFILE',
  'KLDLOAD_DEBIAN_SUITE',
  'KLDLOAD_HOSTNAME',
  'KLDLOAD_ZFS_TOPOLOGY',
  'KLDLOAD_DISK',
  'KLDLOAD_ZFS_DATA_DISKS',
  'KLDLOAD_FORCE_WIPE',
  'KLDLOAD_USERNAME',
  'KLDLOAD_PASSWORD',
  'KLDLOAD_PASSWORD_HASH',
  'KLDLOAD_SSH_PUBKEY',
  'KLDLOAD_TIMEZONE',
  'KLDLOAD_LOCALE',
  'KLDLOAD_KEYBOARD_LAYOUT',
  'KLDLOAD_NET_METHOD',
  'KLDLOAD_NET_IFACE',
  'KLDLOAD_NET_IP',
  'KLDLOAD_NET_GW',
  'KLDLOAD_NET_DNS',
  'KLDLOAD_ZFS_ENCRYPT',
  'KLDLOAD_ZFS_PASSPHRASE',
  'KLDLOAD_EXTRA_PACKAGES',
];

export const emptyForm = (): FormState => ({
  values: {},
  disks: [],
  wipe: false,
  passwordMode: 'password',
  kept: [],
});

const def = (k: string): FieldDef | undefined => (k in FIELDS ? fieldDef(k as FieldKey) : undefined);
export const formValue = (f: FormState, k: string): string => f.values[k] ?? def(k)?.default ?? '';

/** The answers file this form stands for: the wizard's keys that hold something, then the kept ones. */
export function answersText(f: FormState, settings: readonly RoleSetting[]): string {
  const set: [string, string][] = [];
  const put = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== '') set.push([k, v]);
  };
  const val = (k: string) => formValue(f, k);
  const topo = val('KLDLOAD_ZFS_TOPOLOGY');
  put('KLDLOAD_PROFILE', val('KLDLOAD_PROFILE'));
  put('KLDLOAD_DEBIAN_SUITE', val('KLDLOAD_DEBIAN_SUITE'));
  put('KLDLOAD_HOSTNAME', f.values.KLDLOAD_HOSTNAME);
  put('KLDLOAD_ZFS_TOPOLOGY', topo);
  put('KLDLOAD_DISK', f.disks[0]);
  if (topo !== 'single') put('KLDLOAD_ZFS_DATA_DISKS', f.disks.join(' '));
  if (f.wipe) put('KLDLOAD_FORCE_WIPE', '1');
  put('KLDLOAD_USERNAME', val('KLDLOAD_USERNAME'));
  if (f.passwordMode === 'hash') put('KLDLOAD_PASSWORD_HASH', f.values.KLDLOAD_PASSWORD_HASH);
  else put('KLDLOAD_PASSWORD', f.values.KLDLOAD_PASSWORD);
  put('KLDLOAD_SSH_PUBKEY', f.values.KLDLOAD_SSH_PUBKEY);
  for (const k of ['KLDLOAD_TIMEZONE', 'KLDLOAD_LOCALE', 'KLDLOAD_KEYBOARD_LAYOUT', 'KLDLOAD_NET_METHOD'])
    put(k, val(k));
  if (val('KLDLOAD_NET_METHOD') === 'static')
    for (const k of ['KLDLOAD_NET_IFACE', 'KLDLOAD_NET_IP', 'KLDLOAD_NET_GW', 'KLDLOAD_NET_DNS'])
      put(k, f.values[k]);
  if (f.values.KLDLOAD_ZFS_ENCRYPT === '1') {
    put('KLDLOAD_ZFS_ENCRYPT', '1');
    put('KLDLOAD_ZFS_PASSPHRASE', f.values.KLDLOAD_ZFS_PASSPHRASE);
  }
  put('KLDLOAD_EXTRA_PACKAGES', f.values.KLDLOAD_EXTRA_PACKAGES);
  for (const s of settings) put(s.key, f.values[s.key]);
  const lines = [...set, ...f.kept].map(([k, v]) => formatEnvLine(k, v));
  return `# kldload answers, written by the web installer\n${lines.join('\n')}\n`;
}

/**
 * The form an uploaded (already validated) file fills. Disks are named as the wizard offers them:
 * `offered` maps a path the file names (/dev/sdb or its by-id name) to the offered name, so one disk
 * never enters the pool under two names.
 */
export function fromUpload(
  text: string,
  settings: readonly RoleSetting[],
  offered: (path: string) => string = (p) => p,
): FormState {
  const f = emptyForm();
  const own = new Set([...WIZARD_KEYS, ...settings.map((s) => s.key)]);
  for (const [k, e] of parseEnvText(text).entries) {
    if (own.has(k)) f.values[k] = e.value;
    else f.kept.push([k, e.value]);
  }
  const listed = [f.values.KLDLOAD_DISK ?? '', ...(f.values.KLDLOAD_ZFS_DATA_DISKS ?? '').split(/[ ,]+/)];
  f.disks = [...new Set(listed.filter(Boolean).map(offered))];
  f.wipe = f.values.KLDLOAD_FORCE_WIPE === '1';
  f.passwordMode = f.values.KLDLOAD_PASSWORD_HASH && !f.values.KLDLOAD_PASSWORD ? 'hash' : 'password';
  return f;
}
