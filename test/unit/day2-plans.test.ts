/**
 * Day-2 planners (kbe, ksnap rollback): fixed facts → plan text, compared with
 * test/fixtures/day2-plans/*.plan.txt (see day2-golden.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EXIT } from '../../src/core/errors.ts';
import { planBeActivate, planBeCreate, planBeDestroy } from '../../src/day2/be.ts';
import { type BootFacts, idOf, parseEntry } from '../../src/day2/be-entry.ts';
import { type MountFact, planBeMount, planBeUmount } from '../../src/day2/be-mount.ts';
import { planBeRename, renameEntry } from '../../src/day2/be-rename.ts';
import { planRollback } from '../../src/day2/snap.ts';
import { golden, K, kernel, MiB, refused } from './day2-golden.ts';

const entries = [
  parseEntry(
    '0123456789abcdef0123456789abcdef-6.12.57+deb13-amd64.conf',
    `title Debian GNU/Linux 13 (trixie)\nversion ${K}\noptions root=ZFS=rpool/ROOT/default boot=zfs rw console=ttyS0\nlinux /0123456789abcdef0123456789abcdef/${K}/linux\ninitrd /0123456789abcdef0123456789abcdef/${K}/initrd.img-${K}\n`,
  ),
  parseEntry(
    'kldload-test+2-1.conf',
    `options root=ZFS=rpool/ROOT/test boot=zfs rw\nlinux /kldload/aaaaaaaaaaaaaaaa-linux\ninitrd /kldload/bbbbbbbbbbbbbbbb-initrd\n`,
  ),
  parseEntry(
    'kldload-old.conf',
    `options root=ZFS=rpool/ROOT/old boot=zfs rw\nlinux /kldload/aaaaaaaaaaaaaaaa-linux\ninitrd /kldload/cccccccccccccccc-initrd\n`,
  ),
];
const facts: BootFacts = {
  pool: 'rpool',
  bes: ['rpool/ROOT/default', 'rpool/ROOT/test', 'rpool/ROOT/old'],
  booted: 'rpool/ROOT/default',
  esp: {
    path: '/boot/efi',
    freeBytes: 300 * MiB,
    files: ['aaaaaaaaaaaaaaaa-linux', 'bbbbbbbbbbbbbbbb-initrd', 'cccccccccccccccc-initrd'],
  },
  entries,
  cmdline: ['boot=zfs', 'rw', 'console=ttyS0'],
  osName: 'Debian GNU/Linux 13 (trixie)',
  stamp: '20261122-031800',
};

test('entry files: boot-counting suffix is not part of the id; root and files are read', () => {
  assert.equal(idOf('kldload-test+2-1.conf'), 'kldload-test.conf');
  assert.equal(idOf('kldload-test+3.conf'), 'kldload-test.conf');
  assert.equal(idOf('abc-6.12.57+deb13-amd64.conf'), 'abc-6.12.57+deb13-amd64.conf');
  assert.equal(entries[1]?.root, 'rpool/ROOT/test');
  assert.deepEqual(entries[1]?.files, [
    '/kldload/aaaaaaaaaaaaaaaa-linux',
    '/kldload/bbbbbbbbbbbbbbbb-initrd',
  ]);
});

test('kbe create: snapshot of the booted BE, clone, own root= and token, shared ESP files, +3 entry', () => {
  golden('be-create', planBeCreate(facts, { name: 'before-risky-change', kernel }));
  // A kernel pair not yet on the ESP is copied.
  const fresh = { ...kernel, initrd: { ...kernel.initrd, sha256: 'd'.repeat(64) } };
  golden(
    'be-create-from',
    planBeCreate(facts, { name: 'fromsnap', from: 'rpool/ROOT/test@kpkg-1', kernel: fresh }),
  );
});

test('kbe create refuses before any write: bad name, existing BE, foreign snapshot, full ESP', () => {
  refused(() => planBeCreate(facts, { name: 'a b', kernel }), /boot environment name "a b"/);
  refused(() => planBeCreate(facts, { name: 'test', kernel }), /boot environment test exists/);
  refused(
    () => planBeCreate(facts, { name: 'x', from: 'rpool/home@a', kernel }),
    /not a snapshot of a boot environment/,
  );
  const fresh = { ...kernel, initrd: { ...kernel.initrd, sha256: 'e'.repeat(64) } };
  refused(
    () =>
      planBeCreate({ ...facts, esp: { ...facts.esp, freeBytes: 45 * MiB } }, { name: 'x', kernel: fresh }),
    /has 45\.0 MiB free; BE x needs 40\.0 MiB more \(\+8\.0 MiB kept free\)\. Destroy a boot environment/,
    EXIT.failed,
  );
  // Identical files are shared: the same ESP with no room still fits a BE booting the same kernel.
  planBeCreate({ ...facts, esp: { ...facts.esp, freeBytes: 9 * MiB } }, { name: 'x', kernel });
});

test('kbe activate / activate --once / destroy', () => {
  golden('be-activate', planBeActivate(facts, 'test', false));
  golden('be-activate-once', planBeActivate(facts, 'test', true));
  golden('be-destroy', planBeDestroy(facts, 'test'));
  refused(() => planBeDestroy(facts, 'default'), /running boot environment/);
  refused(() => planBeActivate(facts, 'nope', true), /no boot environment nope/);
});

test('rollback: the root becomes a new BE (nothing destroyed); data in place only with the flag', () => {
  golden(
    'rollback-root',
    planRollback(facts, {
      snapshot: 'rpool/ROOT/default@kpkg-20261122-010000',
      newer: [],
      destroyNewer: false,
      kernel,
    }),
  );
  refused(
    () =>
      planRollback(facts, {
        snapshot: 'rpool/home@daily',
        newer: ['rpool/home@hourly'],
        destroyNewer: false,
      }),
    /destroys the newer snapshot\(s\) rpool\/home@hourly; add --destroy-newer/,
  );
  golden(
    'rollback-data',
    planRollback(facts, { snapshot: 'rpool/home@daily', newer: ['rpool/home@hourly'], destroyNewer: true }),
  );
  refused(
    () => planRollback(facts, { snapshot: 'rpool@x', newer: [], destroyNewer: false }),
    /name the boot environment's snapshot \(rpool\/ROOT\/default@x\)/,
  );
});

const zfsMount = (source: string, target: string): MountFact => ({ source, target, fstype: 'zfs' });
const running: MountFact[] = [
  zfsMount('rpool/ROOT/default', '/'),
  zfsMount('rpool/home', '/home'),
  { source: '/dev/vda1', target: '/boot/efi', fstype: 'vfat' },
];

test('kbe mount / umount: a BE at its folder; umount takes a chroot’s mounts below it first', () => {
  golden('be-mount', planBeMount(facts, running, 'test'));
  assert.equal(planBeMount(facts, running, 'test', '/mnt/t/').facts.dir, '/mnt/t');
  refused(
    () => planBeMount(facts, running, 'default'),
    /running boot environment: it is mounted at \/ already/,
  );
  const mounted = [...running, zfsMount('rpool/ROOT/test', '/run/kldload/be/test')];
  refused(
    () => planBeMount(facts, mounted, 'test', '/mnt'),
    /test is mounted at \/run\/kldload\/be\/test already/,
  );
  refused(
    () => planBeMount(facts, running, 'test', '/home'),
    /\/home is a mount point already \(rpool\/home\)/,
  );
  refused(
    () => planBeMount(facts, running, 'test', 'rel'),
    /rel: mount a boot environment at an absolute folder/,
  );
  refused(() => planBeMount(facts, running, 'nope'), /no boot environment nope/);
  golden(
    'be-umount',
    planBeUmount(
      facts,
      [
        ...mounted,
        { source: 'proc', target: '/run/kldload/be/test/proc', fstype: 'proc' },
        { source: 'udev', target: '/run/kldload/be/test/dev', fstype: 'devtmpfs' },
        { source: 'devpts', target: '/run/kldload/be/test/dev/pts', fstype: 'devpts' },
      ],
      'test',
    ),
  );
  refused(() => planBeUmount(facts, running, 'test'), /test is not mounted/);
  refused(() => planBeUmount(facts, running, 'default'), /running boot environment \(mounted at \/\)/);
});

// The BE test as kbe made it: its own entry, and one kernel-install wrote inside it (entry token
// kldload-test, files in /kldload-test/); LoaderEntryDefault names kbe's entry.
const withKernelInstall: BootFacts = {
  ...facts,
  entries: [
    ...entries,
    parseEntry(
      `kldload-test-${K}+3.conf`,
      `title      Debian GNU/Linux 13 (trixie)\nversion    ${K}\noptions    root=ZFS=rpool/ROOT/test boot=zfs rw\nlinux      /kldload-test/${K}/linux\ninitrd     /kldload-test/${K}/initrd.img-${K}\n`,
    ),
    parseEntry(
      'kldload-test2+3.conf',
      'title      Debian (BE test2)\noptions    root=ZFS=rpool/ROOT/test2 boot=zfs rw\nlinux      /kldload/aaaaaaaaaaaaaaaa-linux\n',
    ),
  ],
  bes: [...facts.bes, 'rpool/ROOT/test2'],
};

test('kbe rename: dataset, root= and entry token inside, entries and their folder, the loader default', () => {
  golden(
    'be-rename',
    planBeRename(
      withKernelInstall,
      running,
      { default: 'kldload-test.conf', oneshot: 'kldload-old.conf' },
      'test',
      'attic',
    ),
  );
  // The installer's BE (machine-id entries, no entry token), renamed while another BE runs: its entry
  // is rewritten in place under the same name, so the loader's default (that id) needs no change.
  golden(
    'be-rename-installer',
    planBeRename(
      { ...facts, booted: 'rpool/ROOT/test' },
      [zfsMount('rpool/ROOT/test', '/')],
      { default: '0123456789abcdef0123456789abcdef-6.12.57+deb13-amd64.conf' },
      'default',
      'first',
    ),
  );
  refused(
    () => planBeRename(facts, running, {}, 'default', 'x'),
    /default is the running boot environment; boot another one/,
  );
  refused(
    () => planBeRename(facts, running, {}, 'test', 'old'),
    /boot environment old exists \(rpool\/ROOT\/old\)/,
  );
  refused(
    () => planBeRename(facts, [...running, zfsMount('rpool/ROOT/test', '/mnt')], {}, 'test', 'x'),
    /test is mounted at \/mnt; kbe umount test first/,
  );
  refused(() => planBeRename(facts, running, {}, 'test', 'a:b'), /boot environment name "a:b"/);
  refused(() => planBeRename(facts, running, {}, 'test', 'test'), /the same name/);
});

test('kbe rename rewrites only the BE’s own words: root=ZFS= exactly, its folder, kbe’s title', () => {
  const text =
    'title x (BE test)\noptions root=ZFS=rpool/ROOT/test root=ZFS=rpool/ROOT/test2 quiet\nlinux /kldload-test/6/linux\ninitrd /kldload-test2/6/initrd\n';
  assert.equal(
    renameEntry(text, facts, 'test', 'b'),
    'title x (BE b)\noptions root=ZFS=rpool/ROOT/b root=ZFS=rpool/ROOT/test2 quiet\nlinux /kldload-b/6/linux\ninitrd /kldload-test2/6/initrd\n',
  );
  // test2's entries are not test's: planning a rename of test leaves kldload-test2+3.conf alone.
  const plan = planBeRename(withKernelInstall, running, {}, 'test', 'b');
  assert.ok(!JSON.stringify(plan.steps).includes('kldload-test2'), 'touched test2');
});

test('BE names are lower case: systemd-boot folds the one-shot id to lower case, not a boot-counted entry id', () => {
  // Seen in QEMU (e2e:day2): LoaderEntryOneShot=kldload-upgrade-20261130T141603Z.conf for the entry
  // kldload-upgrade-20261130T141603Z+3.conf, and systemd-boot 257 booted the default instead.
  refused(
    () => planBeCreate(facts, { name: 'Trial', kernel }),
    /boot environment name "Trial": .*lower case/,
  );
  const real = { ...facts, stamp: '20261130T141603Z' };
  const rb = planRollback(real, {
    snapshot: 'rpool/ROOT/default@kpkg-20261122-010000',
    newer: [],
    destroyNewer: false,
    kernel,
  });
  assert.equal(rb.facts.be, 'rpool/ROOT/rollback-20261130t141603z');
});
