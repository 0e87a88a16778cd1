import { EXIT, KldloadError } from '../core/errors.ts';
import { type Action, type Plan, run, type Step, write } from '../core/plan.ts';
import { isSnapshot, zfs } from '../zfs/zfs.ts';
import { zpool } from '../zfs/zpool.ts';
import {
  type BootFacts,
  beDataset,
  checkBeName,
  ESP_DIR,
  entryId,
  espSteps,
  type KernelPair,
} from './be-entry.ts';
import { bootEspSync } from './esp.ts';

/**
 * Boot environments (kbe) as answers → plan: the facts are read from the system first (zfs list, the
 * ESP, the booted root, the kernel files), then these pure functions return the ordered steps.
 *
 * A BE is `<pool>/ROOT/<name>` with its own systemd-boot entry `kldload-<name>.conf` whose kernel and
 * initrd live on the ESP under content-addressed names (`/kldload/<sha256:16>-linux|-initrd`), so BEs
 * that boot identical files share them. New entries carry boot counting (`+3`): an entry that never
 * reaches boot-complete.target falls back by itself.
 *
 * Here: create, activate, destroy and the steps every new BE starts with. Names, entries and the ESP:
 * be-entry.ts; mount and umount: be-mount.ts; rename: be-rename.ts.
 */

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
  const mnt = beMountDir(o.name);
  const steps: Step[] = [
    ...cloneSteps(f, o.name, o.from ? { from: snap } : { snapshot: snap, cmd: `kbe create ${o.name}` }),
    ...espSteps(f, o.name, o.kernel, mnt),
    { name: 'unmount', title: `unmount ${mnt}`, actions: [run(['umount', mnt])] },
    ...bootEspSync(f.esp),
  ];
  return { facts: { pool: f.pool, booted: f.booted, be: ds, from: snap }, steps, cleanup: cleanupMount(mnt) };
}

/**
 * Where kbe mounts a BE when no folder is given, and where create, rename and kupgrade mount a BE
 * they write into.
 */
export const beMountDir = (name: string) => `/run/kldload/be/${name}`;

/**
 * The first steps of every new BE (kbe create, rollback, kupgrade): [snapshot the booted BE,] clone,
 * mount it at beMountDir(name) and give it its own root= and entry token. It stays mounted.
 */
export function cloneSteps(
  f: BootFacts,
  name: string,
  src: { from: string } | { snapshot: string; cmd: string },
): Step[] {
  const ds = beDataset(f, name);
  const mnt = beMountDir(name);
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
      ...bootEspSync(f.esp),
    ],
    cleanup: [],
  };
}

/** The dataset of BE NAME, refused unless the name is valid and the BE exists. */
export function existingBe(f: BootFacts, name: string): string {
  checkBeName(name);
  const ds = beDataset(f, name);
  if (!f.bes.includes(ds))
    throw new KldloadError(`no boot environment ${name} (${ds}); see kbe list`, EXIT.badInput);
  return ds;
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
