import { EXIT, KldloadError } from '../core/errors.ts';
import { type Action, type Plan, run, type Step, write } from '../core/plan.ts';
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
  esp: { path: string; freeBytes: number; files: string[] };
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

/** A mounted filesystem (/proc/self/mounts). */
export interface MountFact {
  source: string;
  target: string;
  fstype: string;
}

/** Where kbe mounts a BE when no folder is given, and where create and rename mount it for their writes. */
export const beMountDir = (name: string) => `/run/kldload/be/${name}`;

/** The dataset of BE NAME, refused unless the name is valid and the BE exists. */
function existingBe(f: BootFacts, name: string): string {
  checkBeName(name);
  const ds = beDataset(f, name);
  if (!f.bes.includes(ds))
    throw new KldloadError(`no boot environment ${name} (${ds}); see kbe list`, EXIT.badInput);
  return ds;
}

const mountsOf = (mounts: readonly MountFact[], ds: string) =>
  mounts.filter((m) => m.fstype === 'zfs' && m.source === ds).map((m) => m.target);

/**
 * kbe mount NAME [DIR]: the BE read-write at DIR (default /run/kldload/be/NAME), to inspect or repair
 * it (chroot needs /dev, /proc and /sys bound in as well). Only the BE's own dataset: /home and the
 * other data datasets are shared by every BE and stay where they are.
 */
export function planBeMount(f: BootFacts, mounts: readonly MountFact[], name: string, dir?: string): Plan {
  const ds = existingBe(f, name);
  if (ds === f.booted)
    throw new KldloadError(
      `${name} is the running boot environment: it is mounted at / already`,
      EXIT.badInput,
    );
  const at = mountsOf(mounts, ds);
  if (at.length)
    throw new KldloadError(
      `${name} is mounted at ${at.join(', ')} already; use it there, or kbe umount ${name} first`,
      EXIT.badInput,
    );
  const target = (dir ?? beMountDir(name)).replace(/(.)\/+$/, '$1');
  if (!target.startsWith('/') || target === '/')
    throw new KldloadError(
      `${target}: mount a boot environment at an absolute folder other than /`,
      EXIT.badInput,
    );
  const busy = mounts.find((m) => m.target === target);
  if (busy)
    throw new KldloadError(
      `${target} is a mount point already (${busy.source}); choose another folder`,
      EXIT.badInput,
    );
  return {
    facts: { be: ds, dir: target },
    steps: [
      {
        name: 'mount',
        title: `${ds} at ${target}, read-write (kbe umount ${name} when done)`,
        actions: [{ kind: 'mkdir', path: target }, run(zfs.mountAt(ds, target))],
      },
    ],
    cleanup: [],
  };
}

/**
 * kbe umount NAME: wherever it is mounted, what is mounted below it first (a chroot's /dev, /proc),
 * deepest first; the folder kbe made for it (/run/kldload/be/NAME) is removed.
 */
export function planBeUmount(f: BootFacts, mounts: readonly MountFact[], name: string): Plan {
  const ds = existingBe(f, name);
  if (ds === f.booted)
    throw new KldloadError(
      `${name} is the running boot environment (mounted at /); it cannot be unmounted`,
      EXIT.badInput,
    );
  const at = mountsOf(mounts, ds);
  if (!at.length) throw new KldloadError(`${name} is not mounted; nothing to do`, EXIT.badInput);
  const below = mounts
    .map((m) => m.target)
    .filter((t) => at.some((a) => t.startsWith(`${a}/`)))
    .sort((a, b) => b.split('/').length - a.split('/').length);
  return {
    facts: { be: ds, mounted: at },
    steps: [
      {
        name: 'umount',
        title: `unmount ${ds} from ${at.join(', ')}${below.length ? ` and ${below.length} mount(s) below it` : ''}`,
        actions: [
          ...[...below, ...at].map((t) => run(['umount', t])),
          ...at.filter((t) => t === beMountDir(name)).map((t) => run(['rmdir', t])),
        ],
      },
    ],
    cleanup: [],
  };
}

/** LoaderEntryDefault / LoaderEntryOneShot as the loader has them (entry ids). */
export interface LoaderVars {
  default?: string;
  oneshot?: string;
}

/** `kldload-OLD<rest>` (kbe's entry, or kernel-install's with the BE's entry token) → `kldload-NEW<rest>`. */
function renamedFile(file: string, from: string, to: string): string {
  const p = `kldload-${from}`;
  return file.startsWith(p) && /^[+.-]/.test(file.slice(p.length))
    ? `kldload-${to}${file.slice(p.length)}`
    : file;
}

/** An entry of the renamed BE: root=ZFS= of its options, its kernel-install folder, kbe's title. */
export function renameEntry(text: string, f: BootFacts, from: string, to: string): string {
  const [oldDs, newDs] = [beDataset(f, from), beDataset(f, to)];
  return text
    .split('\n')
    .map((line) => {
      const m = /^(\s*)(\w+)(\s+)(.*)$/.exec(line);
      if (!m) return line;
      const [, indent = '', key = '', gap = '', value = ''] = m;
      const put = (v: string) => `${indent}${key}${gap}${v}`;
      if (key === 'options')
        return put(
          value
            .split(/(\s+)/)
            .map((w) => (w === `root=ZFS=${oldDs}` ? `root=ZFS=${newDs}` : w))
            .join(''),
        );
      if ((key === 'linux' || key === 'initrd') && value.startsWith(`/kldload-${from}/`))
        return put(`/kldload-${to}/${value.slice(`/kldload-${from}/`.length)}`);
      if (key === 'title' && value.endsWith(`(BE ${from})`))
        return put(`${value.slice(0, -`(BE ${from})`.length)}(BE ${to})`);
      return line;
    })
    .join('\n');
}

