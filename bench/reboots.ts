/**
 * Reboot robustness: one installed disk, rebooted N times in a row (default 10) through the harness's
 * reboot helper (QEMU with -no-reboot, restarted on the same disk and EFI variables). After each boot
 * the root dataset and `systemctl is-system-running` are read from the guest. Writes every reboot's
 * times to bench/results/reboots-<stamp>.json. `npm run bench:reboots` (about 2 minutes a reboot
 * under TCG on 2 cores).
 *
 *   node --import tsx bench/reboots.ts [TEST_WORKDIR] [N]
 *
 * TEST_WORKDIR is a `kldload test --workdir` folder (target.qcow2, id_ed25519, answers.env); default:
 * the newest one under the cache that has an installed disk. The disk is used through an overlay.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateAnswersText } from '../src/answers/validate.ts';
import { SystemExecutor } from '../src/core/exec.ts';
import { Logger } from '../src/core/log.ts';
import { cacheDir, newRunDir } from '../src/core/paths.ts';
import { utcStamp } from '../src/live/facts.ts';
import { Machine, renderBoots } from '../src/vm/machine.ts';
import { overlayArgs } from '../src/vm/qemu.ts';

function newestTestDir(): string {
  const root = cacheDir('vm');
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    if (existsSync(join(d, 'target.qcow2')) && existsSync(join(d, 'answers.env'))) found.push(d);
    if (depth > 0)
      for (const e of readdirSync(d, { withFileTypes: true }))
        if (e.isDirectory()) walk(join(d, e.name), depth - 1);
  };
  if (existsSync(root)) walk(root, 2);
  const best = found.sort(
    (a, b) => statSync(join(b, 'target.qcow2')).mtimeMs - statSync(join(a, 'target.qcow2')).mtimeMs,
  )[0];
  if (!best)
    throw new Error(`no kldload test workdir with target.qcow2 under ${root}: run kldload test first`);
  return best;
}

const src = process.argv[2] ?? newestTestDir();
const n = Number(process.argv[3] ?? 10);
const v = validateAnswersText(readFileSync(join(src, 'answers.env'), 'utf8'), join(src, 'answers.env'));
if (!v.ok || !v.answers.KLDLOAD_PASSWORD) throw new Error(`${src}/answers.env: unusable for ssh + sudo`);
const stamp = utcStamp();
const work = newRunDir('reboots-', 2, stamp);
const disk = join(work, 'disk.qcow2');
execFileSync('qemu-img', overlayArgs(join(src, 'target.qcow2'), disk));
const log = new Logger({ file: join(work, 'bench.log') });
const exec = new SystemExecutor(log);
const m = await Machine.start(
  exec,
  {
    disk,
    workDir: work,
    name: 'rb',
    key: join(src, 'id_ed25519'),
    user: v.answers.KLDLOAD_USERNAME,
    password: v.answers.KLDLOAD_PASSWORD,
    log,
  },
  'first boot',
);
const pool = v.answers.KLDLOAD_POOL_NAME;
const health: { boot: number; root: string; state: string }[] = [];
let failure: string | undefined;
const probe = async () => {
  const state = await m.settled(900);
  const root = (await m.root('findmnt -no SOURCE /')).stdout.trim();
  health.push({ boot: m.current.n, root, state });
  console.log(`boot ${m.current.n}: root=${root} state=${state} ssh after ${m.current.upSec?.toFixed(1)}s`);
  if (root !== `${pool}/ROOT/default` || state !== 'running')
    throw new Error(`boot ${m.current.n} unhealthy: ${root} ${state}`);
};
mkdirSync('bench/results', { recursive: true });
const out = join('bench/results', `reboots-${stamp}.json`);
/** Written after every boot: a run that is stopped keeps what it measured. */
const save = () => {
  const reboots = m.boots.slice(1).map((b, i) => ({
    reboot: i + 1,
    down_s: m.boots[i]?.downSec,
    up_s: b.upSec,
    serial_log: b.serialLog,
  }));
  const back = reboots.filter((r) => r.up_s !== undefined);
  const up = back.map((r) => r.up_s as number);
  const ok = !failure && back.length === n;
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        bench: 'reboots',
        stamp,
        source_disk: join(src, 'target.qcow2'),
        wanted: n,
        came_back: back.length,
        ok,
        ...(failure ? { failure } : {}),
        ...(up.length
          ? {
              up_s_min: Math.min(...up),
              up_s_max: Math.max(...up),
              up_s_mean: up.reduce((a, b) => a + b, 0) / up.length,
            }
          : {}),
        reboots,
        health,
      },
      null,
      1,
    )}\n`,
  );
  return { ok, back: back.length };
};
try {
  await m.mustBeUp(900);
  await probe();
  for (let i = 1; i <= n; i++) {
    await m.reboot(`reboot ${i}`, { upSec: 900 });
    await probe();
    save();
  }
} catch (e) {
  failure = e instanceof Error ? e.message : String(e);
  console.error(`FAIL: ${failure}`);
} finally {
  await m.stop().catch(() => undefined);
}
for (const line of renderBoots(m.boots)) console.log(line);
const { ok, back } = save();
console.log(`${ok ? 'PASS' : 'FAIL'} ${back}/${n} reboots came back → ${out}`);
process.exit(ok ? 0 : 1);
