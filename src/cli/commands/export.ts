import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, statfsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { type Executor, SystemExecutor } from '../../core/exec.ts';
import { type Plan, renderPlan } from '../../core/plan.ts';
import type { BootFacts } from '../../day2/be-entry.ts';
import {
  EXPORT_PREFIX,
  type ExportDataset,
  type ExportFacts,
  type ExportFormat,
  exportPaths,
  FORMATS,
  KEPT_PROPS,
  outputFile,
} from '../../day2/export.ts';
import { planExportDisk, planExportImage } from '../../day2/export-disk.ts';
import { planExportSeal } from '../../day2/export-seal.ts';
import { kernelIn, kernelPair, kernelVersionsIn, readBootFacts } from '../../day2/facts.ts';
import {
  IDENTITY_UNIT,
  planIdentityBoot,
  planIdentityRenew,
  REIDENTIFY_MARKER,
} from '../../day2/identity.ts';
import { isSnapshot, type Props, parseGet, propsByName, zfs } from '../../zfs/zfs.ts';
import { DAY2_HELP_EXIT, DAY2_LOG, type Day2Env, readTree, runDay2Plan } from '../day2.ts';
import { dryRunOption, jsonOption, type Run, repeat } from '../options.ts';
import type { CommandResult } from '../output.ts';

const HELP = `
Formats (one or more; each written as <out>/kldload-<name>-<stamp>.<format> with a .sha256 beside it):
  qcow2  QEMU, Proxmox, libvirt          vhd   Hyper-V (dynamic VHD, exact size)
  raw    dd to a disk, any hypervisor     vmdk  VMware (monolithic sparse)
  ova    OVF + streamOptimized VMDK + SHA256 manifest, one tar (VMware; VirtualBox: turn on EFI)

What the image holds:
  A whole bootable disk: GPT, a 512 MiB ESP with systemd-boot and the BE's entry, and a pool named
  as this one holding the BE (as ROOT/<name>), the data datasets named with --with (default: home
  and root, so people can log in; --with none: the BE alone), and every other dataset of this
  machine empty (mountpoints and properties kept). Always made from a clone of a
  snapshot, never from the live filesystem.

Sealed: no machine-id, ssh host keys, hostid, zpool.cache, random seed or DHCP lease is carried,
and no logs or shell history. The copy makes its own on its first boot (${IDENTITY_UNIT}).
Carried: users and passwords, authorized keys (in home and root), the hostname, role settings and
role keys (WireGuard, DKIM): it is a copy of this machine, not a template. An encrypted BE or data
dataset is refused (the copy would be unencrypted).
${DAY2_HELP_EXIT}

Examples:
  kexport qcow2                               the running BE, /var/tmp
  kexport qcow2 ova --with home --out /srv    with the home folders
  kexport raw --snapshot rpool/ROOT/default@kpkg-20261130-101500`;

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

export async function exportFacts(env: Day2Env, formats: string[], o: ExportOptions): Promise<ExportFacts> {
  const { exec } = env;
  const bad = formats.filter((x) => !(FORMATS as readonly string[]).includes(x));
  if (bad.length || !formats.length)
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
  };
}

/** The loop device attached to a file (the image plan attached it). */
async function loopOf(exec: Executor, file: string): Promise<string> {
  const r = await exec.run(['losetup', '-j', file, '-n', '-O', 'NAME']);
  const dev = r.stdout.trim().split('\n')[0] ?? '';
  if (!/^\/dev\/loop\d+$/.test(dev)) throw new KldloadError(`no loop device holds ${file}`, EXIT.failed);
  return dev;
}

/**
 * kexport: seal, then the image (a loop device), then the disk plan, which needs the sealed kernel's
 * hashes and the loop device's name. A failure anywhere, also between the plans, runs the cleanup.
 */
