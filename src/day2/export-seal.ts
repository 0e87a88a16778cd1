/** kexport's first part: clones of the snapshots, sealed (identity.ts), snapshotted @sealed. */
import { type Action, type Plan, run, type Step, write } from '../core/plan.ts';
import { zfs } from '../zfs/zfs.ts';
import { checkExport, cleanupActions, diskBytes, type ExportFacts, exportPaths } from './export.ts';
import { historyAction, sealRootActions } from './identity.ts';

/** The first half: clones of the snapshots, sealed, snapshotted @sealed; the root clone stays mounted. */
export function planExportSeal(f: ExportFacts): Plan {
  checkExport(f);
  const p = exportPaths(f);
  const sources = [f.root, ...f.data];
  const clone = (i: number) => `${p.clones}/${i === 0 ? 'root' : `data-${i - 1}`}`;
  const mnt = (i: number) => (i === 0 ? p.rootMnt : p.dataMnt(i - 1));
  const initrds = f.kernels.map((k) => `${p.rootMnt}/boot/initrd.img-${k}`);
  // Succeeds when an initrd still holds a hostid or zpool.cache in its main archive.
  const leaks = [
    'sh',
    '-c',
    `for i in "$@"; do lsinitramfs "$i" | grep -qxE 'etc/hostid|etc/zfs/zpool.cache' && exit 0; done; exit 1`,
    'leaks',
    ...initrds,
  ];
  const taken = sources.filter((s) => s.taken);
  const steps: Step[] = [
    ...(taken.length
      ? [
          {
            name: 'snapshot',
            title: `snapshot what is exported, in one transaction: ${taken.map((s) => s.snapshot).join(', ')}`,
            actions: [
              run(
                zfs.snapshots(
                  taken.map((s) => s.snapshot),
                  { 'org.kldload:cmd': 'kexport' },
                ),
              ),
            ],
          },
        ]
      : []),
    {
      name: 'clone',
      title: `clones under ${p.clones} (legacy mountpoint: never mounted at boot; sanoid skips them)`,
      actions: [
        run(zfs.create(p.clones, { canmount: 'off', mountpoint: 'none', 'com.sun:auto-snapshot': 'false' })),
        ...sources.map((s, i) => run(zfs.clone(s.snapshot, clone(i), { mountpoint: 'legacy' }))),
        ...sources.flatMap((_, i): Action[] => [
          { kind: 'mkdir', path: mnt(i) },
          run(zfs.mountLegacy(clone(i), mnt(i))),
        ]),
      ],
    },
    {
      name: 'seal',
      title:
        'leave out machine-id, ssh host keys, hostid, zpool.cache, seeds, leases, logs and shell history; a new identity on first boot',
      actions: [
        ...sealRootActions(p.rootMnt, { espGuid: f.espGuid }),
        // Its root= and entry token as the copy names it (kernel updates there write entries for it).
        write(
          `${p.rootMnt}/etc/kernel/cmdline`,
          `${[`root=ZFS=${f.boot.pool}/ROOT/${f.name}`, ...f.boot.cmdline].join(' ')}\n`,
        ),
        write(`${p.rootMnt}/etc/kernel/entry-token`, `kldload-${f.name}\n`),
        ...f.data.map((_, i) => historyAction(p.dataMnt(i))),
      ],
    },
    {
      name: 'initrd',
      title: `the initrds of ${f.kernels.join(', ')} without this machine's hostid and zpool.cache`,
      actions: [
        ...initrds.map((initrd): Action => ({ kind: 'initrd-strip', initrd })),
        // A kernel updated after the install got an initrd with them inside (update-initramfs copies
        // /etc/hostid): make them again inside the sealed copy, which has neither.
        run(
          [
            'sh',
            '-c',
            'set -e; m=$1; trap \'umount "$m/sys" "$m/proc" "$m/dev" 2>/dev/null || true\' EXIT; for d in dev proc sys; do mount --bind "/$d" "$m/$d"; done; chroot "$m" update-initramfs -u -k all',
            'rebuild',
            p.rootMnt,
          ],
          { unless: ['sh', '-c', '! "$@"', 'not', ...leaks] },
        ),
        run(['sh', '-c', '! "$@"', 'not', ...leaks]),
      ],
    },
    {
      name: 'sealed-snapshot',
      title: 'snapshot the sealed clones (@sealed): what is sent',
      actions: [
        ...f.data.map((_, i) => run(['umount', p.dataMnt(i)])),
        run(zfs.snapshots(sources.map((_, i) => `${clone(i)}@sealed`))),
      ],
    },
  ];
  return {
    facts: {
      be: f.root.dataset,
      from: f.root.snapshot,
      data: f.data.map((d) => d.dataset),
      kernel: f.kernel,
      formats: f.formats,
      disk: diskBytes(f),
    },
    steps,
    cleanup: cleanupActions(f),
  };
}
