import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { validateAnswersFile } from '../../src/answers/validate.ts';
import { install } from '../../src/cli/commands/install.ts';
import { RecordingExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { renderPlan } from '../../src/core/plan.ts';
import { partition } from '../../src/plan/disks.ts';
import { planInstall } from '../../src/plan/install-plan.ts';
import { matchesGolden } from './golden.ts';
import { FACTS } from './plan-facts.ts';

const GOOD = 'test/fixtures/answers/good';
const BAD = 'test/fixtures/answers/bad';
const GOLDEN = 'test/fixtures/plans';

function answers(file: string) {
  const v = validateAnswersFile(file);
  assert.ok(v.ok, `${file} should be valid: ${JSON.stringify(v.errors)}`);
  return v.answers;
}

for (const f of readdirSync(GOOD).filter((n) => n.endsWith('.env'))) {
  test(`golden plan: ${f}`, () => {
    const a = answers(join(GOOD, f));
    const text = `${renderPlan(planInstall(a, FACTS), FACTS.root)}\n`;
    matchesGolden(join(GOLDEN, f.replace(/\.env$/, '.plan.txt')), text);
  });
}

test('golden plans exist for every good fixture', () => {
  const goods = readdirSync(GOOD).filter((n) => n.endsWith('.env')).length;
  assert.ok(goods >= 1);
  assert.equal(readdirSync(GOLDEN).filter((n) => n.endsWith('.plan.txt')).length, goods);
});

test('plan order follows the recipe', () => {
  const plan = planInstall(answers(join(GOOD, 'basic.env')), FACTS);
  assert.deepEqual(
    plan.steps.map((s) => s.name),
    [
      'preflight',
      'partition',
      'pool',
      'datasets',
      'base-os',
      'chroot-mounts',
      'system',
      'users',
      'network',
      'hostid',
      'zpool-cache',
      'initramfs',
      'bootloader',
      'fstab-services',
      'kldload-tools',
      'zed',
      'esps',
      'sanoid',
      'manifest',
      'payload',
      'firstboot',
      'snapshot',
      'export',
    ],
  );
});

test('secrets only travel on stdin and never show in the rendered plan', () => {
  const a = answers(join(GOOD, 'basic.env'));
  const plan = planInstall(a, FACTS);
  const text = renderPlan(plan, '/mnt');
  assert.ok(a.KLDLOAD_PASSWORD);
  assert.ok(!text.includes(a.KLDLOAD_PASSWORD), 'password in rendered plan');
  const withInput = plan.steps
    .flatMap((s) => s.actions)
    .filter((x) => x.kind === 'run' && x.input !== undefined);
  assert.ok(withInput.length >= 1);
  for (const x of withInput) assert.ok(x.kind === 'run' && x.secretInput);
  const manifest = plan.steps
    .flatMap((s) => s.actions)
    .find((x) => x.kind === 'write' && x.path.endsWith('install-manifest.env'));
  assert.ok(
    manifest?.kind === 'write' && !manifest.content.includes(a.KLDLOAD_PASSWORD) && manifest.mode === 0o640,
  );
});

test('partition names follow kernel and udev rules', () => {
  assert.equal(partition('/dev/vda', 1), '/dev/vda1');
  assert.equal(partition('/dev/sdb', 2), '/dev/sdb2');
  assert.equal(partition('/dev/nvme0n1', 2), '/dev/nvme0n1p2');
  assert.equal(partition('/dev/mmcblk0', 1), '/dev/mmcblk0p1');
  assert.equal(partition('/dev/disk/by-id/ata-X_123', 1), '/dev/disk/by-id/ata-X_123-part1');
});

test('extra packages without a darksite on the medium are refused at plan time', () => {
  const a = answers(join(GOOD, 'extra-packages.env'));
  const { aptRepo: _drop, ...noRepo } = FACTS;
  assert.throws(() => planInstall(a, noRepo), /need the darksite/);
});

test('FORCE_WIPE adds a wipe step before partitioning; without it there is none', () => {
  const a = answers(join(GOOD, 'basic.env'));
  assert.ok(!planInstall(a, FACTS).steps.some((s) => s.name === 'wipe'));
  const names = planInstall({ ...a, KLDLOAD_FORCE_WIPE: true }, FACTS).steps.map((s) => s.name);
  assert.equal(names.indexOf('wipe'), names.indexOf('partition') - 1);
});

function tmpRoot(): string {
  return mkdtempSync(join(tmpdir(), 'kl-root-'));
}

for (const f of existsSync(BAD) ? readdirSync(BAD).filter((n) => n.endsWith('.env')) : []) {
  test(`bad answers touch nothing: ${f}`, async () => {
    const exec = new RecordingExecutor();
    const root = tmpRoot();
    const r = await install({ config: join(BAD, f), root }, { exec, log: new Logger({ quiet: true }) });
    assert.equal(r.exitCode, 2);
    assert.equal(exec.calls.length, 0, `commands were run: ${JSON.stringify(exec.calls)}`);
    assert.deepEqual(readdirSync(root), []);
  });
}

test('--dry-run prints the whole plan and runs nothing', async () => {
  const exec = new RecordingExecutor();
  const root = tmpRoot();
  const r = await install(
    { config: join(GOOD, 'basic.env'), root, dryRun: true },
    { exec, log: new Logger({ quiet: true }) },
  );
  assert.equal(r.exitCode, 0);
  assert.equal(exec.calls.length, 0);
  assert.deepEqual(readdirSync(root), []);
  assert.match(r.text, /\[1\/\d+\] preflight/);
  assert.match(r.text, /zpool create .* -R .* rpool \/dev\/vda2/);
  assert.ok(!r.text.includes('correct horse'));
  assert.ok(!JSON.stringify(r.json).includes('correct horse'));
});

test('the ESP in fstab waits for a slow device instead of giving up after 90 s', () => {
  // Seen under a loaded TCG host: the ESP's device came after systemd's default 90 s, boot went on
  // without /boot/efi (nofail), and the next kernel's boot entry had nowhere to go.
  const plan = planInstall(answers(join(GOOD, 'basic.env')), FACTS);
  const fstab = plan.steps
    .find((s) => s.name === 'fstab-services')
    ?.actions.find((a) => a.kind === 'write' && a.path.endsWith('/etc/fstab'));
  assert.ok(fstab && fstab.kind === 'write');
  const esp = fstab.content.split('\n').find((l) => l.includes('/boot/efi')) ?? '';
  const opts = esp.split('\t')[3] ?? '';
  assert.match(opts, /\bnofail\b/, 'a missing ESP must not stop the boot');
  const t = /x-systemd\.device-timeout=(\d+)(min|s)\b/.exec(opts);
  assert.ok(t, `no x-systemd.device-timeout in ${esp}`);
  assert.ok(Number(t[1]) * (t[2] === 'min' ? 60 : 1) >= 300, esp);
});
