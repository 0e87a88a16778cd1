/**
 * Golden images: the capture plan (kexport's seal + streams, sums, manifest), the folder check the
 * build and the installer share, and the install plan that receives a golden image instead of
 * unpacking the base image.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { validateAnswersFile } from '../../src/answers/validate.ts';
import { renderPlan } from '../../src/core/plan.ts';
import type { ExportFacts } from '../../src/day2/export.ts';
import { type GoldenFacts, goldenManifest, planGoldenCapture } from '../../src/fleet/golden-capture.ts';
import { checkGoldenDir, type GoldenManifest, GoldenManifestSchema } from '../../src/layout-image.ts';
import { planInstall } from '../../src/plan/install-plan.ts';
import { golden, K } from './day2-golden.ts';
import { matchesGolden } from './golden.ts';
import { FACTS } from './plan-facts.ts';

const MiB = 1024 * 1024;
const stamp = '20261122-031800';
const copy: ExportFacts = {
  boot: {
    pool: 'rpool',
    bes: ['rpool/ROOT/default'],
    booted: 'rpool/ROOT/default',
    esp: { path: '/boot/efi', freeBytes: 300 * MiB, files: [] },
    entries: [],
    cmdline: ['boot=zfs', 'rw', 'console=ttyS0'],
    osName: 'Debian GNU/Linux 13 (trixie)',
    stamp,
  },
  name: 'default',
  root: {
    dataset: 'rpool/ROOT/default',
    rel: 'ROOT/default',
    props: { canmount: 'noauto', mountpoint: '/' },
    snapshot: `rpool/ROOT/default@kexport-${stamp}`,
    taken: true,
    bytes: 1200 * MiB,
  },
  data: [
    {
      dataset: 'rpool/srv/www',
      rel: 'srv/www',
      props: { mountpoint: '/srv/www', recordsize: '16K' },
      snapshot: `rpool/srv/www@kexport-${stamp}`,
      taken: true,
      bytes: MiB,
    },
    {
      dataset: 'rpool/var/log',
      rel: 'var/log',
      props: {},
      snapshot: `rpool/var/log@kexport-${stamp}`,
      taken: true,
      bytes: 0,
      skeleton: true,
    },
    {
      dataset: 'rpool/var/log/nginx',
      rel: 'var/log/nginx',
      props: { recordsize: '128K' },
      snapshot: `rpool/var/log/nginx@kexport-${stamp}`,
      taken: true,
      bytes: 0,
      skeleton: true,
    },
  ],
  tree: [
    { dataset: 'rpool/home', rel: 'home', props: { mountpoint: '/home' } },
    { dataset: 'rpool/srv', rel: 'srv', props: { mountpoint: '/srv' } },
    { dataset: 'rpool/srv/certs', rel: 'srv/certs', props: { mountpoint: '/srv/certs', recordsize: '4K' } },
    { dataset: 'rpool/srv/www', rel: 'srv/www', props: { mountpoint: '/srv/www', recordsize: '16K' } },
    { dataset: 'rpool/var', rel: 'var', props: { canmount: 'off', mountpoint: '/var' } },
    { dataset: 'rpool/var/log', rel: 'var/log', props: {} },
    { dataset: 'rpool/var/log/nginx', rel: 'var/log/nginx', props: { recordsize: '128K' } },
  ],
  poolFs: { compression: 'lz4' },
  ashift: '12',
  kernel: K,
  kernels: [K],
  formats: [],
  outDir: '/var/tmp',
  base: `kldload-default-${stamp}`,
  outFree: 20 * 1024 * MiB,
  espGuid: '0b5e8f3c-1111-4222-8333-944445555666',
  espVolumeId: '1A2B3C4D',
  golden: true,
};
const g: GoldenFacts = { copy, name: 'web-golden', host: 'web-01', roles: ['50-web.sh'] };

test('image capture: kexport seal, the golden extras before @sealed, one stream per dataset, sums, manifest, tidy', () => {
  const plan = planGoldenCapture(g);
  golden('golden-capture', plan);
  const names = plan.steps.map((s) => s.name);
  assert.ok(names.indexOf('golden-seal') < names.indexOf('sealed-snapshot'));
  const text = renderPlan(plan, '/');
  // Log datasets lose their files, not their folders; the web content is not touched.
  assert.match(text, /find \/run\/kldload\/export\/\S+\/data-1 -xdev -mindepth 1 '!' -type d -delete/);
  assert.doesNotMatch(text, /data-0 -xdev -mindepth 1 '!' -type d/);
  assert.match(text, /rm -f \S+\/etc\/kldload\/role-secrets.env \S+\/etc\/kernel\/tries/);
  for (const f of ['root.zfs', 'data-0.zfs', 'data-1.zfs', 'data-2.zfs'])
    assert.ok(text.includes(`/var/tmp/web-golden/${f}`));
});

test('the manifest a capture writes is what the build and the installer read', () => {
  const m = GoldenManifestSchema.parse(goldenManifest(g));
  assert.deepEqual(
    m.streams.map((s) => [s.kind, s.rel, s.file]),
    [
      ['root', 'ROOT/default', 'root.zfs'],
      ['data', 'srv/www', 'data-0.zfs'],
      ['skeleton', 'var/log', 'data-1.zfs'],
      ['skeleton', 'var/log/nginx', 'data-2.zfs'],
    ],
  );
  // The tree lists what is made empty: never a dataset that is also sent.
  assert.deepEqual(
    m.tree.map((t) => t.rel),
    ['home', 'srv', 'srv/certs', 'var'],
  );
});

function folder(m: unknown, files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'golden-'));
  writeFileSync(join(dir, 'manifest.json'), typeof m === 'string' ? m : JSON.stringify(m));
  for (const [n, c] of Object.entries(files)) writeFileSync(join(dir, n), c);
  return dir;
}

test('a golden folder is refused with the reason: no manifest, not JSON, wrong format, a stream missing or unsummed', () => {
  const m = goldenManifest(g);
  const sums = ['root.zfs', 'data-0.zfs', 'data-1.zfs', 'data-2.zfs']
    .map((f) => `${'a'.repeat(64)}  ${f}`)
    .join('\n');
  const streams = { 'root.zfs': 'r', 'data-0.zfs': 'd', 'data-1.zfs': 'l', 'data-2.zfs': 'n' };
  const cases: [string, string, RegExp][] = [
    ['good', folder(m, { ...streams, SHA256SUMS: sums }), /^ok$/],
    ['not JSON', folder('{', { ...streams, SHA256SUMS: sums }), /manifest.json is not JSON/],
    ['format', folder({ ...m, format: 'other/1' }, { ...streams, SHA256SUMS: sums }), /format/],
    ['missing', folder(m, { 'root.zfs': 'r', SHA256SUMS: sums }), /data-0.zfs \(srv\/www\) is missing/],
    [
      'unsummed',
      folder(m, { ...streams, SHA256SUMS: sums.split('\n').slice(1).join('\n') }),
      /root.zfs has no line in SHA256SUMS/,
    ],
    ['no sums', folder(m, streams), /no SHA256SUMS/],
  ];
  try {
    for (const [what, dir, re] of cases) {
      const r = checkGoldenDir(dir);
      assert.match(r.ok ? 'ok' : r.why, re, what);
    }
    assert.match((checkGoldenDir('/nonexistent-golden') as { why: string }).why, /not a folder/);
  } finally {
    for (const [, dir] of cases) rmSync(dir, { recursive: true, force: true });
  }
});

test('install from a golden image: streams received in tree order, nothing unpacked, the identity made here', () => {
  const v = validateAnswersFile('test/fixtures/answers/good/basic.env');
  assert.ok(v.ok);
  const manifest: GoldenManifest = goldenManifest(g);
  const f = { ...FACTS, kabi: K, golden: { dir: '/run/live/medium/kldload/golden', manifest } };
  const plan = planInstall(v.answers, f);
  const text = `${renderPlan(plan, f.root)}\n`;
  matchesGolden('test/fixtures/plans-golden/basic-golden.plan.txt', text);
  assert.doesNotMatch(text, /unsquashfs/);
  const at = (s: string) => {
    const i = text.indexOf(s);
    assert.ok(i >= 0, `${s} not in the plan`);
    return i;
  };
  const recv = (rel: string) =>
    at(`/golden/${manifest.streams.find((s) => s.rel === rel)?.file} | zfs receive`);
  // The root first and mounted before anything mounts below it; parents before children.
  assert.match(
    text,
    /cat \/run\/live\/medium\/kldload\/golden\/root.zfs \| zfs receive -u -o canmount=noauto -o mountpoint=\/ rpool\/ROOT\/default/,
  );
  assert.ok(recv('ROOT/default') < at('zfs create -o mountpoint=/home rpool/home'));
  assert.ok(at('zfs create -o mountpoint=/srv rpool/srv') < recv('srv/www'));
  assert.ok(recv('var/log') < recv('var/log/nginx'));
  assert.ok(at('zfs create -o mountpoint=/srv/certs -o recordsize=4K rpool/srv/certs') > 0);
  assert.match(text, /rm -f \/mnt\/etc\/kldload\/reidentify/);
  // The user may exist in the image, its home never does (home is made empty): made before the keys.
  assert.ok(at('useradd') < at('chroot /mnt mkhomedir_helper admin'));
  assert.ok(at('chroot /mnt mkhomedir_helper admin') < at('] network:'));
  assert.match(text, /KLDLOAD_GOLDEN=web-golden/);
  assert.match(text, new RegExp(`kernel-install ${K.replace(/[.+]/g, '\\$&')}`));
});
