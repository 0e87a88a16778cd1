/** kexport's facts: the source BE or snapshot, the data datasets going along, the pool's properties, the outputs. */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, statfsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { EXIT, KldloadError } from '../../core/errors.ts';
import type { Executor } from '../../core/exec.ts';
import type { BootFacts } from '../../day2/be-entry.ts';
import {
  EXPORT_PREFIX,
  type ExportDataset,
  type ExportFacts,
  type ExportFormat,
  FORMATS,
  KEPT_PROPS,
  outputFile,
} from '../../day2/export.ts';
import { kernelIn, kernelVersionsIn, readBootFacts, readTree } from '../../day2/facts.ts';
import { isSnapshot, type Props, parseGet, propsByName, zfs } from '../../zfs/zfs.ts';
import type { Day2Env } from '../day2.ts';

const stampLower = (f: BootFacts) => f.stamp.toLowerCase();

/** The kernel a copy of `src` boots and every kernel with an initrd there (see readTree). */
const kernelsOf = (exec: Executor, f: BootFacts, src: string, running: string) =>
  readTree(exec, f, src, (tree) => ({
    kernel: kernelIn(tree, running).version,
    kernels: kernelVersionsIn(tree),
  }));

/** The data datasets a copy carries unless told otherwise: people log in with what is in them. */
export const DEFAULT_WITH = ['home', 'root'];

const kept = (p: Record<string, { value: string; source: string }> | undefined): Props =>
  Object.fromEntries(
    Object.entries(p ?? {})
      .filter(
        ([k, v]) => (KEPT_PROPS as readonly string[]).includes(k) && /^(local|received)$/.test(v.source),
      )
      .map(([k, v]) => [k, v.value]),
  );

export interface ExportOptions {
  be?: string;
  snapshot?: string;
  with: string[];
  name?: string;
  out?: string;
  size?: string;
  dryRun?: boolean;
  json?: boolean;
}

/** Size like 20G or 20480M (bytes as a plain number). */
export function parseSize(s: string): number {
  const m = /^(\d+)([MG]?)$/i.exec(s.trim());
  if (!m)
    throw new KldloadError(`--size ${s}: a whole number of bytes, or with M or G (e.g. 20G)`, EXIT.badInput);
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toUpperCase();
  return unit === 'G' ? n * 1024 ** 3 : unit === 'M' ? n * 1024 ** 2 : n;
}