export async function exportRun(env: Day2Env, formats: string[], o: ExportOptions): Promise<CommandResult> {
  const f = await exportFacts(env, formats, o);
  const seal = planExportSeal(f);
  const image = planExportImage(f);
  const p = exportPaths(f);
  if (o.dryRun) {
    // Not sealed yet: the hashes shown are the source's kernel files (the sealed initrd differs).
    const running = (await env.exec.run(['uname', '-r'])).stdout.trim();
    const k = f.root.dataset === f.boot.booted && !o.snapshot ? kernelIn('/', running) : undefined;
    const disk = k ? planExportDisk(f, k, '/dev/loopN') : undefined;
    return {
      exitCode: EXIT.ok,
      json: { ok: true, dryRun: true, plans: [seal, image, ...(disk ? [disk] : [])] },
      text: [
        renderPlan(seal, '/'),
        renderPlan(image, '/'),
        disk
          ? renderPlan(disk, '/')
          : '(the disk plan is made once the copy is sealed: it needs the sealed kernel files)',
      ].join('\n\n'),
    };
  }
  const t0 = Date.now();
  const results: CommandResult[] = [];
  const phase = async (plan: Plan, what: string) => {
    const r = await runDay2Plan(plan, o, what);
    results.push(r);
    return r.exitCode === EXIT.ok;
  };
  try {
    if (!(await phase(seal, `export (seal ${f.root.snapshot})`))) return results[0] as CommandResult;
    if (!(await phase(image, 'export (disk image)'))) return results[1] as CommandResult;
    const disk = planExportDisk(f, kernelPair(p.rootMnt, f.kernel), await loopOf(env.exec, p.raw));
    if (!(await phase(disk, `export (${f.formats.join(', ')})`))) return results[2] as CommandResult;
  } catch (e) {
    // Between the plans (a refusal from the ESP check, a missing loop device): undo what ran.
    await runDay2Plan(
      { facts: {}, steps: [{ name: 'cleanup', title: 'undo this run', actions: seal.cleanup }], cleanup: [] },
      o,
      'export (cleanup)',
    );
    throw e;
  }
  const outputs = f.formats.map((fmt) => outputFile(f, fmt));
  // Each step's seconds: the seal, the image, the disk, and one step per format.
  const steps = results.flatMap((r) => (r.json as { steps?: unknown[] }).steps ?? []);
  return {
    exitCode: EXIT.ok,
    json: {
      ok: true,
      be: f.root.dataset,
      from: f.root.snapshot,
      name: f.name,
      data: f.data.map((d) => d.dataset),
      kernel: f.kernel,
      outputs,
      seconds: (Date.now() - t0) / 1000,
      steps,
      log: DAY2_LOG,
    },
    text: `kexport: ${f.root.snapshot}${f.data.length ? ` with ${f.data.map((d) => d.dataset).join(', ')}` : ''} →\n${outputs.map((x) => `  ${x}  (+ .sha256)`).join('\n')}`,
  };
}

/** identity renew: only on a sealed copy (the marker): elsewhere it would orphan other initrds' hostid. */
export async function identityRenew(
  env: Day2Env,
  o: { dryRun?: boolean; json?: boolean },
): Promise<CommandResult> {
  const R = env.root ?? '';
  if (!existsSync(`${R}${REIDENTIFY_MARKER}`))
    throw new KldloadError(
      `this machine is not a sealed copy (no ${REIDENTIFY_MARKER}): its identity stays as it is`,
      EXIT.badInput,
    );
  const running = (await env.exec.run(['uname', '-r'])).stdout.trim();
  const boot = await readBootFacts(env);
  const a = planIdentityRenew({ boot, running, kernels: kernelVersionsIn(R || '/') });
  if (o.dryRun) return runDay2Plan(a, o, 'identity renew');
  const r = await runDay2Plan(a, o, 'identity renew');
  if (r.exitCode !== EXIT.ok) return r;
  return runDay2Plan(
    planIdentityBoot(await readBootFacts(env), kernelPair('/', running)),
    o,
    'identity renew (boot entry)',
  );
}

export function exportCommand(program: Command, run: Run) {
  const env = (): Day2Env => ({ exec: new SystemExecutor() });
  program
    .command('export <formats...>')
    .description('A boot environment as a sealed, bootable disk image (kexport): qcow2 raw vhd vmdk ova')
    .option('--be <name>', 'the boot environment (default: the running one)')
    .option(
      '--snapshot <snapshot>',
      'a snapshot of a boot environment instead, e.g. rpool/ROOT/default@kpkg-…',
    )
    .option(
      '--with <dataset>',
      'a data dataset whose content goes along (home, srv …); repeatable',
      repeat,
      [],
    )
    .option('--name <name>', "the BE's name on the copy (default: its name here)")
    .option('--out <dir>', 'where the images go (default /var/tmp: not snapshotted)')
    .option('--size <size>', 'virtual disk size, e.g. 40G (default: what the data needs, at least 2.5 GiB)')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .addHelpText('after', HELP)
    .exitOverride((e) => process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.badInput))
    .action((formats: string[], o: ExportOptions) => run(() => exportRun(env(), formats, o), !!o.json));
  program
    .command('identity')
    .description('A sealed copy (kexport) makes its own identity on first boot')
    .command('renew')
    .description(
      `new ssh host keys, hostid (initrd and /etc/hostid) and zpool.cache; only while ${REIDENTIFY_MARKER} exists (${IDENTITY_UNIT} runs it)`,
    )
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .action((o: { dryRun?: boolean; json?: boolean }) => run(() => identityRenew(env(), o), !!o.json));
}