/**
 * kbe rename OLD NEW: never the running BE, nor a mounted one (zfs rename would remount it at its
 * mountpoint, /). The dataset is renamed (the pool's bootfs follows by itself: zfs keeps it as an
 * object number, not a name); inside it, root=ZFS= of /etc/kernel/cmdline and, for a BE kbe made,
 * /etc/kernel/entry-token, so later kernel updates there write entries for NEW; on the ESP its entries
 * (kldload-OLD… → kldload-NEW…, root=ZFS=) and its kernel-install folder; then the loader's default
 * and one-shot entry when they named it.
 */
export function planBeRename(
  f: BootFacts,
  mounts: readonly MountFact[],
  loader: LoaderVars,
  from: string,
  to: string,
): Plan {
  const oldDs = existingBe(f, from);
  checkBeName(to);
  const newDs = beDataset(f, to);
  if (from === to) throw new KldloadError(`${from} → ${to}: the same name`, EXIT.badInput);
  if (oldDs === f.booted)
    throw new KldloadError(
      `${from} is the running boot environment; boot another one (kbe activate --once NAME, reboot) to rename it`,
      EXIT.badInput,
    );
  if (f.bes.includes(newDs))
    throw new KldloadError(`boot environment ${to} exists (${newDs}); choose another name`, EXIT.badInput);
  const at = mountsOf(mounts, oldDs);
  if (at.length)
    throw new KldloadError(`${from} is mounted at ${at.join(', ')}; kbe umount ${from} first`, EXIT.badInput);
  const entries = entriesOf(f, from);
  const renamed = entries.map((e) => {
    if (e.text === undefined)
      throw new KldloadError(`boot entry ${e.file}: its text was not read; cannot rewrite it`, EXIT.failed);
    return { old: e, file: renamedFile(e.file, from, to), text: renameEntry(e.text, f, from, to) };
  });
  // kbe made it (its entry is kldload-OLD…) and gave it an entry token; the installer's BE has none
  // (kernel-install then uses the machine id) and keeps it that way.
  const kbeMade = entries.some((e) => renamedFile(e.file, from, to) !== e.file);
  const ownDir = entries.some((e) => e.files.some((p) => p.startsWith(`/kldload-${from}/`)));
  const mnt = beMountDir(to);
  const espPath = f.esp.path;
  const ids = new Map(renamed.map((r) => [r.old.id, idOf(r.file)]));
  const loaderActions: Action[] = [];
  const moved = (id?: string) => (id && ids.get(id) !== id ? ids.get(id) : undefined);
  const dflt = moved(loader.default);
  const once = moved(loader.oneshot);
  if (dflt) loaderActions.push(run(['bootctl', `--esp-path=${espPath}`, 'set-default', dflt]));
  if (once) loaderActions.push(run(['bootctl', `--esp-path=${espPath}`, 'set-oneshot', once]));
  const steps: Step[] = [
    {
      name: 'rename',
      title: `${oldDs} → ${newDs} (the pool's bootfs follows by itself)`,
      actions: [run(zfs.rename(oldDs, newDs))],
    },
    {
      name: 'identity',
      title: `root=ZFS=${newDs}${kbeMade ? ` and entry token kldload-${to}` : ''} inside it, so kernel updates there write entries for ${to}`,
      actions: [
        { kind: 'mkdir', path: mnt },
        run(zfs.mountAt(newDs, mnt)),
        // Only the root= word changes: the rest of the BE's own command line is kept as it is.
        run([
          'sed',
          '-i',
          '-E',
          `s#(^|[[:space:]])root=ZFS=[^[:space:]]+#\\1root=ZFS=${newDs}#`,
          `${mnt}/etc/kernel/cmdline`,
        ]),
        ...(kbeMade ? [write(`${mnt}/etc/kernel/entry-token`, `kldload-${to}\n`)] : []),
        run(['umount', mnt]),
        run(['rmdir', mnt]),
      ],
    },
    {
      name: 'entries',
      title: renamed.length
        ? `${renamed.length} boot entr${renamed.length === 1 ? 'y' : 'ies'} of ${from} → ${to} (root=ZFS=${newDs})`
        : `${from} has no boot entry on ${espPath}; nothing to rewrite`,
      actions: [
        ...(ownDir ? [run(['mv', '-T', `${espPath}/kldload-${from}`, `${espPath}/kldload-${to}`])] : []),
        ...renamed.map((r) => write(`${espPath}/loader/entries/${r.file}`, r.text)),
        ...renamed
          .filter((r) => r.file !== r.old.file)
          .map((r) => run(['rm', '-f', `${espPath}/loader/entries/${r.old.file}`])),
      ],
    },
  ];
  if (loaderActions.length)
    steps.push({
      name: 'loader',
      title: `the loader's ${[dflt ? `default (${dflt})` : '', once ? `next boot (${once})` : ''].filter(Boolean).join(' and ')} follows the new name`,
      actions: loaderActions,
    });
  return {
    facts: { pool: f.pool, from: oldDs, to: newDs, entries: renamed.map((r) => r.file) },
    steps,
    cleanup: cleanupMount(mnt),
  };
}

/** One row of `kbe list` (and of kst's boot environments). */
export interface BeRow {
  name: string;
  dataset: string;
  /** Running now. */
  active: boolean;
  /** What the next boots start (LoaderEntryDefault, else the pool's bootfs). */
  default: boolean;
  /** Only the next boot (LoaderEntryOneShot). */
  once: boolean;
  entries: string[];
}
