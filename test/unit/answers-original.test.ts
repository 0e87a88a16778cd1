/**
 * Answers files of the original kldload. test/fixtures/answers/original/*.env are its Debian example
 * files as its users have them (plus one written against its full template): each validates, every
 * warning names its key and why it has no effect, and the plan is the one the original meant
 * (golden: test/fixtures/plans/original/*.plan.txt; KLDLOAD_UPDATE_GOLDEN=1 to accept a change).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ORIGINAL_INERT } from '../../src/answers/original.ts';
import { validateAnswersText } from '../../src/answers/validate.ts';
import { answersValidate } from '../../src/cli/commands/answers.ts';
import { type Action, renderPlan } from '../../src/core/plan.ts';
import { PICKED_DISK } from '../../src/plan/disks.ts';
import { planInstall } from '../../src/plan/install-plan.ts';
import { cli } from './cli-helper.ts';
import { matchesGolden } from './golden.ts';
import { FACTS } from './plan-facts.ts';

const ORIGINAL = 'test/fixtures/answers/original';
const GOLDEN = 'test/fixtures/plans/original';
const files = readdirSync(ORIGINAL)
  .filter((f) => f.endsWith('.env'))
  .sort();

function load(name: string) {
  const path = join(ORIGINAL, name);
  const v = validateAnswersText(readFileSync(path, 'utf8'), path);
  assert.ok(v.ok, `${name}: ${v.ok ? '' : v.errors.map((e) => e.text).join('\n')}`);
  return v;
}

const actions = (a: Parameters<typeof planInstall>[0]) =>
  planInstall(a, FACTS).steps.flatMap((s) => s.actions);
const argvs = (acts: Action[]) => acts.flatMap((x) => (x.kind === 'run' ? [x.argv.join(' ')] : []));
const written = (acts: Action[], path: string) =>
  acts.find((x): x is Extract<Action, { kind: 'write' }> => x.kind === 'write' && x.path === path)?.content;

test("the original's Debian examples are all here", () => {
  assert.deepEqual(files, [
    'server-debian.env',
    'template-master.env',
    'template-options.env',
    'template-storage.env',
    'zfs-encrypted.env',
  ]);
});

for (const name of files) {
  test(`original/${name} validates; each warning names its key and why it has no effect`, () => {
    const v = load(name);
    const text = readFileSync(join(ORIGINAL, name), 'utf8');
    const inertPresent = text
      .split('\n')
      .map((l) => /^([A-Z_0-9]+)=/.exec(l)?.[1])
      .filter((k): k is string => !!k && k in ORIGINAL_INERT);
    const inertWarned = v.warnings.filter((w) => w.message.startsWith('has no effect here: '));
    assert.deepEqual(
      inertWarned.map((w) => w.key),
      inertPresent,
      'exactly one warning per inapplicable key',
    );
    for (const w of v.warnings) {
      assert.ok(w.key && w.line, `warning without key or line: ${w.text}`);
      assert.equal(w.text, `${w.file}:${w.line}: ${w.key}: ${w.message}`);
      assert.ok(w.message.length > 30, `says why: ${w.text}`);
    }
  });

  test(`golden plan: original/${name}`, () => {
    const text = `${renderPlan(planInstall(load(name).answers, FACTS), FACTS.root)}\n`;
    matchesGolden(join(GOLDEN, name.replace(/\.env$/, '.plan.txt')), text);
  });
}

test('server-debian: the disk is picked at preflight, the admin is admin, a placeholder password is flagged', () => {
  const v = load('server-debian.env');
  const a = v.answers;
  assert.equal(a.KLDLOAD_DISK, undefined, 'KLDLOAD_DISK= empty means: pick it');
  const plan = planInstall(a, FACTS);
  const pre = plan.steps[0];
  assert.equal(pre?.name, 'preflight');
  assert.match(pre?.title ?? '', /pick the target disk/);
  const check = pre?.actions.find((x) => x.kind === 'check' && x.check === 'disk-safe');
  assert.ok(check?.kind === 'check' && check.check === 'disk-safe');
  assert.deepEqual(check.args.disks, [PICKED_DISK]);
  assert.match(check.why, /KLDLOAD_DISK is empty: the one eligible disk is picked here/);
  assert.ok(argvs(actions(a)).some((c) => c.endsWith(`rpool ${PICKED_DISK}2`)));
  // Once the installer has picked a disk, the plan names it and the manifest records it.
  const picked = planInstall(a, { ...FACTS, pickedDisk: '/dev/disk/by-id/ata-QEMU_HARDDISK_QM00001' });
  const pickedText = renderPlan(picked, FACTS.root);
  assert.ok(!pickedText.includes(PICKED_DISK));
  assert.match(pickedText, /was picked at preflight as the one eligible disk/);
  assert.match(pickedText, /KLDLOAD_DISK=\/dev\/disk\/by-id\/ata-QEMU_HARDDISK_QM00001\n/);
  assert.ok(
    v.warnings.some((w) => w.key === 'KLDLOAD_PASSWORD' && /placeholder/.test(w.message)),
    'CHANGE-ME is flagged',
  );
  assert.ok(!v.warnings.some((w) => w.text.includes('CHANGE-ME')), 'a password is never echoed');
});

test('zfs-encrypted: encrypted pool, ashift 12, root password, wipe', () => {
  const a = load('zfs-encrypted.env').answers;
  const cmds = argvs(actions(a));
  const create = cmds.find((c) => c.startsWith('zpool create'));
  assert.match(create ?? '', /-o ashift=12 .*-O encryption=aes-256-gcm .* rpool \/dev\/sda2$/);
  assert.ok(cmds.includes('wipefs --all --force /dev/sda'), 'KLDLOAD_FORCE_WIPE=1 wipes');
  assert.equal(a.KLDLOAD_ROOT_PASSWORD, 'changeme');
  assert.equal(a.KLDLOAD_DEBIAN_SUITE, 'trixie');
});

test('template-storage: the address and KLDLOAD_NET_PREFIX make one static address', () => {
  const a = load('template-storage.env').answers;
  assert.equal(a.KLDLOAD_NET_IP, '10.100.10.22/24');
  assert.equal(
    written(actions(a), '/mnt/etc/systemd/network/20-kldload.network'),
    '[Match]\nName=ens18\n\n[Network]\nAddress=10.100.10.22/24\nGateway=10.100.10.1\nDNS=1.1.1.1\nDNS=8.8.8.8\n',
  );
});

test("template-options: the original's keys that apply here take effect", () => {
  const a = load('template-options.env').answers;
  const acts = actions(a);
  assert.equal(a.KLDLOAD_USERNAME, 'admin', "the original's default user");
  assert.equal(a.KLDLOAD_PASSWORD, 'Tr0ub4dor #3 and more', 'quoted: kept whole');
  assert.match(written(acts, '/mnt/etc/default/keyboard') ?? '', /XKBVARIANT="dvorak"/);
  assert.equal(written(acts, '/mnt/boot/efi/loader/loader.conf'), 'timeout menu-force\neditor no\n');
  assert.match(argvs(acts).find((c) => c.startsWith('zpool create')) ?? '', /-o ashift=13 /);
  assert.equal(
    written(acts, '/mnt/home/admin/.ssh/authorized_keys'),
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdDaCPcK9zJTekXG0nVhqf02hciW6katRpNDpGHZFbr admin@laptop\n',
  );
  assert.equal(written(acts, '/mnt/etc/apt/sources.list.d/debian-backports.sources'), undefined);
  assert.match(argvs(acts).join('\n'), /sgdisk -n1:1M:\+2048M/);
  assert.match(
    written(acts, '/mnt/etc/kldload/install-manifest.env') ?? '',
    /\nKLDLOAD_DOMAIN=build-07\.lab\.example\.net\n/,
  );
});

const MIN = 'KLDLOAD_HOSTNAME=nas-01\nKLDLOAD_PASSWORD=correct horse\n';

test("regression: the original's two-disk mirror (ESP on sda, pool on sdb+sdc) never becomes a three-way mirror", () => {
  for (const list of ['/dev/sdb /dev/sdc', '"/dev/sdb /dev/sdc"']) {
    const v = validateAnswersText(
      `${MIN}KLDLOAD_DISK=/dev/sda\nKLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_ZFS_DATA_DISKS=${list}\n`,
    );
    if (v.ok)
      assert.ok(
        !argvs(actions(v.answers)).some((c) => / mirror \/dev\/sda2 \/dev\/sdb2 \/dev\/sdc2$/.test(c)),
        'three-way mirror',
      );
    assert.equal(v.ok, false, `refused as ambiguous: ${list}`);
    if (!v.ok) {
      assert.deepEqual(
        v.errors.map((e) => [e.line, e.key]),
        [[5, 'KLDLOAD_ZFS_DATA_DISKS']],
      );
      assert.match(v.errors[0]?.message ?? '', /ambiguous.*KLDLOAD_DISK=\/dev\/sdb/);
    }
  }
  // The fix the message offers: the pool on the two disks, the boot partition on one of them.
  const v = validateAnswersText(
    `${MIN}KLDLOAD_DISK=/dev/sdb\nKLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_ZFS_DATA_DISKS=/dev/sdb /dev/sdc\n`,
  );
  assert.ok(v.ok);
  assert.match(
    argvs(actions(v.answers)).find((c) => c.startsWith('zpool create')) ?? '',
    / rpool mirror \/dev\/sdb2 \/dev\/sdc2$/,
  );
  // With KLDLOAD_DISK empty the first listed disk carries the boot partition.
  const e = validateAnswersText(
    `${MIN}KLDLOAD_DISK=\nKLDLOAD_ZFS_TOPOLOGY=mirror\nKLDLOAD_ZFS_DATA_DISKS=/dev/sdb /dev/sdc\n`,
  );
  assert.ok(e.ok);
  const text = renderPlan(planInstall(e.answers, FACTS), '/mnt');
  assert.match(text, / rpool mirror \/dev\/sdb2 \/dev\/sdc2/);
  assert.match(text, /boot partition goes on \/dev\/sdb, the first of KLDLOAD_ZFS_DATA_DISKS/);
});

test('mirror-stripe: mirrored pairs in the order listed', () => {
  const v = validateAnswersText(
    `${MIN}KLDLOAD_ZFS_TOPOLOGY=mirror-stripe\nKLDLOAD_ZFS_DATA_DISKS=/dev/vda /dev/vdb /dev/vdc /dev/vdd\n`,
  );
  assert.ok(v.ok);
  assert.match(
    argvs(actions(v.answers)).find((c) => c.startsWith('zpool create')) ?? '',
    / rpool mirror \/dev\/vda2 \/dev\/vdb2 mirror \/dev\/vdc2 \/dev\/vdd2$/,
  );
});

test('no password and no SSH key stays an error; KLDLOAD_ADMIN_SSH_KEYS counts as a key', () => {
  const none = validateAnswersText('KLDLOAD_HOSTNAME=a\nKLDLOAD_DISK=/dev/vda\n');
  assert.equal(none.ok, false);
  if (!none.ok) assert.match(none.errors[0]?.message ?? '', /no way to log in/);
  const keys =
    'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdDaCPcK9zJTekXG0nVhqf02hciW6katRpNDpGHZFbr a@x\\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdDaCPcK9zJTekXG0nVhqf02hciW6katRpNDpGHZFbr b@y';
  const v = validateAnswersText(
    `KLDLOAD_HOSTNAME=a\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_ADMIN_SSH_KEYS=${keys}\n`,
  );
  assert.ok(v.ok);
  assert.equal(v.answers.KLDLOAD_ADMIN_SSH_KEYS?.length, 2);
});

test('keys neither ours nor the original are errors with a did-you-mean; inapplicable ones warn once', () => {
  const v = validateAnswersText(
    `${MIN}KLDLOAD_DISK=/dev/vda\nKLDLOAD_WIFI_PSK=hunter2hunter2\nKLDLOAD_ZFS_ASHFIT=12\n`,
  );
  assert.equal(v.ok, false);
  if (v.ok) return;
  assert.deepEqual(
    v.errors.map((e) => e.message),
    ['unknown answer; did you mean KLDLOAD_ZFS_ASHIFT?'],
  );
  assert.deepEqual(
    v.warnings.map((w) => [w.line, w.key]),
    [[4, 'KLDLOAD_WIFI_PSK']],
  );
  assert.ok(!v.warnings[0]?.text.includes('hunter2hunter2'), 'a secret value is never shown');
});

test('answers validate: warnings in --json and on stderr in text mode', async () => {
  const file = join(ORIGINAL, 'server-debian.env');
  const r = await answersValidate(file);
  assert.equal(r.exitCode, 0);
  const json = r.json as { ok: boolean; warnings: { key: string; line: number; message: string }[] };
  assert.equal(json.ok, true);
  assert.deepEqual(
    json.warnings.map((w) => w.key),
    ['KLDLOAD_PASSWORD', 'KLDLOAD_ENABLE_SECURE_BOOT', 'KLDLOAD_BUILD_IMAGES'],
  );
  // The real CLI: warnings on stderr, the verdict on stdout.
  const out = cli(['answers', 'validate', file], { via: 'tsx' });
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout, `${file}: ok (3 warnings)\n`);
  assert.equal(out.stderr.split('\n').filter((l) => l.startsWith(`warning: ${file}:`)).length, 3, out.stderr);
  assert.match(
    out.stderr,
    /server-debian\.env:13: KLDLOAD_ENABLE_SECURE_BOOT: has no effect here: Secure Boot/,
  );
});

test('KLDLOAD_ZFS_SPECIAL_DISKS naming disks is refused with the line and the fix; empty it is only a warning', () => {
  const base =
    'KLDLOAD_HOSTNAME=a\nKLDLOAD_DISK=/dev/vda\nKLDLOAD_USERNAME=admin\nKLDLOAD_PASSWORD=xx-Secret-77\n';
  const set = validateAnswersText(`${base}KLDLOAD_ZFS_SPECIAL_DISKS=/dev/vdb /dev/vdc\n`, 'a.env');
  assert.ok(!set.ok);
  assert.match(
    set.errors.map((e) => e.text).join('\n'),
    /a\.env:5: KLDLOAD_ZFS_SPECIAL_DISKS: names disks for a special vdev, which this installer does not create .*zpool add <pool> special mirror/,
  );
  const empty = validateAnswersText(`${base}KLDLOAD_ZFS_SPECIAL_DISKS=\n`, 'a.env');
  assert.ok(empty.ok);
  assert.match(empty.warnings.map((w) => w.text).join('\n'), /KLDLOAD_ZFS_SPECIAL_DISKS: has no effect here/);
});
