import { EXIT, KldloadError } from '../core/errors.ts';
import { type Action, type Plan, run, type Step, write } from '../plan/types.ts';
import { isSnapshot, zfs, zpool } from '../zfs/zfs.ts';

/**
 * Boot environments (kbe) as answers → plan: the facts are read from the system first (zfs list, the
 * ESP, the booted root, the kernel files), then these pure functions return the ordered steps.
 *
 * A BE is `<pool>/ROOT/<name>` with its own systemd-boot entry `kldload-<name>.conf` whose kernel and
 * initrd live on the ESP under content-addressed names (`/kldload/<sha256:16>-linux|-initrd`), so BEs
 * that boot identical files share them. New entries carry boot counting (`+3`): an entry that never
 * reaches boot-complete.target falls back by itself.
 */

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
}

export interface BootFacts {
  pool: string;
  /** Boot environments: the datasets directly under <pool>/ROOT. */
  bes: string[];
  /** Dataset of the running root (root=ZFS= of /proc/cmdline). */
  booted: string;
  /** The ESP's mount point, free bytes and the files already in <esp>/kldload. */
  esp: { path: string; freeBytes: number; files: string[] };
  entries: BootEntry[];
  /** Kernel command line arguments besides root=, kept for new entries (/etc/kernel/cmdline). */
  cmdline: string[];
  /** PRETTY_NAME for entry titles. */
  osName: string;
  /** UTC stamp for snapshot names, e.g. 20261122-031800. */
  stamp: string;
}

// No ':' (or anything else VFAT refuses): the name is part of ESP file and folder names.
const BE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function checkBeName(name: string): void {
  if (!BE_NAME.test(name))
    throw new KldloadError(
      `boot environment name ${JSON.stringify(name)}: 1-63 letters, digits and _ . -, starting with a letter or digit`,
      EXIT.badInput,
    );
}

export const beDataset = (f: BootFacts, name: string) => `${f.pool}/ROOT/${name}`;
export const entryId = (name: string) => `kldload-${name}.conf`;
const contentName = (sha: string, kind: 'linux' | 'initrd') => `${sha.slice(0, 16)}-${kind}`;

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
  return { file, id: idOf(file), ...(root ? { root } : {}), files };
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

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

export interface BeCreateOptions {
  name: string;
  /** Snapshot to clone; default: a new snapshot of the booted BE. */
  from?: string;
  /** The kernel the new BE boots (the newest in its /boot), read from the source. */
  kernel: KernelPair;
}

/** kbe create NAME [--from SNAP]: clone, give it its own root= and entry token, put its entry on the ESP. */
export function planBeCreate(f: BootFacts, o: BeCreateOptions): Plan {
  checkBeName(o.name);
  const ds = beDataset(f, o.name);
  if (f.bes.includes(ds))
    throw new KldloadError(`boot environment ${o.name} exists (${ds}); choose another name`, EXIT.badInput);
  const snap = o.from ?? `${f.booted}@kbe-${o.name}-${f.stamp}`;
  if (!isSnapshot(snap))
    throw new KldloadError(`--from ${snap}: not a snapshot (dataset@name)`, EXIT.badInput);
  if (!f.bes.some((b) => snap.startsWith(`${b}@`)))
    throw new KldloadError(
      `--from ${snap}: not a snapshot of a boot environment under ${f.pool}/ROOT`,
      EXIT.badInput,
    );
  const mnt = beMount(o.name);
  const steps: Step[] = [
    ...cloneSteps(f, o.name, o.from ? { from: snap } : { snapshot: snap, cmd: `kbe create ${o.name}` }),
    ...espSteps(f, o.name, o.kernel, mnt),
    { name: 'unmount', title: `unmount ${mnt}`, actions: [run(['umount', mnt])] },
  ];
  return { facts: { pool: f.pool, booted: f.booted, be: ds, from: snap }, steps, cleanup: cleanupMount(mnt) };
}

/** Where a BE being made is mounted while kbe/kupgrade write into it. */
export const beMount = (name: string) => `/run/kldload/be/${name}`;

/**
 * The first steps of every new BE (kbe create, rollback, kupgrade): [snapshot the booted BE,] clone,
 * mount it at beMount(name) and give it its own root= and entry token. It stays mounted.
 */
