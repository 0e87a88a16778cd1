/**
 * Issue 16's four figures against their floors, each floor measured in the same run:
 *   darksite  the fetch of the server closure against kept-alive curl of the same URIs (bench/fetch.ts,
 *             its own rounds; goal ≤ 1.3×);
 *   build     a cold `kldload build` (empty throw-away cache) against the zfs module compiled alone
 *             first, into another throw-away cache (bench/zfs-module-alone.ts; goal ≤ 1.15×): the
 *             build's own zfs-module phase runs beside the layers, so it is no floor;
 *   install   `kldload test` of that ISO: the installer's time against its own base-os step, a plain
 *             unsquashfs of the same image in the same VM (goal ≤ 1.3×);
 *   live      kernel start → the installer's first step, by part (initramfs, init, systemd, node).
 * About 35 minutes on 2 cores; nothing else may use the CPU meanwhile.
 *
 *   node --import tsx bench/floors.ts            (npm run bench:floors)
 *
 * Writes bench/results/floors-<stamp>.json and prints one line per figure.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { utcStamp } from '../src/live/facts.ts';
import type { TestResult } from '../src/vm/harness.ts';

const stamp = utcStamp();
const work = mkdtempSync(join('/var/tmp', 'kl-bench-floors-'));
const cache = join(work, 'cache');
const r2 = (x: number) => Math.round(x * 100) / 100;

function run(args: string[], env: Record<string, string> = {}): { code: number; stdout: string } {
  const r = spawnSync(args[0] as string, args.slice(1), {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return { code: r.status ?? 1, stdout: r.stdout };
}

// 1. darksite: bench/fetch.ts has its own rounds and floors; its result file is read back.
const fetched = run(['node', '--import', 'tsx', 'bench/fetch.ts', '--rounds', '3']);
process.stdout.write(fetched.stdout);
if (fetched.code) throw new Error('bench/fetch.ts failed');
const fetchFile = /written (\S+fetch-\S+\.json)/.exec(fetched.stdout)?.[1];
if (!fetchFile) throw new Error('bench/fetch.ts wrote no result file');
const f = JSON.parse(readFileSync(fetchFile, 'utf8'));
const f8 = Object.values(
  f.by_concurrency as Record<string, { floor: { seconds: number }; median: { ours_s: number } }>,
)[0];
const darksite = {
  floor_s: f8?.floor.seconds,
  ours_s: f8?.median.ours_s,
  ratio: f8 ? r2(f8.median.ours_s / f8.floor.seconds) : undefined,
  goal: 1.3,
  file: fetchFile,
};

// 2. build: the floor, the module compiled alone; then a cold build, each into a throw-away cache.
const alone = run(['node', '--import', 'tsx', 'bench/zfs-module-alone.ts'], {
  KLDLOAD_CACHE: join(work, 'cache-module'),
});
if (alone.code) throw new Error('the zfs module alone failed');
rmSync(join(work, 'cache-module'), { recursive: true, force: true });
const moduleAlone = (JSON.parse(alone.stdout.trim().split('\n').pop() ?? '{}') as { seconds: number })
  .seconds;
const iso = join(work, 'kldload.iso');
const t0 = Date.now();
const b = run(['node', 'dist/kldload.mjs', 'build', '--profile', 'server', '-o', iso, '--json'], {
  KLDLOAD_CACHE: cache,
});
if (b.code) throw new Error('cold build failed');
const phases = (JSON.parse(b.stdout) as { phases: { name: string; seconds: number }[] }).phases;
const total = (Date.now() - t0) / 1000;
const moduleS = phases.find((p) => p.name === 'zfs-module')?.seconds ?? Number.NaN;
const build = {
  total_s: r2(total),
  zfs_module_alone_s: moduleAlone,
  zfs_module_in_build_s: moduleS,
  ratio: r2(total / moduleAlone),
  goal: 1.15,
  phases,
};

// 3 + 4. install and live boot: kldload test of that ISO.
const t = run(['node', 'dist/kldload.mjs', 'test', iso, '--workdir', join(work, 'test'), '--json'], {
  KLDLOAD_CACHE: cache,
});
const tr = JSON.parse(t.stdout || '{}') as Partial<TestResult>;
const inst = tr.install;
const install = inst
  ? {
      install_s: inst.install,
      unsquashfs_s: inst.unsquashfs,
      ratio: inst.ratio,
      goal: 1.3,
      steps: inst.steps,
    }
  : { error: `kldload test exited ${t.code} without install times` };
const live = inst?.liveBoot ?? { error: 'no live boot marks' };

const result = { bench: 'floors', stamp, darksite, build, install, live, test_ok: tr.ok ?? false };
mkdirSync('bench/results', { recursive: true });
const out = join('bench/results', `floors-${stamp}.json`);
writeFileSync(out, `${JSON.stringify(result, null, 1)}\n`);
console.log(
  `darksite: ours ${darksite.ours_s} s, kept-alive curl ${darksite.floor_s} s → ${darksite.ratio}× (goal ≤ 1.3)`,
);
console.log(
  `build:    cold ${build.total_s} s, zfs module alone ${moduleAlone} s (${moduleS} s beside the layers) → ${build.ratio}× (goal ≤ 1.15)`,
);
if (inst)
  console.log(`install:  ${inst.install} s, unsquashfs ${inst.unsquashfs} s → ${inst.ratio}× (goal ≤ 1.3)`);
if (inst?.liveBoot)
  console.log(
    `live:     kernel → first step ${inst.liveBoot.total} s (initramfs ${inst.liveBoot.initramfs}, init ${inst.liveBoot.initExec}, systemd ${inst.liveBoot.systemd}, node ${inst.liveBoot.installerStart})`,
  );
console.log(`results: ${out}`);
rmSync(work, { recursive: true, force: true });
