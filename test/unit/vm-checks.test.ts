import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { validateAnswersText } from '../../src/answers/validate.ts';
import { type Expect, evaluate, parseReport } from '../../src/vm/checks.ts';
import { overrideAnswers, testAnswers } from '../../src/vm/test-answers.ts';

// A report captured from a real installed guest (kldload test, 2026-11-22), trimmed to what checks read.
const REPORT = readFileSync('test/fixtures/vm/report-boot1.txt', 'utf8');
const expect = {
  pool: 'rpool',
  secrets: ['kl-test-Secret-7'],
  postinstallRuns: 1,
  extra: ['tree'],
  roles: ['web', 'postgres'],
};

test('a real guest report passes every check', () => {
  const results = evaluate(parseReport(REPORT), expect);
  assert.ok(results.length >= 10);
  for (const r of results) assert.ok(r.ok, `${r.name}: ${r.detail}`);
});

function failing(mutate: (text: string) => string, extra: Partial<Expect> = {}): string[] {
  return evaluate(parseReport(mutate(REPORT)), { ...expect, ...extra })
    .filter((r) => !r.ok)
    .map((r) => r.name);
}

test('each check fails on the fault it names', () => {
  assert.deepEqual(
    failing((t) => t.replace('rpool/ROOT/default zfs', 'rpool/ROOT/other zfs')),
    ['root is the boot environment on zfs'],
  );
  assert.deepEqual(
    failing((t) => t.replace('rpool/tmp\texec\toff\tlocal', 'rpool/tmp\texec\ton\tdefault')),
    ['dataset tree and properties'],
  );
  assert.deepEqual(
    failing((t) => t.replace('rpool\txattr\ton\tlocal', 'rpool\txattr\ton\tdefault')),
    ['dataset tree and properties'],
  );
  assert.deepEqual(
    failing((t) => t.replace('rpool\tashift\t12', 'rpool\tashift\t9')),
    ['pool ashift=12 autotrim=on bootfs'],
  );
  assert.deepEqual(
    failing((t) => t.replace(/(@@initrd-hostid\nfrom=\S+\n)\S+/, '$1deadbeef')),
    ['hostid matches the initramfs'],
  );
  assert.deepEqual(
    failing((t) => t.replace('KLDLOAD_USERNAME=admin', 'KLDLOAD_PASSWORD=kl-test-Secret-7')),
    ['manifest present, mode 0640, no secrets'],
  );
  assert.deepEqual(
    failing((t) => t.replace('@@manifest-mode\n640', '@@manifest-mode\n644')),
    ['manifest present, mode 0640, no secrets'],
  );
  assert.deepEqual(
    failing((t) => t.replace('@@postinstall-runs\n1', '@@postinstall-runs\n2')),
    ['postinstall.sh ran exactly once'],
  );
  // Without the test payload's recording role: counted from firstboot.log's start lines.
  const unrecorded = (starts: string) => (t: string) =>
    t.replace('@@postinstall-runs\n1', `@@postinstall-runs\nnone\n@@firstboot-starts\n${starts}`);
  assert.deepEqual(failing(unrecorded('1')), []);
  assert.deepEqual(failing(unrecorded('2')), ['postinstall.sh ran exactly once']);
  assert.deepEqual(
    failing((t) => t.replace('@@failed\n', '@@failed\nzfs-mount.service loaded failed failed\n')),
    ['systemctl --failed is empty'],
  );
  assert.deepEqual(
    failing((t) => t.replace(/(@@snapshots\n)rpool@install-\S+\n/, '$1')),
    ['factory snapshot exists'],
  );
  assert.deepEqual(
    failing((t) => t.replace('tree install ok installed', 'tree unknown ok not-installed')),
    ['extra packages installed from the darksite'],
  );
  assert.deepEqual(
    failing((t) => t.replace('@@sources\n', '@@sources\nURIs: file:/var/lib/kldload/darksite\n')),
    ['apt sources point at the public mirror (darksite not kept)'],
  );
  assert.deepEqual(
    failing((t) => t.replace('@@pg\n42\n8K', '@@pg\n42\n128K')),
    ['postgres: psql answers, data on recordsize=8K'],
  );
  assert.deepEqual(
    failing((t) => t.replace('@@role-log\n2', '@@role-log\n1')),
    ["every role's own verification passed (web, postgres)"],
  );
  assert.deepEqual(
    failing((t) => t.replace('"status":"ok"', '"status":"failed"')),
    ['first boot status is ok'],
  );
  assert.deepEqual(
    failing((t) => t.replace('@@darksite-left\ngone', '@@darksite-left\npresent')),
    ['the darksite copy was removed after first boot'],
  );
  assert.deepEqual(
    failing((t) => t.replace('@@installer-log\nyes', '@@installer-log\nno')),
    ['installer log copied to the target'],
  );
});

test('overrideAnswers replaces keys and keeps the rest', () => {
  const out = overrideAnswers('# c\nKLDLOAD_DISK=/dev/sda\nKLDLOAD_HOSTNAME=x\n', {
    KLDLOAD_DISK: '/dev/vda',
  });
  assert.equal(out, '# c\nKLDLOAD_HOSTNAME=x\nKLDLOAD_DISK=/dev/vda\n');
});

test('the built-in test answers ask only for extras the ISO carries', () => {
  const fit = (image: Parameters<typeof testAnswers>[0]) => {
    const v = validateAnswersText(
      overrideAnswers(testAnswers(image), { KLDLOAD_DISK: '/dev/vda' }),
      'test answers',
    );
    assert.ok(v.ok, JSON.stringify(v.ok ? '' : v.errors));
    return v.answers.KLDLOAD_EXTRA_PACKAGES ?? [];
  };
  // A plain `kldload build` ISO: no --packages, so no extras (asking failed at step 'packages').
  assert.deepEqual(fit(undefined), []);
  assert.deepEqual(fit({ roles: [], extraPackages: [] }), []);
  assert.deepEqual(fit({ extraPackages: ['tree', 'htop/backports'] }), ['tree', 'htop']);
});

test('a rollback BE: root and bootfs are checked against the BE that must be running', () => {
  const healthy = (t: string) =>
    t
      .replace('rpool/ROOT/default zfs', 'rpool/ROOT/healthy zfs')
      .replace(/(rpool\tbootfs\t)rpool\/ROOT\/default/, '$1rpool/ROOT/healthy');
  assert.deepEqual(failing(healthy, { be: 'healthy' }), []);
  // Booted the old BE instead: both name it.
  assert.deepEqual(
    failing((t) => t, { be: 'healthy' }),
    ['root is the boot environment on zfs', 'pool ashift=12 autotrim=on bootfs'],
  );
});

test("a golden image's copy: no first-boot log at all counts as no start, never as one", () => {
  // The copy carries no log; the test role's record is absent too.
  const noLog = (t: string) =>
    t
      .replace(/@@postinstall-runs\n[^@]*/, '@@postinstall-runs\nnone\n')
      .replace(/@@firstboot-starts\n[^@]*/, '@@firstboot-starts\n');
  const name = (n: number) => `postinstall.sh ran exactly ${n === 1 ? 'once' : `${n} times`}`;
  assert.ok(!failing(noLog, { postinstallRuns: 0, roles: [] }).includes(name(0)));
  assert.ok(failing(noLog, { postinstallRuns: 1, roles: [] }).includes(name(1)));
});
