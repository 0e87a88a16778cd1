/**
 * The role library, proven in VMs: every shipped role is built into an ISO (three ISOs, roles grouped so
 * that each group fits one 16 GB guest), installed offline under QEMU/TCG and booted; first boot runs the
 * roles from the darksite and each role's own verification must pass. Writes each role's first-boot
 * time to bench/results/roles-<stamp>.json. `npm run e2e:roles` (about 60 minutes on 2 cores, warm cache).
 *
 *   node --import tsx bench/roles.ts [GROUP…]     (GROUP: a, b, c; default all)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { newRunDir } from '../src/core/paths.ts';
import { availableRoles } from '../src/image/role-library.ts';
import { utcStamp } from '../src/live/facts.ts';

/** Every library role appears in exactly one group (checked below). */
const GROUPS: Record<string, string[]> = {
  a: ['docker', 'ci-runner', 'monitoring', 'nfs', 'vpn-gateway'],
  b: ['web', 'postgres', 'xmpp', 'mail', 'bastion'],
  c: ['k8s-node', 'workstation'],
};
const grouped = Object.values(GROUPS).flat().sort();
const missing = availableRoles().filter((r) => !grouped.includes(r));
if (missing.length) throw new Error(`bench/roles.ts: roles in no group: ${missing.join(', ')}`);

const stamp = utcStamp();
const work = newRunDir('roles-', 2, stamp);
const image = join(work, 'hello.tar');
const img = spawnSync('bash', ['test/vm/make-image.sh', image], { encoding: 'utf8' });
if (img.status !== 0) throw new Error(`make-image.sh failed: ${img.stderr}`);

interface Run {
  code: number;
  seconds: number;
  json: Record<string, unknown>;
  tail: string;
}
function kldload(args: string[]): Run {
  const t0 = Date.now();
  const r = spawnSync('node', ['dist/kldload.mjs', ...args, '--json'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    json = {};
  }
  return {
    code: r.status ?? 1,
    seconds: (Date.now() - t0) / 1000,
    json,
    tail: `${r.stdout}\n${r.stderr}`.slice(-3000),
  };
}

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(GROUPS);
const groups: Record<string, unknown>[] = [];
const roleSeconds: Record<string, number> = {};
let ok = true;
const out = join('bench/results', `roles-${stamp}.json`);
/** Written after every group, so an interrupted run keeps what it measured. */
function save(done: boolean): void {
  const result = {
    stamp,
    machine: { cpus: cpus().length, accel: 'tcg', guest_memory_mib: 3072 },
    note: 'first-boot seconds per role under QEMU TCG (no KVM); packages come from the darksite on the disk, offline',
    complete: done,
    ok,
    role_first_boot_s: roleSeconds,
    groups,
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
}
for (const g of wanted) {
  const roles = GROUPS[g];
  if (!roles) throw new Error(`unknown group ${g}; groups: ${Object.keys(GROUPS).join(', ')}`);
  const iso = join(work, `roles-${g}.iso`);
  console.log(`group ${g}: build with ${roles.join(', ')}`);
  const build = kldload([
    'build',
    '--profile',
    'server',
    // The test answers install tree at install time (KLDLOAD_EXTRA_PACKAGES).
    '--packages',
    'tree',
    ...roles.flatMap((r) => ['--role', r]),
    '--image',
    image,
    '-o',
    iso,
  ]);
  if (build.code !== 0) {
    ok = false;
    console.log(`group ${g}: BUILD FAILED\n${build.tail}`);
    groups.push({ group: g, roles, build_ok: false });
    save(false);
    continue;
  }
  console.log(`group ${g}: built in ${build.seconds.toFixed(0)} s; kldload test`);
  const test = kldload([
    'test',
    iso,
    '--workdir',
    join(work, `test-${g}`),
    '--memory',
    '3072',
    // First boot installs every role of the group under TCG: allow it 50 minutes.
    '--boot-timeout',
    '3000',
    '--no-reboot',
  ]);
  const checks = (test.json.checks ?? []) as { name: string; ok: boolean; detail: string }[];
  const phases = (test.json.phases ?? []) as { name: string; seconds: number; ok: boolean }[];
  const secs = (test.json.roleSeconds ?? {}) as Record<string, number>;
  Object.assign(roleSeconds, secs);
  for (const c of checks) console.log(`  ${c.ok ? 'PASS' : 'FAIL'} ${c.name} — ${c.detail}`);
  for (const [r, s] of Object.entries(secs)) console.log(`  role ${r}: ${s} s on first boot`);
  const good = test.code === 0 && roles.every((r) => r in secs);
  if (!good) {
    ok = false;
    console.log(
      `group ${g}: FAILED (exit ${test.code}; roles timed: ${Object.keys(secs).join(', ') || 'none'})\n${test.tail}`,
    );
  }
  groups.push({
    group: g,
    roles,
    ok: good,
    build_s: build.seconds,
    phases,
    role_first_boot_s: secs,
    failed_checks: checks.filter((c) => !c.ok),
  });
  save(false);
}

save(true);
console.log(`${ok ? 'RESULT: PASS' : 'RESULT: FAIL'} (${out})`);
process.exit(ok ? 0 : 1);
