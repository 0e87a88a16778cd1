/**
 * kldload image capture: a golden image of this machine, made the way kexport seals a copy
 * (src/day2/export-seal.ts: clones of a snapshot, never the live filesystem; identity, logs and
 * histories left out; initrds without the hostid), then sent as one zfs stream per dataset into a
 * folder with manifest.json and SHA256SUMS. `kldload build --golden DIR` puts the folder on an ISO;
 * its installer receives the streams instead of unpacking the base image (src/plan/install-disk.ts).
 *
 * What a golden image leaves out besides kexport's list: the role secrets file (the roles already
 * ran; a copy gets its settings from its own answers), boot counting's tries file (the installer's
 * first entry is not counted), the log datasets' files (their folders stay: services expect them).
 */
import { type Action, type Plan, run, type Step, write } from '../core/plan.ts';
import { type ExportFacts, exportPaths } from '../day2/export.ts';
import { planExportSeal } from '../day2/export-seal.ts';
import { TARGET } from '../layout.ts';
import { GOLDEN_FILES, type GoldenManifest } from '../layout-image.ts';
import { zfs } from '../zfs/zfs.ts';

export interface GoldenFacts {
  /** The copy's facts, as kexport reads them (golden: true, name 'default'). */
  copy: ExportFacts;
  /** The golden image's name (the folder is <outDir>/<name>). */
  name: string;
  host: string;
  /** Roles first boot ran here. */
  roles: string[];
}

export const goldenDir = (g: GoldenFacts) => `${g.copy.outDir}/${g.name}`;

/** Stream file names, in the order of the sources (root first, as the seal clones them). */
const fileOf = (i: number) => (i === 0 ? 'root.zfs' : `data-${i - 1}.zfs`);

export function goldenManifest(g: GoldenFacts): GoldenManifest {
  const f = g.copy;
  const sent = new Set(f.data.map((d) => d.rel));
  return {
    format: 'kldload-golden/1',
    name: g.name,
    host: g.host,
    captured: f.boot.stamp,
    from: f.root.snapshot,
    kernel: f.kernel,
    kernels: f.kernels,
    roles: g.roles,
    streams: [
      { kind: 'root', rel: 'ROOT/default', file: fileOf(0), props: {} },
      ...f.data.map((d, i) => ({
        kind: d.skeleton ? ('skeleton' as const) : ('data' as const),
        rel: d.rel,
        file: fileOf(i + 1),
        props: d.props,
      })),
    ],
    tree: f.tree.filter((t) => !sent.has(t.rel)).map((t) => ({ rel: t.rel, props: t.props })),
  };
}

/** kexport's seal, the golden extras before the sealed snapshot, then the streams, sums and manifest. */
export function planGoldenCapture(g: GoldenFacts): Plan {
  const f = g.copy;
  const seal = planExportSeal(f);
  const p = exportPaths(f);
  const dir = goldenDir(g);
  const clone = (i: number) => `${p.clones}/${i === 0 ? 'root' : `data-${i - 1}`}`;
  const sources = [f.root, ...f.data];
  const extras: Step = {
    name: 'golden-seal',
    title: 'and for a golden image: no role secrets, no boot-counting tries, log datasets as folders only',
    actions: [
      run(['rm', '-f', `${p.rootMnt}${TARGET.roleSecrets}`, `${p.rootMnt}/etc/kernel/tries`]),
      ...f.data.flatMap((d, i): Action[] =>
        d.skeleton
          ? [run(['find', p.dataMnt(i), '-xdev', '-mindepth', '1', '!', '-type', 'd', '-delete'])]
          : [],
      ),
    ],
  };
  const at = seal.steps.findIndex((s) => s.name === 'sealed-snapshot');
  const steps: Step[] = [
    ...seal.steps.slice(0, at),
    extras,
    ...seal.steps.slice(at),
    {
      name: 'send',
      title: `one zfs send stream per dataset into ${dir} (compressed blocks as stored)`,
      actions: [
        { kind: 'mkdir', path: dir },
        run(['umount', p.rootMnt]),
        ...sources.map(
          (_, i): Action => ({
            kind: 'pipe',
            from: zfs.send(`${clone(i)}@sealed`, true),
            to: ['dd', `of=${dir}/${fileOf(i)}`, 'bs=1M', 'status=none'],
            progress: true,
          }),
        ),
        run(['sh', '-c', 'cd "$1" && sha256sum -- *.zfs > "$2"', 'sums', dir, GOLDEN_FILES.sums]),
        write(`${dir}/${GOLDEN_FILES.manifest}`, `${JSON.stringify(goldenManifest(g), null, 1)}\n`),
      ],
    },
    {
      name: 'tidy',
      title: 'destroy the sealed clones and the snapshots this run took',
      actions: [
        run(zfs.destroy(p.clones, { recursive: true })),
        ...sources.filter((s) => s.taken).map((s) => run(zfs.destroy(s.snapshot))),
        run(['rm', '-rf', p.run]),
      ],
    },
  ];
  return {
    facts: { ...seal.facts, golden: dir, roles: g.roles },
    steps,
    // A half-written folder is this run's: refused at the start when it existed.
    cleanup: [...seal.cleanup, run(['rm', '-rf', dir], { mayFail: true })],
  };
}
