/**
 * What every boot-environment planner shares (kbe, ksnap rollback, kupgrade, kexport): the boot facts,
 * BE names and entry ids, the BLS entries on the ESP and the steps that put a BE's kernel there.
 */
import { EXIT, KldloadError } from '../core/errors.ts';
import { type Action, run, type Step, write } from '../core/plan.ts';
import type { OtherEsp } from './esp.ts';

export const ESP_DIR = 'kldload';
export const BOOT_TRIES = 3;
/** Kept free on the ESP beyond what a BE needs (loader updates, random seed). */
export const ESP_RESERVE = 8 * 1024 * 1024;
export const GUARD = '/usr/lib/kernel/install.d/85-kldload-zfs-guard.install';

export interface FileFact {
  /** Where the planner copies it from (inside the source BE or snapshot, as mounted now). */
  path: string;
  sha256: string;
  size: number;
}

export interface KernelPair {
  version: string;
  vmlinuz: FileFact;
  initrd: FileFact;
}

export interface BootEntry {
  /** File name under loader/entries, e.g. kldload-test+2-1.conf. */
  file: string;
  /** systemd-boot's id: the file name without the boot-counting suffix. */
  id: string;
  /** root=ZFS= dataset of its options. */
  root?: string;
  /** ESP paths of linux and initrd (as written in the entry). */
  files: string[];
  /** The file as read (kbe rename rewrites it). */
  text?: string;
}

export interface BootFacts {
  pool: string;
  /** Boot environments: the datasets directly under <pool>/ROOT. */
  bes: string[];
  /** Dataset of the running root (root=ZFS= of /proc/cmdline). */
  booted: string;
  /** The ESP's mount point, free bytes and the files already in <esp>/kldload. */
  esp: {
    path: string;
    freeBytes: number;
    files: string[];
    /** Several ESPs (a mirror or raidz pool): the mounted one's PARTUUID and the others (esp.ts). */
    mounted?: string;
    others?: OtherEsp[];
  };
  entries: BootEntry[];
  /** Kernel command line arguments besides root=, kept for new entries (/etc/kernel/cmdline). */
  cmdline: string[];
  /** PRETTY_NAME for entry titles. */
  osName: string;
  /** UTC stamp for snapshot names, e.g. 20261122-031800. */
  stamp: string;
}

// No ':' (or anything else VFAT refuses): the name is part of ESP file and folder names. Lower case:
// systemd-boot (257) folds LoaderEntryOneShot/Default to lower case but compares them with the id of
// a boot-counted entry as written, so `--once` to an entry with capitals boots the default instead.
const BE_NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export function checkBeName(name: string): void {
  if (!BE_NAME.test(name))
    throw new KldloadError(
      `boot environment name ${JSON.stringify(name)}: 1-63 lower case letters, digits and _ . -, starting with a letter or digit (systemd-boot matches entry ids in lower case)`,
      EXIT.badInput,
    );
}

/** A generated BE name, e.g. upgrade-20261130t141603z: a UTC stamp made fit for checkBeName. */
export const stampedName = (prefix: string, stamp: string) => `${prefix}-${stamp.toLowerCase()}`;

export const beDataset = (f: BootFacts, name: string) => `${f.pool}/ROOT/${name}`;
export const entryId = (name: string) => `kldload-${name}.conf`;
/** A kernel or initrd's file name under <esp>/kldload: content-addressed, shared by BEs that boot it. */
export const contentName = (sha: string, kind: 'linux' | 'initrd') => `${sha.slice(0, 16)}-${kind}`;

/** systemd-boot's entry id: `name+LEFT[-DONE].conf` → `name.conf` (boot counting is not part of it). */
export function idOf(file: string): string {
  return file.replace(/\+\d+(-\d+)?\.conf$/, '.conf');
}

/** One BLS type 1 entry file → its root dataset and ESP files. */
export function parseEntry(file: string, text: string): BootEntry {
  const files: string[] = [];
  let root: string | undefined;
  for (const line of text.split('\n')) {
    const m = /^(\w+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, key, value = ''] = m;
    if (key === 'linux' || key === 'initrd') files.push(value.trim());
    if (key === 'options') root = /(?:^|\s)root=ZFS=(\S+)/.exec(value)?.[1];
  }
  return { file, id: idOf(file), ...(root ? { root } : {}), files, text };
}

function beEntry(f: BootFacts, name: string, k: KernelPair): string {
  return [
    '# kldload boot environment; written by kbe. Boot counting: the +N in the file name.',
    `title      ${f.osName} (BE ${name})`,
    `version    ${k.version}`,
    'sort-key   kldload',
    `options    ${[`root=ZFS=${beDataset(f, name)}`, ...f.cmdline].join(' ')}`,
    `linux      /${ESP_DIR}/${contentName(k.vmlinuz.sha256, 'linux')}`,
    `initrd     /${ESP_DIR}/${contentName(k.initrd.sha256, 'initrd')}`,
    '',
  ].join('\n');
}

/** Copies the kernel pair to the ESP under content names (only what is not there), then the entry. */
export function espSteps(f: BootFacts, name: string, k: KernelPair, dir: string): Step[] {
  const need = [
    { fact: k.vmlinuz, to: contentName(k.vmlinuz.sha256, 'linux') },
    { fact: k.initrd, to: contentName(k.initrd.sha256, 'initrd') },
  ].filter((x) => !f.esp.files.includes(x.to));
  const bytes = need.reduce((n, x) => n + x.fact.size, 0);
  if (bytes + ESP_RESERVE > f.esp.freeBytes)
    throw new KldloadError(
      `the ESP ${f.esp.path} has ${mib(f.esp.freeBytes)} free; BE ${name} needs ${mib(bytes)} more (+${mib(ESP_RESERVE)} kept free). Destroy a boot environment you no longer need (kbe destroy NAME) and try again`,
      EXIT.failed,
    );
  const esp = `${f.esp.path}/${ESP_DIR}`;
  const from = (p: string) => `${dir}${p}`;
  return [
    {
      name: 'check-kernel',
      title: `kernel ${k.version} of BE ${name}: unchanged since read, initramfs holds ZFS`,
      actions: [
        run([
          'sh',
          '-c',
          'printf "%s  %s\\n" "$1" "$2" | sha256sum --check --quiet',
          'sha',
          k.vmlinuz.sha256,
          from(k.vmlinuz.path),
        ]),
        run([
          'sh',
          '-c',
          'printf "%s  %s\\n" "$1" "$2" | sha256sum --check --quiet',
          'sha',
          k.initrd.sha256,
          from(k.initrd.path),
        ]),
        run([GUARD, 'check', k.version, from(k.initrd.path)]),
      ],
    },
    {
      name: 'esp',
      title: `kernel + initrd on the ESP (${need.length ? `${mib(bytes)} copied` : 'shared, nothing copied'}), entry ${entryId(name)} with ${BOOT_TRIES} tries`,
      actions: [
        { kind: 'mkdir', path: esp },
        ...need.map((x): Action => ({ kind: 'copy', from: from(x.fact.path), to: `${esp}/${x.to}` })),
        write(`${f.esp.path}/loader/entries/kldload-${name}+${BOOT_TRIES}.conf`, beEntry(f, name, k)),
      ],
    },
  ];
}

/** Bytes as MiB with one decimal, for messages. */
export const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
