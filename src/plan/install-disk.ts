/** The install's disk steps: preflight (pick the disk, refuse unsafe targets), wipe, partition, pool, datasets. */
import { type Action, run, type Step } from '../core/plan.ts';
import { espGuidFor } from '../day2/esp.ts';
import type { GoldenManifest } from '../layout-image.ts';
import { zfs } from '../zfs/zfs.ts';
import { zpool } from '../zfs/zpool.ts';
import { partition } from './disks.ts';
import { DATASETS, type InstallContext, type InstallFacts } from './install.ts';

/** preflight, wipe (KLDLOAD_FORCE_WIPE=1 only), partition, pool and datasets, in that order. */
export function diskSteps({ a, f, target, R, pool, disks, be }: InstallContext): Step[] {
  const steps: Step[] = [];
  const step = (name: string, title: string, actions: Action[]) => steps.push({ name, title, actions });

  const pick = {
    answers: '',
    'data-disks': `KLDLOAD_DISK is empty: the boot partition goes on ${target.boot}, the first of KLDLOAD_ZFS_DATA_DISKS; `,
    picked: `KLDLOAD_DISK is empty: ${target.boot} was picked at preflight as the one eligible disk; `,
    'pick-at-preflight': `KLDLOAD_DISK is empty: the one eligible disk is picked here (not the boot medium, not the seed volume, not in use; none or several: refused, listing the candidates) and stands for ${target.boot} below; `,
  }[target.source];
  const picking = target.source === 'picked' || target.source === 'pick-at-preflight';
  step(
    'preflight',
    `${picking ? 'pick the target disk, ' : ''}refuse unsafe targets before the first write`,
    [
      {
        kind: 'check',
        check: 'uefi',
        args: {},
        why: 'the machine booted via UEFI: the installed system boots only that way (no legacy BIOS path)',
      },
      { kind: 'check', check: 'zfs-loads', args: {}, why: 'the zfs module loads in the live system' },
      {
        kind: 'check',
        check: 'disk-safe',
        args: {
          disks,
          forceWipe: a.KLDLOAD_FORCE_WIPE,
          pool,
          ...(f.isoBuild ? { isoBuild: f.isoBuild, reinstall: !!f.reinstall } : {}),
        },
        why: `${pick}each disk exists, is not the boot medium or the answers volume, nothing on it is in use (whole holder chain), no other pool is imported as ${pool}, this ISO did not install it already (unless kldload.reinstall=1), and it is empty unless KLDLOAD_FORCE_WIPE=1`,
      },
    ],
  );

  if (a.KLDLOAD_FORCE_WIPE)
    step('wipe', 'erase partition tables, filesystem signatures and ZFS labels (KLDLOAD_FORCE_WIPE=1)', [
      // Preflight let an imported pool of this name through only if it lives on these disks.
      run(zpool.destroy(pool), { unless: ['sh', '-c', `! ${zpool.exists(pool).join(' ')} >/dev/null 2>&1`] }),
      ...disks.flatMap((d) => [
        run(zpool.labelclear(partition(d, 2)), { mayFail: true }),
        run(['wipefs', '--all', '--force', d]),
        run(['sgdisk', '--zap-all', d]),
      ]),
    ]);

  step('partition', `GPT: ${a.KLDLOAD_ESP_SIZE} MiB ESP (FAT32) + ZFS on each disk`, [
    ...disks.flatMap((d, i) => [
      run([
        'sgdisk',
        `-n1:1M:+${a.KLDLOAD_ESP_SIZE}M`,
        '-t1:EF00',
        `-c1:EFI${i ? i : ''}`,
        // Known PARTUUIDs: fstab and /etc/kldload/esps name them before the partitions exist.
        `-u1:${espGuidFor(f.espGuid, i)}`,
        '-n2:0:0',
        '-t2:BF00',
        `-c2:${pool}${i ? i : ''}`,
        d,
      ]),
    ]),
    run(['udevadm', 'settle', '--timeout=30']),
    ...disks.map((d) => run(['mkfs.vfat', '-F', '32', '-n', 'EFI', partition(d, 1)])),
  ]);

  const enc: Record<string, string> = a.KLDLOAD_ZFS_ENCRYPT
    ? { encryption: 'aes-256-gcm', keyformat: 'passphrase', keylocation: 'prompt' }
    : {};
  step('pool', `create ${pool} (${a.KLDLOAD_ZFS_TOPOLOGY}${a.KLDLOAD_ZFS_ENCRYPT ? ', encrypted' : ''})`, [
    run(
      zpool.create(pool, target.vdevs, {
        poolProps: { ashift: a.KLDLOAD_ZFS_ASHIFT, autotrim: 'on', cachefile: '/etc/zfs/zpool.cache' },
        fsProps: {
          compression: 'lz4',
          acltype: 'posixacl',
          xattr: 'sa',
          relatime: 'on',
          dnodesize: 'auto',
          normalization: 'formD',
          canmount: 'off',
          mountpoint: 'none',
          ...enc,
        },
        altroot: R,
        force: true,
      }),
      {
        unless: zpool.exists(pool),
        ...(a.KLDLOAD_ZFS_ENCRYPT ? { input: `${a.KLDLOAD_ZFS_PASSPHRASE}\n`, secretInput: true } : {}),
      },
    ),
  ]);

  if (f.golden) {
    step('datasets', goldenTitle(f.golden.manifest), goldenDatasets(f.golden, pool, be, R));
    return steps;
  }
  step('datasets', 'root boot environment and the dataset tree', [
    ...DATASETS.flatMap((d) => [
      run(zfs.create(`${pool}/${d.name}`, d.props), { unless: zfs.exists(`${pool}/${d.name}`) }),
      // The root is mounted before the rest, which mount below it.
      ...(d.name === 'ROOT/default' ? rootMount(pool, be, R) : []),
    ]),
  ]);
  return steps;
}