export function cloneSteps(
  f: BootFacts,
  name: string,
  src: { from: string } | { snapshot: string; cmd: string },
): Step[] {
  const ds = beDataset(f, name);
  const mnt = beMount(name);
  const snap = 'from' in src ? src.from : src.snapshot;
  return [
    ...('cmd' in src
      ? [
          {
            name: 'snapshot',
            title: `snapshot the booted BE: ${snap}`,
            actions: [run(zfs.snapshot(snap, false, { 'org.kldload:cmd': src.cmd }))],
          },
        ]
      : []),
    {
      name: 'clone',
      title: `${ds} from ${snap} (never mounted at boot by zfs-mount: canmount=noauto)`,
      actions: [
        run(zfs.clone(snap, ds, { canmount: 'noauto', mountpoint: '/', 'org.kldload:origin': snap })),
      ],
    },
    {
      name: 'identity',
      title: `its own root= and entry token, so kernel updates inside ${name} write entries for ${name}`,
      actions: [
        { kind: 'mkdir', path: mnt },
        run(zfs.mountAt(ds, mnt)),
        write(`${mnt}/etc/kernel/cmdline`, `${[`root=ZFS=${ds}`, ...f.cmdline].join(' ')}\n`),
        write(`${mnt}/etc/kernel/entry-token`, `kldload-${name}\n`),
      ],
    },
  ];
}

export const cleanupMount = (mnt: string): Action[] => [
  run(['umount', mnt], { mayFail: true, unless: ['sh', '-c', `! mountpoint -q ${mnt}`] }),
];

/** Entries that boot a BE: those whose options name its dataset as root=ZFS=. */
export const entriesOf = (f: BootFacts, name: string) =>
  f.entries.filter((e) => e.root === beDataset(f, name));

/**
 * kbe activate NAME [--once]: make NAME's entry the default (LoaderEntryDefault) or the next boot
 * only (LoaderEntryOneShot); the pool's bootfs follows a permanent activation.
 */
export function planBeActivate(f: BootFacts, name: string, once: boolean): Plan {
  checkBeName(name);
  const ds = beDataset(f, name);
  if (!f.bes.includes(ds))
    throw new KldloadError(`no boot environment ${name} (${ds}); see kbe list`, EXIT.badInput);
  const ids = entriesOf(f, name)
    .map((e) => e.id)
    .sort();
  // kbe's own entry first; else the newest kernel-install entry of that BE.
  const entry = ids.includes(entryId(name)) ? entryId(name) : ids.pop();
  if (!entry)
    throw new KldloadError(
      `boot environment ${name} has no boot entry on ${f.esp.path}; recreate it (kbe create) or add one with kernel-install inside it`,
      EXIT.failed,
    );
  return {
    facts: { pool: f.pool, be: ds, entry, once },
    steps: [
      {
        name: once ? 'oneshot' : 'default',
        title: once
          ? `next boot only: ${entry} (LoaderEntryOneShot); the boot after returns to the default`
          : `default from now on: ${entry} (LoaderEntryDefault), bootfs=${ds}`,
        actions: once
          ? [run(['bootctl', `--esp-path=${f.esp.path}`, 'set-oneshot', entry])]
          : [
              run(['bootctl', `--esp-path=${f.esp.path}`, 'set-default', entry]),
              run(zpool.set(f.pool, 'bootfs', ds)),
            ],
      },
    ],
    cleanup: [],
  };
}

/**
 * kbe destroy NAME: never the booted BE; its entries go, then the ESP files no remaining entry uses,
 * then the dataset (`-r`: its own snapshots; a BE other clones depend on is refused by zfs itself).
 */
export function planBeDestroy(f: BootFacts, name: string): Plan {
  checkBeName(name);
  const ds = beDataset(f, name);
  if (!f.bes.includes(ds))
    throw new KldloadError(`no boot environment ${name} (${ds}); see kbe list`, EXIT.badInput);
  if (ds === f.booted)
    throw new KldloadError(`${name} is the running boot environment; boot another one first`, EXIT.badInput);
  const gone = entriesOf(f, name);
  const kept = new Set(f.entries.filter((e) => !gone.includes(e)).flatMap((e) => e.files));
  // Only kldload's shared files and the BE's own kernel-install folder are ever removed.
  const orphans = [...new Set(gone.flatMap((e) => e.files))].filter(
    (p) => !kept.has(p) && (p.startsWith(`/${ESP_DIR}/`) || p.startsWith(`/kldload-${name}/`)),
  );
  return {
    facts: { pool: f.pool, be: ds },
    steps: [
      {
        name: 'check',
        title: `${ds} can be destroyed (no other BE is a clone of it)`,
        actions: [run(zfs.destroy(ds, { recursive: true, dryRun: true }))],
      },
      {
        name: 'entries',
        title: `remove ${gone.length} boot entr${gone.length === 1 ? 'y' : 'ies'} of ${name} and ${orphans.length} ESP file(s) no other entry uses`,
        actions: [
          ...gone.map((e) => run(['rm', '-f', `${f.esp.path}/loader/entries/${e.file}`])),
          ...orphans.map((p) => run(['rm', '-f', `${f.esp.path}${p}`])),
        ],
      },
      {
        name: 'destroy',
        title: `destroy ${ds} and its snapshots`,
        actions: [run(zfs.destroy(ds, { recursive: true }))],
      },
    ],
    cleanup: [],
  };
}