/** kexport's facts; `golden`: a golden image's (kldload image capture: no format, no data by default). */
export async function exportFacts(
  env: Day2Env,
  formats: string[],
  o: ExportOptions,
  golden = false,
): Promise<ExportFacts> {
  const { exec } = env;
  const bad = formats.filter((x) => !(FORMATS as readonly string[]).includes(x));
  if (bad.length || (!formats.length && !golden))
    throw new KldloadError(
      `format ${bad.join(', ') || '(none)'}: choose from ${FORMATS.join(', ')}`,
      EXIT.badInput,
    );
  const boot = await readBootFacts(env);
  const pool = boot.pool;
  if (o.be && o.snapshot) throw new KldloadError('--be and --snapshot: name one source', EXIT.badInput);
  const beDs = o.snapshot ? (o.snapshot.split('@')[0] ?? '') : o.be ? `${pool}/ROOT/${o.be}` : boot.booted;
  if (o.snapshot && !isSnapshot(o.snapshot))
    throw new KldloadError(`--snapshot ${o.snapshot}: not a snapshot (dataset@name)`, EXIT.badInput);
  if (!boot.bes.includes(beDs))
    throw new KldloadError(
      `${beDs} is not a boot environment of ${pool} (see kbe list)${o.snapshot ? '; --snapshot takes a snapshot of one' : ''}`,
      EXIT.badInput,
    );
  const beName = beDs.slice(`${pool}/ROOT/`.length);
  const stamp = stampLower(boot);
  const all = parseGet(
    (
      await exec.run(
        zfs.get(
          pool,
          [...KEPT_PROPS, 'type', 'encryption', 'referenced', 'normalization', 'utf8only'],
          true,
          ['filesystem'],
        ),
      )
    ).stdout,
  );
  const props = propsByName(all);
  const value = (ds: string, p: string) => props.get(ds)?.[p]?.value ?? '';
  if (value(beDs, 'encryption') && value(beDs, 'encryption') !== 'off')
    throw new KldloadError(
      `${beDs} is encrypted (${value(beDs, 'encryption')}): kexport would write its data unencrypted; not supported`,
      EXIT.badInput,
    );
  const clones = `${pool}/${EXPORT_PREFIX}`;
  const fsNames = [...props.keys()].filter(
    (n) =>
      value(n, 'type') === 'filesystem' &&
      n !== pool &&
      n !== `${pool}/ROOT` &&
      !n.startsWith(`${pool}/ROOT/`) &&
      !n.startsWith(clones),
  );
  const rel = (ds: string) => ds.slice(pool.length + 1);
  // --with none: the BE alone; no --with: the default ones this machine has.
  const wanted = o.with.includes('none')
    ? []
    : o.with.length
      ? o.with
      : golden
        ? []
        : DEFAULT_WITH.filter((w) => fsNames.includes(`${pool}/${w}`));
  const data = wanted.map((w) => {
    const ds = w.startsWith(`${pool}/`) ? w : `${pool}/${w.replace(/^\/+/, '')}`;
    if (!fsNames.includes(ds))
      throw new KldloadError(
        `--with ${w}: no such data dataset (${ds}); one of: ${fsNames.map(rel).join(', ')}`,
        EXIT.badInput,
      );
    if (ds === `${pool}/var/log` || ds.startsWith(`${pool}/var/log/`))
      throw new KldloadError(`--with ${w}: logs are never part of a copy`, EXIT.badInput);
    if (value(ds, 'encryption') && value(ds, 'encryption') !== 'off')
      throw new KldloadError(
        `--with ${w}: ${ds} is encrypted; kexport would write its data unencrypted; not supported`,
        EXIT.badInput,
      );
    return {
      dataset: ds,
      rel: rel(ds),
      props: kept(props.get(ds)),
      snapshot: `${ds}@${EXPORT_PREFIX}${stamp}`,
      taken: true,
      bytes: Number(value(ds, 'referenced')) || 0,
    };
  });
  const tree: ExportDataset[] = fsNames.map((ds) => ({
    dataset: ds,
    rel: rel(ds),
    props: kept(props.get(ds)),
  }));
  const poolFs: Props = kept(props.get(pool));
  delete poolFs.mountpoint;
  delete poolFs.canmount;
  if (value(pool, 'normalization') && value(pool, 'normalization') !== 'none')
    poolFs.normalization = value(pool, 'normalization');
  if (value(pool, 'utf8only') === 'on') poolFs.utf8only = 'on';
  const ashift = (await exec.run(['zpool', 'get', '-Hp', '-o', 'value', 'ashift', pool])).stdout.trim();
  const running = (await exec.run(['uname', '-r'])).stdout.trim();
  const outDir = resolve(o.out ?? '/var/tmp');
  if (!existsSync(outDir) || !statSync(outDir).isDirectory())
    throw new KldloadError(`--out ${outDir}: no such folder`, EXIT.badInput);
  const name = o.name ?? beName;
  const base = `kldload-${name}-${stamp}`;
  for (const fmt of formats as ExportFormat[]) {
    const out = outputFile({ outDir, base }, fmt);
    if (existsSync(out)) throw new KldloadError(`${out} exists; move it away first`, EXIT.badInput);
  }
  const st = statfsSync(outDir);
  const src = o.snapshot ?? beDs;
  return {
    boot,
    name,
    root: {
      dataset: beDs,
      rel: rel(beDs),
      props: kept(props.get(beDs)),
      snapshot: o.snapshot ?? `${beDs}@${EXPORT_PREFIX}${stamp}`,
      taken: !o.snapshot,
      bytes:
        Number(
          o.snapshot
            ? (await exec.run(zfs.get(o.snapshot, ['referenced']))).stdout.split('\t')[2]
            : value(beDs, 'referenced'),
        ) || 0,
    },
    data,
    tree,
    poolFs,
    ashift: ashift === '0' ? '' : ashift,
    ...(await kernelsOf(exec, boot, src, running)),
    formats: formats as ExportFormat[],
    outDir,
    base,
    outFree: st.bavail * st.bsize,
    ...(o.size ? { sizeBytes: parseSize(o.size) } : {}),
    espGuid: randomUUID(),
    espVolumeId: randomBytes(4).toString('hex').toUpperCase(),
    ...(golden ? { golden } : {}),
  };
}
