/**
 * Several ESPs kept in step (src/day2/esp.ts): the PARTUUIDs the install gives every disk's ESP, the
 * list it records, the facts read from a fixture tree, and the sync step the install and the day-2
 * plans end with.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { validateAnswersFile } from '../../src/answers/validate.ts';
import { EXIT } from '../../src/core/errors.ts';
import type { Action, Plan } from '../../src/core/plan.ts';
import { planBeCreate, planBeDestroy } from '../../src/day2/be.ts';
import type { BootFacts } from '../../src/day2/be-entry.ts';
import { espGuidFor, espSyncSteps, formatEspList, parseEspList } from '../../src/day2/esp.ts';
import { readEspSet } from '../../src/day2/facts.ts';
import { planInstall } from '../../src/plan/install-plan.ts';
import { kernel, MiB, refused } from './day2-golden.ts';
import { FACTS } from './plan-facts.ts';

const A = '6a2c7f3e-0b1d-4c55-9e0f-5d7c2b8a9e11';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const argvs = (p: Plan, step: string) =>
  (p.steps.find((s) => s.name === step)?.actions ?? []).flatMap((a: Action) =>
    a.kind === 'run' ? [a.argv.join(' ')] : a.kind === 'write' ? [`write ${a.path}`] : [],
  );

const base = mkdtempSync(join(tmpdir(), 'kl-esp-'));
after(() => rmSync(base, { recursive: true, force: true }));

test('every disk gets its own ESP PARTUUID: the first is the random one, the others derived, valid and distinct', () => {
  assert.equal(espGuidFor(A, 0), A);
  const others = [1, 2, 3].map((i) => espGuidFor(A, i));
  for (const g of others) assert.match(g, UUID);
  assert.equal(new Set([A, ...others]).size, 4);
  assert.equal(espGuidFor(A, 2), others[1], 'the same install facts give the same plan');
  assert.notEqual(espGuidFor('0b5e8f3c-1111-4222-8333-944445555666', 1), others[0]);
});

test('the ESP list round-trips; a bad line is refused with file:line', () => {
  const list = [A, espGuidFor(A, 1)];
  assert.deepEqual(parseEspList(formatEspList(list), '/etc/kldload/esps'), list);
  assert.deepEqual(parseEspList(`${A.toUpperCase()}\n`, 'x'), [A]);
  refused(
    () => parseEspList(`${A}\n/dev/vdb1\n`, '/etc/kldload/esps'),
    /\/etc\/kldload\/esps:2: '\/dev\/vdb1' is not a PARTUUID/,
  );
});

test('a mirror install: each disk partitioned with its listed PARTUUID, a firmware entry per disk, the others synced in the target', () => {
  const v = validateAnswersFile('test/fixtures/answers/good/mirror-encrypted.env');
  assert.ok(v.ok);
  const plan = planInstall(v.answers, { ...FACTS, disksReal: ['/dev/vda', '/dev/vdb'] });
  const parts = argvs(plan, 'partition').filter((c) => c.startsWith('sgdisk'));
  assert.equal(parts.length, 2);
  for (const [i, c] of parts.entries()) assert.match(c, new RegExp(`-u1:${espGuidFor(A, i)} `));
  const esps = plan.steps.find((s) => s.name === 'esps');
  const list = esps?.actions.find((a) => a.kind === 'write' && a.path === '/mnt/etc/kldload/esps');
  assert.ok(list?.kind === 'write');
  assert.deepEqual(parseEspList(list.content, 'esps'), [A, espGuidFor(A, 1)]);
  assert.deepEqual(argvs(plan, 'esps').slice(-2), [
    'systemctl enable kldload-esp-sync.service',
    'kldload esp sync',
  ]);
  // After the tools are in the target (the sync is kldload's own command, as after a kernel update).
  const names = plan.steps.map((s) => s.name);
  assert.ok(names.indexOf('esps') > names.indexOf('kldload-tools'));
  const fw = argvs(plan, 'bootloader').filter((c) => c.startsWith('efibootmgr'));
  assert.deepEqual(
    fw.map((c) => /--disk (\S+) .*--label (.*) --loader/.exec(c)?.slice(1)),
    [
      ['/dev/vdb', 'kldload (disk 2)'],
      ['/dev/vda', 'kldload'],
    ],
  );
});

test('one disk: the list names its ESP and nothing is synced', () => {
  const v = validateAnswersFile('test/fixtures/answers/good/basic.env');
  assert.ok(v.ok);
  assert.deepEqual(argvs(planInstall(v.answers, FACTS), 'esps'), ['write /mnt/etc/kldload/esps']);
});

/** A fixture root: /boot/efi mounted from `mounted`, partitions by PARTUUID (missing ones left out). */
function tree(name: string, o: { list?: string; mounted: string; parts: Record<string, string> }): string {
  const root = join(base, name);
  mkdirSync(join(root, 'proc/self'), { recursive: true });
  mkdirSync(join(root, 'dev/disk/by-partuuid'), { recursive: true });
  mkdirSync(join(root, 'etc/kldload'), { recursive: true });
  writeFileSync(
    join(root, 'proc/self/mountinfo'),
    `22 1 0:21 / / rw - zfs rpool/ROOT/default rw\n40 22 254:1 / /boot/efi rw,relatime - vfat ${o.mounted} rw,umask=0077\n`,
  );
  for (const [uuid, dev] of Object.entries(o.parts)) {
    writeFileSync(join(root, 'dev', dev), '');
    symlinkSync(`../../${dev}`, join(root, 'dev/disk/by-partuuid', uuid));
  }
  if (o.list !== undefined) writeFileSync(join(root, 'etc/kldload/esps'), o.list);
  return root;
}