const rootMount = (pool: string, be: string, R: string): Action[] => [
  run(zfs.mount(be), { unless: ['mountpoint', '-q', R] }),
  run(zpool.set(pool, 'bootfs', be)),
];

const goldenTitle = (m: GoldenManifest) =>
  `the golden image ${m.name} (${m.host}, ${m.captured}): its root received as the boot environment, ${m.streams.length - 1} dataset(s) received, the rest of the tree made empty`;

/**
 * The installer's tree and the golden image's, parents first: a dataset the image carries is
 * received (not mounted by zfs receive -u; mounted here when it mounts at all), any other is made.
 */
function goldenDatasets(
  g: NonNullable<InstallFacts['golden']>,
  pool: string,
  be: string,
  R: string,
): Action[] {
  const streams = new Map(g.manifest.streams.map((s) => [s.rel, s]));
  const own = new Map(DATASETS.map((d) => [d.name, d.props]));
  const extra = [...new Set([...g.manifest.tree.map((t) => t.rel), ...streams.keys()])]
    .filter((rel) => !own.has(rel))
    .sort();
  const treeProps = new Map(g.manifest.tree.map((t) => [t.rel, t.props]));
  return [...DATASETS.map((d) => d.name), ...extra].flatMap((rel): Action[] => {
    const ds = `${pool}/${rel}`;
    const s = streams.get(rel);
    const props = { ...(own.get(rel) ?? treeProps.get(rel) ?? {}), ...(s?.props ?? {}) };
    if (!s) return [run(zfs.create(ds, props), { unless: zfs.exists(ds) })];
    const receive: Action = {
      kind: 'pipe',
      from: ['cat', `${g.dir}/${s.file}`],
      to: zfs.receive(ds, rel === 'ROOT/default' ? { canmount: 'noauto', mountpoint: '/' } : props),
      // zfs receive into an existing dataset fails: a rerun after a receive skips it.
      unless: zfs.exists(ds),
    };
    return [
      receive,
      ...(rel === 'ROOT/default'
        ? rootMount(pool, be, R)
        : [
            run(zfs.mount(ds), {
              // Mounted only when it mounts by itself (canmount=on, a real mountpoint) and is not yet.
              unless: [
                'sh',
                '-c',
                'v() { zfs get -H -o value "$1" "$2"; }; [ "$(v canmount "$1")" != on ] || [ "$(v mounted "$1")" = yes ] || case "$(v mountpoint "$1")" in none|legacy) true;; *) false;; esac',
                'mounted',
                ds,
              ],
            }),
          ]),
    ];
  });
}
