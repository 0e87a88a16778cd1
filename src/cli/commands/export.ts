import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { type Executor, SystemExecutor } from '../../core/exec.ts';
import { type Plan, renderPlan } from '../../core/plan.ts';
import { exportPaths, outputFile } from '../../day2/export.ts';
import { planExportDisk, planExportImage } from '../../day2/export-disk.ts';
import { planExportSeal } from '../../day2/export-seal.ts';
import { kernelIn, kernelPair, kernelVersionsIn, readBootFacts } from '../../day2/facts.ts';
import { planIdentityBoot, planIdentityRenew } from '../../day2/identity.ts';
import { IDENTITY_UNIT, REIDENTIFY_MARKER } from '../../layout.ts';
import { DAY2_HELP_EXIT, DAY2_LOG, type Day2Env, runDay2Plan } from '../day2.ts';
import { dryRunOption, jsonOption, type Run, repeat } from '../options.ts';
import type { CommandResult } from '../output.ts';
import { type ExportOptions, exportFacts } from './export-facts.ts';

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
