import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { type Profile, SUITES, type Suite } from '../../core/debian.ts';
import { SystemExecutor } from '../../core/exec.ts';
import { Logger } from '../../core/log.ts';
import { cacheDir } from '../../core/paths.ts';
import { hostMirror } from '../../debian/archive.ts';
import { build, planOnly } from '../../image/build.ts';
import { buildPlanJson, renderBuildPlan } from '../../image/plan-render.ts';
import type { BuildOptions } from '../../image/spec.ts';
import { jsonOption, mirrorOption, profileOption, type Run, repeat, suiteOption } from '../options.ts';

/**
 * The bundle that is running (dist/kldload.mjs: this code runs from one of its chunks, in
 * dist/chunks/), or the one bundled from source in dev.
 */
export function selfBundle(): string {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith('.mjs')) return resolve(dirname(here), '../../../dist/kldload.mjs');
  return basename(dirname(here)) === 'chunks' ? resolve(dirname(here), '../kldload.mjs') : here;
}

export function buildCommand(program: Command, run: Run) {
  program
    .command('build')
    .description('Build the offline installer ISO (layers cached by content in ~/.cache/kldload)')
    .addOption(profileOption())
    .addOption(suiteOption(`Debian suite: ${SUITES.join(', ')}`))
    .option('--answers <file>', 'answers.env to embed (validated first)')
    .option('--payload <dir>', 'directory copied to /root/darksite on the target')
    .option('--zbm <file>', 'a ZFSBootMenu EFI binary to use as the boot loader')
    .option(
      '--golden <dir>',
      'a golden image (kldload image capture): the installer receives it instead of the base image',
    )
    .option('--packages <names>', 'extra packages for the darksite, comma separated', '')
    .option(
      '--deb <file>',
      'a .deb Debian does not carry; it and its dependencies join the darksite (repeatable; also every --payload debs/*.deb)',
      repeat,
      [] as string[],
    )
    .option('--darksite-key <gnupghome>', 'sign the darksite with the one secret key in this GNUPGHOME')
    .option(
      '--image <file.tar>',
      'container image tarball for /root/darksite/images (repeatable)',
      repeat,
      [] as string[],
    )
    .option(
      '--role <name>',
      'a role from the library, run on first boot (repeatable)',
      repeat,
      [] as string[],
    )
    .addOption(mirrorOption())
    .option('-o, --output <file>', 'ISO path', 'kldload.iso')
    .option(
      '--dry-run',
      'print each layer, whether the cache has it and why it is rebuilt; builds nothing, needs no root (reads the cache this user sees)',
    )
    .addOption(jsonOption())
    .action(
      (o: {
        profile: Profile;
        suite: Suite;
        answers?: string;
        payload?: string;
        zbm?: string;
        golden?: string;
        packages: string;
        deb: string[];
        darksiteKey?: string;
        role: string[];
        image: string[];
        mirror?: string;
        output: string;
        dryRun?: boolean;
        json?: boolean;
      }) =>
        run(async () => {
          const opts: BuildOptions = {
            profile: o.profile,
            suite: o.suite,
            mirror: o.mirror ?? hostMirror(),
            output: o.output,
            bundle: selfBundle(),
            ...(o.answers ? { answers: o.answers } : {}),
            ...(o.payload ? { payload: o.payload } : {}),
            ...(o.zbm ? { zbm: o.zbm } : {}),
            ...(o.golden ? { golden: o.golden } : {}),
            extraPackages: o.packages.split(',').filter(Boolean),
            debs: o.deb,
            ...(o.darksiteKey ? { darksiteKey: o.darksiteKey } : {}),
            roles: o.role,
            images: o.image,
          };
          if (o.dryRun) {
            // No build log: a dry run builds nothing.
            const log = new Logger();
            const plan = await planOnly(new SystemExecutor(log), log, opts);
            return { exitCode: 0, json: buildPlanJson(plan), text: renderBuildPlan(plan) };
          }
          const log = new Logger({ file: join(cacheDir('logs'), 'build.log') });
          const r = await build(new SystemExecutor(log), log, opts);
          const text = [
            ...r.phases.map(
              (p) =>
                `${p.name.padEnd(14)} ${p.seconds.toFixed(1).padStart(7)}s${p.cached ? ' (cached)' : ''}`,
            ),
            `ISO ${r.iso} (${(r.sizeBytes / 1e6).toFixed(0)} MB)`,
          ].join('\n');
          return { exitCode: 0, json: r, text };
        }, !!o.json),
    );
}
