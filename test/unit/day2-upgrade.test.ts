/**
 * kupgrade: fixed facts → plan text (test/fixtures/day2-plans/upgrade*.plan.txt, KLDLOAD_UPDATE_GOLDEN=1
 * rewrites them), the refusals, the kernel choice, the state file and every confirm verdict, and
 * what the install plan gives the target for it (wrapper, units, boot counting with panic=10).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validateAnswersFile } from '../../src/answers/validate.ts';
import { renderPlan } from '../../src/core/plan.ts';
import { type BootFacts, idOf, type KernelPair, parseEntry } from '../../src/day2/be-entry.ts';
import { parseSimulate } from '../../src/day2/pkg.ts';
import {
  hasCandidate,
  newKernels,
  planUpgrade,
  type UpgradeFacts,
  upgradeArgs,
  withPanic,
} from '../../src/day2/upgrade.ts';
import { pendingRecord, pickKernel, planUpgradeBoot } from '../../src/day2/upgrade-boot.ts';
import { type ConfirmFacts, confirmVerdict, planConfirm, triesOf } from '../../src/day2/upgrade-confirm.ts';
import {
  BOOT_OK_UNIT,
  BOOT_OK_UNIT_TEXT,
  CONFIRM_UNIT,
  CONFIRM_UNIT_TEXT,
  parseRecord,
  recordText,
  renderStatus,
  type UpgradeRecord,
} from '../../src/day2/upgrade-record.ts';
import { planInstall } from '../../src/plan/install-plan.ts';
import { golden, refused } from './day2-golden.ts';
import { FACTS } from './plan-facts.ts';

const MiB = 1024 * 1024;
const OLD = '6.12.57+deb13-amd64';
const NEW = '6.12.118+deb13-amd64';
const pair = (v: string, c: string): KernelPair => ({
  version: v,
  vmlinuz: { path: `/boot/vmlinuz-${v}`, sha256: c.repeat(64), size: 12 * MiB },
  initrd: {
    path: `/boot/initrd.img-${v}`,
    sha256: String.fromCharCode(c.charCodeAt(0) + 1).repeat(64),
    size: 40 * MiB,
  },
});
const running = pair(OLD, 'a');

// apt-get -s full-upgrade as apt 2.x prints it: a new kernel ABI (and its -unsigned twin), the meta
// package, a package from the test's local repo.
const SIMULATE = `Reading package lists...
Calculating upgrade...
The following NEW packages will be installed:
  linux-image-${NEW}
The following packages will be upgraded:
  hello linux-image-amd64
2 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.
Inst linux-image-${NEW} (6.12.118-1 Debian-Security:13/stable-security [amd64])
Inst linux-image-amd64 [6.12.57-1] (6.12.118-1 Debian-Security:13/stable-security [amd64])
Inst hello [2.10-3] (2.10-5 kldload-test:trixie [amd64])
Conf linux-image-${NEW} (6.12.118-1 Debian-Security:13/stable-security [amd64])
Conf linux-image-amd64 (6.12.118-1 Debian-Security:13/stable-security [amd64])
Conf hello (2.10-5 kldload-test:trixie [amd64])
`;

const boot: BootFacts = {
  pool: 'rpool',
  bes: ['rpool/ROOT/default', 'rpool/ROOT/test'],
  booted: 'rpool/ROOT/default',
  esp: {
    path: '/boot/efi',
    freeBytes: 300 * MiB,
    files: ['aaaaaaaaaaaaaaaa-linux', 'bbbbbbbbbbbbbbbb-initrd'],
  },
  entries: [
    parseEntry(
      `0123456789abcdef0123456789abcdef-${OLD}+3.conf`,
      `options root=ZFS=rpool/ROOT/default boot=zfs rw panic=10 console=ttyS0\nlinux /0123456789abcdef0123456789abcdef/${OLD}/linux\n`,
    ),
  ],
  cmdline: ['boot=zfs', 'rw', 'console=ttyS0'],
  osName: 'Debian GNU/Linux 13 (trixie)',
  stamp: '20261201T101500Z',
};

const facts: UpgradeFacts = {
  boot,
  changes: parseSimulate(SIMULATE),
  zfsModules: [NEW],
  running,
  policyRcd: false,
  bootId: 'b00710d0-0000-4000-8000-000000000001',
  now: '2026-12-01T10:15:00.000Z',
};

test('the transaction: new kernel ABIs (not the meta package, -unsigned folded, -dbg skipped); apt-cache policy candidates', () => {
  assert.deepEqual(newKernels(facts.changes), [NEW]);
  assert.deepEqual(
    newKernels([
      { action: 'install', name: `linux-image-${NEW}-unsigned` },
      { action: 'install', name: `linux-image-${NEW}-dbg` },
      { action: 'remove', name: `linux-image-${OLD}` },
      { action: 'install', name: 'linux-image-cloud-amd64' },
    ]),
    [NEW],
  );
  assert.equal(hasCandidate(`zfs-modules-${NEW}:\n  Installed: (none)\n  Candidate: 2.3.9-1\n`), true);
  assert.equal(hasCandidate(`zfs-modules-${NEW}:\n  Installed: (none)\n  Candidate: (none)\n`), false);
  assert.equal(hasCandidate(''), false, 'an unknown package prints nothing (N: Unable to locate on stderr)');
  assert.deepEqual(upgradeArgs(facts), ['full-upgrade', `zfs-modules-${NEW}`]);
  // Already in the transaction (a darksite pairing them): not named twice.
  assert.deepEqual(
    upgradeArgs({ ...facts, changes: [...facts.changes, { action: 'install', name: `zfs-modules-${NEW}` }] }),
    ['full-upgrade'],
  );
  assert.deepEqual(withPanic(['rw']), ['rw', 'panic=10']);
  assert.deepEqual(
    withPanic(['rw', 'panic=0']),
    ['rw', 'panic=0'],
    'an explicit panic= is the owner’s choice',
  );
});

test('kupgrade: download, snapshot, clone, chroot, full-upgrade with the module, initramfs; then entry, record, one-shot', () => {
  const prepare = planUpgrade(facts);
  // Lower case: systemd-boot matches a one-shot only against a lower-case entry id (see day2-plans).
  const name = 'upgrade-20261201t101500z';
  assert.equal(prepare.facts.be, `rpool/ROOT/${name}`);
  const rec = pendingRecord(facts, name, NEW, []);
  golden('upgrade', prepare, planUpgradeBoot(boot, pair(NEW, 'c'), rec));
  assert.deepEqual(
    prepare.steps.map((s) => s.name),
    ['download', 'snapshot', 'clone', 'identity', 'chroot', 'upgrade', 'initramfs', 'leave-chroot'],
  );
  const text = renderPlan(prepare, '/');
  // The ESP is never mounted into the chroot, and nothing is run against the running root but the download.
  assert.doesNotMatch(text, /boot\/efi/);
  assert.match(
    text,
    /chroot \/run\/kldload\/be\/upgrade-20261201t101500z env KLDLOAD_KPKG=1 DEBIAN_FRONTEND=noninteractive apt-get/,
  );
  // A kernel with no module anywhere: no initramfs step, and named.
  const bare = planUpgrade({ ...facts, zfsModules: [] });
  assert.ok(!bare.steps.some((s) => s.name === 'initramfs'));
  assert.deepEqual(bare.facts.kernelsWithoutModule, [NEW]);
  // A policy-rc.d of the owner's stays as it is.
  assert.doesNotMatch(renderPlan(planUpgrade({ ...facts, policyRcd: true }), '/'), /policy-rc\.d/);
});

test('nothing to upgrade: no snapshot, no BE (an empty plan)', () => {
  const p = planUpgrade({
    ...facts,
    changes: parseSimulate('0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n'),
  });
  assert.deepEqual(p.steps, []);
  assert.equal(p.facts.be, null);
});

test('kupgrade refuses before any change: a pending upgrade, a taken name, a full ESP', () => {
  const pending = pendingRecord(facts, 'upgrade-20261130T080000Z', OLD, []);
  const withBe = { ...boot, bes: [...boot.bes, pending.be] };
  refused(
    () => planUpgrade({ ...facts, boot: withBe, record: pending }),
    /upgrade upgrade-20261130T080000Z is pending .*reboot to try it once, or remove it with kbe destroy upgrade-20261130T080000Z/,
  );
  // Its BE destroyed since: the record no longer blocks; done/failed ones never do.
  planUpgrade({ ...facts, record: pending });
  planUpgrade({ ...facts, boot: withBe, record: { ...pending, status: 'failed' } });
  refused(() => planUpgrade(facts, { name: 'test' }), /boot environment test exists/);
  refused(() => planUpgrade(facts, { name: 'bad name' }), /boot environment name "bad name"/);
  refused(
    () => planUpgrade({ ...facts, boot: { ...boot, esp: { ...boot.esp, freeBytes: 50 * MiB } } }),
    /the ESP \/boot\/efi has 50\.0 MiB free; the upgrade's boot entry needs about 52\.0 MiB \(\+8\.0 MiB kept free\)\. Destroy a boot environment/,
  );
});

test('the BE boots its newest kernel whose initramfs holds ZFS; newer ones without are held and named', () => {
  const vs = ['6.12.57+deb13-amd64', '6.16.3+bpo-amd64', '6.12.118+deb13-amd64'];
  assert.deepEqual(
    pickKernel(vs, (v) => v !== '6.16.3+bpo-amd64'),
    { version: '6.12.118+deb13-amd64', held: ['6.16.3+bpo-amd64'] },
  );
  assert.deepEqual(
    pickKernel(vs, () => true),
    { version: '6.16.3+bpo-amd64', held: [] },
  );
  assert.deepEqual(pickKernel(vs, () => false).version, undefined);
  const rec = pendingRecord(facts, 'u', NEW, ['6.16.3+bpo-amd64']);
  assert.deepEqual(rec.heldKernels, ['6.16.3+bpo-amd64']);
  assert.match(renderStatus(rec, boot.booted, 'rpool'), /held back 6\.16\.3\+bpo-amd64: no ZFS module/);
});

test('state file: written as JSON and read back; anything else is named with the fix', () => {
  const rec = pendingRecord(facts, 'upgrade-20261201T101500Z', NEW, []);
  assert.deepEqual(parseRecord(recordText(rec)), rec);
  assert.deepEqual(
    { ...rec },
    {
      name: 'upgrade-20261201T101500Z',
      be: 'rpool/ROOT/upgrade-20261201T101500Z',
      from: 'rpool/ROOT/default',
      snapshot: 'rpool/ROOT/default@kupgrade-20261201T101500Z',
      entry: 'kldload-upgrade-20261201T101500Z.conf',
      kernel: NEW,
      changes: 3,
      started: '2026-12-01T10:15:00.000Z',
      bootId: facts.bootId,
      status: 'pending',
    },
  );
  assert.throws(() => parseRecord('{', '/x/state.json'), /\/x\/state\.json: not JSON .*move it away/);
  assert.throws(
    () => parseRecord('{"status":"pending"}', '/x/state.json'),
    /not a kupgrade record \(missing name, be/,
  );
  assert.throws(() => parseRecord(recordText({ ...rec, status: 'odd' as 'done' })), /status "odd"/);
});

// ---- after the reboot -------------------------------------------------------------------------------

const rec: UpgradeRecord = pendingRecord(facts, 'upgrade-20261201T101500Z', NEW, []);
const after: ConfirmFacts = {
  record: rec,
  pool: 'rpool',
  booted: rec.be,
  bootId: 'b00710d0-0000-4000-8000-000000000002',
  bes: [...boot.bes, rec.be],
  bootfs: 'rpool/ROOT/default',
  entryFile: 'kldload-upgrade-20261201T101500Z.conf',
  espPath: '/boot/efi',
  now: '2026-12-01T10:30:00.000Z',
};

test('confirm: the new BE booted to multi-user → made the default (entry + bootfs), status done', () => {
  const plan = planConfirm(after);
  golden('upgrade-confirm-promote', plan);
  const v = confirmVerdict(after);
  assert.equal(v.verdict, 'promote');
  assert.equal(v.record?.status, 'done');
  assert.equal(v.record?.finished, after.now);
  // The record the plan writes is the verdict's, byte for byte.
  const w = plan.steps.at(-1)?.actions[0];
  assert.ok(w?.kind === 'write');
  assert.deepEqual(parseRecord(w.content), v.record);
});

test('confirm: the old BE booted while the upgrade was pending → failed, with what the ESP tells', () => {
  const old = {
    ...after,
    booted: 'rpool/ROOT/default',
    entryFile: 'kldload-upgrade-20261201T101500Z+2-1.conf',
  };
  const v = confirmVerdict(old);
  assert.equal(v.verdict, 'failed');
  assert.equal(v.record?.status, 'failed');
  assert.match(
    v.why,
    /^booted default instead of upgrade-20261201T101500Z: its entry kldload-upgrade-20261201T101500Z\+2-1\.conf shows 1 boot attempt\(s\) that never reached multi-user .*The default boot entry is unchanged; nothing was destroyed \(kbe destroy upgrade-20261201T101500Z removes it\)$/,
  );
  golden('upgrade-confirm-failed', planConfirm(old));
  assert.match(
    confirmVerdict({ ...old, entryFile: undefined }).why,
    /its boot entry is no longer on the ESP/,
  );
  assert.match(
    confirmVerdict({ ...old, entryFile: 'kldload-upgrade-20261201T101500Z.conf' }).why,
    /was marked good .*kbe activate upgrade-20261201T101500Z/,
  );
});

test('confirm: nothing to decide, or not yet', () => {
  assert.equal(confirmVerdict({ ...after, record: undefined }).verdict, 'none');
  assert.equal(confirmVerdict({ ...after, record: { ...rec, status: 'done' } }).verdict, 'none');
  assert.equal(confirmVerdict({ ...after, record: { ...rec, status: 'failed' } }).verdict, 'none');
  // Same boot as kupgrade (the unit restarted by hand): no verdict before a reboot.
  assert.match(confirmVerdict({ ...after, bootId: rec.bootId }).why, /has not rebooted/);
  // Booted the old BE but the loader never read the one-shot (firmware booted another path): wait.
  const w = confirmVerdict({ ...after, booted: 'rpool/ROOT/default', oneshot: rec.entry });
  assert.equal(w.verdict, 'wait');
  assert.deepEqual(planConfirm({ ...after, booted: 'rpool/ROOT/default', oneshot: rec.entry }).steps, []);
  // The old BE's copy of a record the new BE already promoted: done, no bootctl.
  const d = confirmVerdict({ ...after, booted: 'rpool/ROOT/default', bootfs: rec.be });
  assert.equal(d.verdict, 'done');
  assert.deepEqual(
    planConfirm({ ...after, booted: 'rpool/ROOT/default', bootfs: rec.be }).steps.map((s) => s.name),
    ['record'],
  );
  // Its BE destroyed meanwhile.
  assert.match(
    confirmVerdict({ ...after, booted: 'rpool/ROOT/default', bes: boot.bes }).why,
    /no longer exists/,
  );
});

test('state transitions: pending → done or failed, each once; status text says what comes next', () => {
  const promoted = confirmVerdict(after).record;
  assert.ok(promoted);
  assert.equal(confirmVerdict({ ...after, record: promoted }).verdict, 'none');
  const failed = confirmVerdict({ ...after, booted: 'rpool/ROOT/default' }).record;
  assert.ok(failed);
  assert.equal(confirmVerdict({ ...after, booted: rec.be, record: failed }).verdict, 'none');
  assert.match(
    renderStatus(rec, 'rpool/ROOT/default', 'rpool'),
    /next\s+reboot: the next boot runs upgrade-20261201T101500Z once/,
  );
  assert.match(
    renderStatus(failed, 'rpool/ROOT/default', 'rpool'),
    /^upgrade upgrade-20261201T101500Z: failed$/m,
  );
  assert.match(renderStatus(failed, 'rpool/ROOT/default', 'rpool'), /what\s+booted default instead of/);
  assert.match(renderStatus(undefined, 'rpool/ROOT/default', 'rpool'), /no upgrade recorded/);
  assert.deepEqual(triesOf('kldload-x+2-1.conf'), { left: 2, done: 1 });
  assert.deepEqual(triesOf('kldload-x+3.conf'), { left: 3, done: 0 });
  assert.equal(triesOf('kldload-x.conf'), undefined);
  assert.equal(idOf('kldload-upgrade-20261201T101500Z+2-1.conf'), rec.entry);
});

test('units: confirm runs after multi-user without the target waiting for it; boot-ok holds boot-complete until multi-user', () => {
  const lines = (t: string) => t.split('\n');
  assert.ok(
    lines(CONFIRM_UNIT_TEXT).includes('DefaultDependencies=no'),
    'else multi-user.target orders after it: a cycle',
  );
  assert.match(CONFIRM_UNIT_TEXT, /^After=.*\bmulti-user\.target\b.*\bboot-complete\.target\b/m);
  assert.match(CONFIRM_UNIT_TEXT, /^WantedBy=multi-user\.target$/m);
  assert.match(CONFIRM_UNIT_TEXT, /^ExecStart=\/usr\/sbin\/kldload upgrade confirm$/m);
  assert.match(BOOT_OK_UNIT_TEXT, /^After=multi-user\.target$/m);
  assert.match(BOOT_OK_UNIT_TEXT, /^Before=boot-complete\.target$/m);
  assert.match(BOOT_OK_UNIT_TEXT, /^RequiredBy=boot-complete\.target$/m);
});

test('install plan: kupgrade wrapper, the units enabled, boot counting (/etc/kernel/tries after the installer’s kernel-install) with panic=10', () => {
  const v = validateAnswersFile('test/fixtures/answers/good/basic.env');
  assert.ok(v.ok);
  const acts = planInstall(v.answers, FACTS).steps.flatMap((s) => s.actions);
  const written = (p: string) => {
    const a = acts.find((x) => x.kind === 'write' && x.path === p);
    return a?.kind === 'write' ? a.content : undefined;
  };
  assert.equal(written('/mnt/usr/sbin/kupgrade'), '#!/bin/sh\nexec /usr/sbin/kldload upgrade "$@"\n');
  assert.equal(written(`/mnt/etc/systemd/system/${CONFIRM_UNIT}`), CONFIRM_UNIT_TEXT);
  assert.equal(written(`/mnt/etc/systemd/system/${BOOT_OK_UNIT}`), BOOT_OK_UNIT_TEXT);
  assert.ok(
    acts.some(
      (a) =>
        a.kind === 'run' &&
        a.chroot &&
        a.argv.join(' ') === `systemctl enable ${CONFIRM_UNIT} ${BOOT_OK_UNIT}`,
    ),
  );
  assert.equal(written('/mnt/etc/kernel/tries'), '3\n');
  assert.match(
    written('/mnt/etc/kernel/cmdline') ?? '',
    /^root=ZFS=rpool\/ROOT\/default boot=zfs rw panic=10 /,
  );
  const idx = (pred: (a: (typeof acts)[number]) => boolean) => acts.findIndex(pred);
  // The installer's own entry is not counted (nothing older to fall back to; a first boot that
  // regenerates the initramfs would make systemd-bless-boot fail, e2e:roles 2026-12-01); every later
  // kernel-install is.
  assert.ok(
    idx((a) => a.kind === 'write' && a.path === '/mnt/etc/kernel/tries') >
      idx((a) => a.kind === 'run' && a.argv.join(' ').includes('kernel-install add')),
    'the installer’s own entry is not boot-counted; later ones are',
  );
  // ZFSBootMenu has no boot counting: no tries file, and no panic=10 (it would only loop).
  const zbm = planInstall(v.answers, { ...FACTS, zbm: '/run/live/medium/zbm.efi' }).steps.flatMap(
    (s) => s.actions,
  );
  assert.ok(!zbm.some((a) => a.kind === 'write' && a.path === '/mnt/etc/kernel/tries'));
  const cmd = zbm.find((a) => a.kind === 'write' && a.path === '/mnt/etc/kernel/cmdline');
  assert.ok(cmd?.kind === 'write' && !cmd.content.includes('panic='));
});
