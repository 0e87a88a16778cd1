import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { SystemExecutor } from '../../core/exec.ts';
import { Logger } from '../../core/log.ts';
import { buildDarksite, resolveDarksite } from '../../darksite/darksite.ts';
import { listRepo, verifyRepo } from '../../darksite/repo.ts';
import { DEFAULT_LISTEN, parseListen, servedSourcesLine, serveRepo } from '../../darksite/serve.ts';
import { suppliedSigningKey } from '../../darksite/signing-key.ts';
import { inspectDebs, type SuppliedDeb, suppliedLabel } from '../../darksite/supplied.ts';
import { hostMirror, loadSuiteIndex } from '../../debian/archive.ts';
import { kernelFacts, moduleDebPath } from '../../image/zfs-module.ts';
import { REPO } from '../../layout.ts';
import { profilePackages } from '../../package-sets/package-sets.ts';
import { jsonOption, mirrorOption, profileOption, type Run, repeat, suiteOption } from '../options.ts';

interface Common {
  profile: string;
  suite: string;
  packages: string;
  deb: string[];
  mirror?: string;
  json?: boolean;
}

/** --deb files, checked before any work (exit 2 naming the file and the fix). */
function checkDebs(exec: SystemExecutor, debs: string[]): Promise<SuppliedDeb[]> {
  return inspectDebs(
    exec,
    debs.map((path) => ({ path, from: '--deb' })),
  );
}

export function darksiteCommand(program: Command, run: Run) {
  const ds = program
    .command('darksite')
    .description('The offline, signed APT repository that ships on the ISO');
  const common = (c: Command) =>
    c
      .addOption(profileOption())
      .addOption(suiteOption('Debian suite'))
      .option('--packages <names>', 'extra packages, comma separated', '')
      .option(
        '--deb <file>',
        'a .deb Debian does not carry; it and its dependencies join the darksite (repeatable)',
        repeat,
        [] as string[],
      )
      .addOption(mirrorOption())
      .addOption(jsonOption());

  common(ds.command('resolve').description('the exact name=version closure with SHA256 and size')).action(
    (o: Common) =>
      run(async () => {
        const exec = new SystemExecutor();
        const supplied = await checkDebs(exec, o.deb);
        const index = await loadSuiteIndex(exec, o.mirror ?? hostMirror(), o.suite);
        const t0 = performance.now();
        const r = await resolveDarksite(exec, index, {
          requests: [
            ...profilePackages(o.profile, o.packages.split(',').filter(Boolean)),
            ...supplied.map((d) => ({ name: d.name, from: suppliedLabel(d) })),
          ],
          supplied,
        });
        const ms = performance.now() - t0;
        const text = [
          ...r.packages.map((p) => `${p.name}=${p.version} ${p.arch} ${p.size} ${p.sha256}`),
          ...r.backports.map((b) => `backports: ${b.name}=${b.version} (${b.reason})`),
          ...r.errors.map((e) => `ERROR ${e.message} (${e.chain.join(' ← ')})`),
          `${r.totals.count} packages, ${(r.totals.bytes / 1e6).toFixed(1)} MB, resolved in ${ms.toFixed(0)} ms`,
        ].join('\n');
        return { exitCode: r.errors.length ? 2 : 0, json: { ...r, resolveMs: ms }, text };
      }, !!o.json),
  );

  common(ds.command('build').description('resolve, fetch (verified, cached), sign and gate the repository'))
    .option(
      '--darksite-key <gnupghome>',
      'sign with the one secret key in this GNUPGHOME (default: the build key)',
    )
    .action((o: Common & { darksiteKey?: string }) =>
      run(async () => {
        const log = new Logger({ quiet: !!o.json });
        const exec = new SystemExecutor(log);
        const supplied = await checkDebs(exec, o.deb);
        const signingKey = o.darksiteKey ? await suppliedSigningKey(exec, o.darksiteKey) : undefined;
        const mirror = o.mirror ?? hostMirror();
        const index = await loadSuiteIndex(exec, mirror, o.suite);
        const deb = moduleDebPath(kernelFacts(index));
        const r = await buildDarksite(exec, log, index, {
          mirror,
          suite: o.suite,
          profile: o.profile,
          extra: o.packages.split(',').filter(Boolean),
          localDebs: existsSync(deb) ? [deb] : [],
          supplied,
          ...(signingKey ? { signingKey } : {}),
        });
        return {
          exitCode: 0,
          json: r,
          text: `${r.dir} (${r.packages} packages, ${(r.bytes / 1e6).toFixed(0)} MB)`,
        };
      }, !!o.json),
    );

  ds.command('verify <dir>')
    .description('check the signature, the index and every .deb like apt would')
    .addOption(suiteOption('Debian suite', { anySuite: true }))
    .addOption(jsonOption())
    .action((dir: string, o: { suite: string; json?: boolean }) =>
      run(async () => {
        const f = await verifyRepo(new SystemExecutor(), dir, o.suite);
        return {
          exitCode: f.length ? 1 : 0,
          json: { ok: !f.length, findings: f },
          text: f.length ? f.map((x) => `${x.file}: ${x.problem}`).join('\n') : `${dir}: ok`,
        };
      }, !!o.json),
    );

  ds.command('ls <dir>')
    .description('packages in a darksite repository')
    .addOption(suiteOption('Debian suite', { anySuite: true }))
    .addOption(jsonOption())
    .action((dir: string, o: { suite: string; json?: boolean }) =>
      run(async () => {
        const l = listRepo(dir, o.suite);
        return { exitCode: 0, json: l, text: l.map((p) => `${p.name}=${p.version} ${p.arch}`).join('\n') };
      }, !!o.json),
    );

  ds.command('serve <dir>')
    .description('serve a darksite over HTTP, read-only, to other machines and tools (kpkg, apt)')
    .option('--listen <host:port>', 'address to listen on', DEFAULT_LISTEN)
    .option('--public', 'allow a non-loopback --listen address')
    .addOption(jsonOption('print one line {"url":…,"dir":…} once listening'))
    .action((dir: string, o: { listen: string; public?: boolean; json?: boolean }) => {
      const json = !!o.json;
      serve(dir, o).catch((e: unknown) => run(() => Promise.reject(e), json));
    });
}

/** Runs until SIGINT/SIGTERM; errors before listening go through the common error path. */
async function serve(dir: string, o: { listen: string; public?: boolean; json?: boolean }): Promise<void> {
  const s = await serveRepo(dir, { ...parseListen(o.listen), ...(o.public ? { public: true } : {}) });
  if (o.json) process.stdout.write(`${JSON.stringify({ url: s.url, dir: s.dir })}\n`);
  else
    process.stdout.write(
      [
        `serving ${s.dir} at ${s.url} (read-only; Ctrl-C stops)`,
        `key:    ${s.url}${REPO.keyring}`,
        ...s.suites.map(
          (suite) => `source: ${servedSourcesLine(s.url, suite, `/usr/share/keyrings/${REPO.keyring}`)}`,
        ),
        '',
      ].join('\n'),
    );
  await new Promise<void>((ok) => {
    process.once('SIGINT', ok);
    process.once('SIGTERM', ok);
  });
  await s.close();
  process.exit(0);
}
