import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { EXIT, KldloadError } from '../../core/errors.ts';
import { SystemExecutor } from '../../core/exec.ts';
import { EXPORT_PREFIX } from '../../day2/export.ts';
import { type GoldenFacts, goldenDir, planGoldenCapture } from '../../fleet/golden-capture.ts';
import { IDENTITY_UNIT, TARGET } from '../../layout.ts';
import { goldenName } from '../../layout-image.ts';
import { DAY2_HELP_EXIT, type Day2Env, runDay2Plan } from '../day2.ts';
import { dryRunOption, jsonOption, type Run, repeat } from '../options.ts';
import type { CommandResult } from '../output.ts';
import { exportFacts } from './export-facts.ts';

const HELP = `
A golden image is a folder: manifest.json (datasets, properties, kernel, roles), SHA256SUMS and one
zfs send stream per dataset. \`kldload build --golden DIR\` puts it on an ISO whose installer
receives it instead of unpacking the base image, then applies that machine's answers (host name,
users, network, disks) and gives it its own machine-id, hostid and ssh host keys.

What it holds: this machine's boot environment as a clone of a snapshot (never the live
filesystem), the data datasets named with --with (content; shell histories removed), the folders
of its log datasets (no log), and every other dataset empty with its properties. First boot does
not run the roles again on a copy: it is already what they made.
Left out: machine-id, ssh host keys, hostid, zpool.cache, random seeds, DHCP leases, logs, shell
histories, ${TARGET.roleSecrets}. A copy booted as it is (a clone, a VM disk) makes its own identity
on its first boot (${IDENTITY_UNIT}).
Carried: everything else of the root, role keys in it included (WireGuard, DKIM): capture a
machine whose roles hold no per-machine secret, or renew them on the copies.
${DAY2_HELP_EXIT}

Examples:
  kldload image capture --with srv/www --out /var/tmp      the running BE and the web content
  kldload image capture --snapshot rpool/ROOT/default@kpkg-… --name web-2026-12`;

interface CaptureOptions {
  be?: string;
  snapshot?: string;
  with: string[];
  name?: string;
  out?: string;
  dryRun?: boolean;
  json?: boolean;
}

/** Roles first boot ran here (its record), for the manifest. */
function rolesRan(): string[] {
  if (!existsSync(TARGET.firstbootState)) return [];
  const s = JSON.parse(readFileSync(TARGET.firstbootState, 'utf8')) as { roles?: { ran?: unknown } };
  const ran = Array.isArray(s.roles?.ran)
    ? s.roles.ran.filter((r): r is string => typeof r === 'string')
    : [];
  // Role files (40-web.sh) by their library names (web).
  return ran.map((r) => r.replace(/^\d+-/, '').replace(/\.sh$/, ''));
}

export async function captureFacts(env: Day2Env, o: CaptureOptions): Promise<GoldenFacts> {
  // The copy's root is the installer's BE, ROOT/default: its kernel entries are named for it.
  const copy = await exportFacts(env, [], { ...o, name: 'default' }, true);
  const host = hostname().split('.')[0] ?? 'host';
  const name = o.name ?? `kldload-golden-${host}-${copy.boot.stamp.toLowerCase()}`;
  if (!goldenName.test(name))
    throw new KldloadError(`--name ${name}: letters, digits and _ . : - only`, EXIT.badInput);
  // Log datasets go as folders only: nginx, for one, refuses to start without its log folder.
  const logs = copy.tree.filter((t) => t.rel === 'var/log' || t.rel.startsWith('var/log/'));
  copy.data.push(
    ...logs.map((t) => ({
      ...t,
      snapshot: `${t.dataset}@${EXPORT_PREFIX}${copy.boot.stamp.toLowerCase()}`,
      taken: true,
      bytes: 0,
      skeleton: true,
    })),
  );
  const g: GoldenFacts = { copy, name, host, roles: rolesRan() };
  if (existsSync(goldenDir(g)))
    throw new KldloadError(`${goldenDir(g)} exists; move it away or choose --name`, EXIT.badInput);
  return g;
}

async function capture(env: Day2Env, o: CaptureOptions): Promise<CommandResult> {
  const g = await captureFacts(env, o);
  const t0 = Date.now();
  const r = await runDay2Plan(planGoldenCapture(g), o, `image capture (${g.copy.root.snapshot})`);
  if (o.dryRun || r.exitCode !== EXIT.ok) return r;
  const dir = goldenDir(g);
  return {
    exitCode: EXIT.ok,
    json: { ...(r.json as object), ok: true, golden: dir, seconds: (Date.now() - t0) / 1000 },
    text: `golden image of ${g.copy.root.snapshot}${g.copy.data.length ? ` with ${g.copy.data.map((d) => d.rel).join(', ')}` : ''} → ${dir}\n  kldload build --golden ${dir} …`,
  };
}

export function imageCommand(program: Command, run: Run) {
  const env = (): Day2Env => ({ exec: new SystemExecutor() });
  const image = program.command('image').description('Golden images: capture this machine for an ISO');
  image
    .command('capture')
    .description('Seal this machine as a golden image folder for `kldload build --golden`')
    .option('--be <name>', 'the boot environment (default: the running one)')
    .option('--snapshot <snapshot>', 'a snapshot of a boot environment instead')
    .option('--with <dataset>', 'a data dataset whose content goes along (srv/www …); repeatable', repeat, [])
    .option('--name <name>', 'the folder name (default kldload-golden-<host>-<stamp>)')
    .option('--out <dir>', 'where the folder goes (default /var/tmp: not snapshotted)')
    .addOption(dryRunOption())
    .addOption(jsonOption())
    .addHelpText('after', HELP)
    .exitOverride((e) => process.exit(e.exitCode === 0 ? EXIT.ok : EXIT.badInput))
    .action((o: CaptureOptions) => run(() => capture(env(), o), !!o.json));
}