const B = espGuidFor(A, 1);
const C = espGuidFor(A, 2);

test('facts: which listed ESP is mounted, which others are there; the sync step copies to those only and names the missing', () => {
  // Booted from the second disk of a three-way mirror whose first disk is gone.
  const root = tree('degraded', {
    list: formatEspList([A, B, C]),
    mounted: '/dev/vdb1',
    parts: { [B]: 'vdb1', [C]: 'vdc1' },
  });
  const e = readEspSet(root);
  assert.equal(e.mounted, B);
  assert.deepEqual(
    e.others.map((o) => [o.partuuid, o.present]),
    [
      [A, false],
      [C, true],
    ],
  );
  const [step] = espSyncSteps(e);
  assert.match(
    step?.title ?? '',
    new RegExp(`copy /boot/efi to the 1 other ESP \\(missing now, skipped: ${A}\\)`),
  );
  const cmds = (step?.actions ?? []).flatMap((a) => (a.kind === 'run' ? [a.argv.join(' ')] : []));
  assert.deepEqual(cmds, [
    `mount -t vfat -o umask=0077 /dev/disk/by-partuuid/${C} /run/kldload/esp-${C}`,
    `rsync -rt --checksum --delete-delay --modify-window=1 --exclude=/loader/random-seed /boot/efi/ /run/kldload/esp-${C}/`,
    `umount /run/kldload/esp-${C}`,
  ]);
});

test('facts: no list is one ESP (nothing to sync); a mounted ESP that is not listed is refused', () => {
  const one = readEspSet(tree('single', { mounted: '/dev/vda1', parts: { [A]: 'vda1' } }));
  assert.deepEqual(espSyncSteps(one), []);
  const stranger = readEspSet(
    tree('stranger', {
      list: formatEspList([A, B]),
      mounted: '/dev/vdz1',
      parts: { [A]: 'vda1', [B]: 'vdb1' },
    }),
  );
  assert.equal(stranger.mounted, undefined);
  refused(
    () => espSyncSteps(stranger),
    /\/boot\/efi is not one of the ESPs in \/etc\/kldload\/esps/,
    EXIT.badInput,
  );
});

const mirrored: BootFacts = {
  pool: 'rpool',
  bes: ['rpool/ROOT/default', 'rpool/ROOT/old'],
  booted: 'rpool/ROOT/default',
  esp: {
    path: '/boot/efi',
    freeBytes: 300 * MiB,
    files: [],
    mounted: A,
    others: [{ partuuid: B, device: `/dev/disk/by-partuuid/${B}`, present: true }],
  },
  entries: [],
  cmdline: ['boot=zfs', 'rw'],
  osName: 'Debian GNU/Linux 13 (trixie)',
  stamp: '20261122-031800',
};

test('day 2 on a machine with two ESPs: kbe create and destroy end by copying the ESP to the other', () => {
  for (const plan of [planBeCreate(mirrored, { name: 'next', kernel }), planBeDestroy(mirrored, 'old')]) {
    const last = plan.steps[plan.steps.length - 1];
    assert.equal(last?.name, 'esp-sync');
    assert.ok(
      argvs(plan, 'esp-sync').some((c) => c.startsWith('rsync ') && c.includes(`/run/kldload/esp-${B}/`)),
    );
  }
  // One ESP: the plans are as they always were.
  const single = { ...mirrored, esp: { path: '/boot/efi', freeBytes: 300 * MiB, files: [] } };
  assert.ok(!planBeCreate(single, { name: 'next', kernel }).steps.some((s) => s.name === 'esp-sync'));
});
