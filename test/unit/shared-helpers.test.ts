/**
 * The small helpers every module shares (one of each): mount tables, link-or-copy, Release sums,
 * sleep and retry.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KldloadError } from '../../src/core/errors.ts';
import { linkOrCopy, mountsUnder, parseMountinfo, unescapeMountField } from '../../src/core/fs.ts';
import { retry, sleep } from '../../src/core/time.ts';
import { parseControl, releaseSums } from '../../src/debian/control.ts';

const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '30 22 0:26 / /srv/build\\040dir rw shared:5 - tmpfs tmpfs rw',
  '31 30 0:5 / /srv/build\\040dir/proc rw - proc proc rw',
  '32 22 7:0 / /run/live/medium ro shared:9 master:2 - iso9660 /dev/sr\\0400 ro',
  '33 22 0:40 / /srv/tab\\011name rw - tmpfs  rw',
  '',
].join('\n');

test('parseMountinfo: every mount point, its source and type, octal escapes decoded, optional fields skipped', () => {
  assert.deepEqual(parseMountinfo(MOUNTINFO), [
    { target: '/', source: '/dev/sda1', fstype: 'ext4' },
    { target: '/srv/build dir', source: 'tmpfs', fstype: 'tmpfs' },
    { target: '/srv/build dir/proc', source: 'proc', fstype: 'proc' },
    { target: '/run/live/medium', source: '/dev/sr 0', fstype: 'iso9660' },
    // A mount the kernel shows no source for is still a mount (safeRemove must see it).
    { target: '/srv/tab\tname', source: '', fstype: 'tmpfs' },
  ]);
  assert.equal(unescapeMountField('a\\040b\\134c'), 'a b\\c');
});

test('mountsUnder: the mounts at or below a folder, deepest first, none beside it', () => {
  assert.deepEqual(mountsUnder('/srv/build dir', MOUNTINFO), ['/srv/build dir/proc', '/srv/build dir']);
  assert.deepEqual(mountsUnder('/srv/build', MOUNTINFO), []);
  assert.deepEqual(mountsUnder('/srv', MOUNTINFO), [
    '/srv/build dir/proc',
    '/srv/build dir',
    '/srv/tab\tname',
  ]);
});

/** Runs `fn` in a new folder below `base`, removed afterwards. */
function inTmp(base: string, fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(base, 'kl-link-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('linkOrCopy: a hard link on the same filesystem, parent folders made', () =>
  inTmp(tmpdir(), (dir) => {
    writeFileSync(join(dir, 'a'), 'payload');
    linkOrCopy(join(dir, 'a'), join(dir, 'x/y/b'));
    assert.equal(readFileSync(join(dir, 'x/y/b'), 'utf8'), 'payload');
    assert.equal(statSync(join(dir, 'x/y/b')).ino, statSync(join(dir, 'a')).ino);
  }));

test('linkOrCopy: a copy where linking fails (another filesystem)', (t) => {
  const shm = '/dev/shm';
  if (!existsSync(shm) || statSync(shm).dev === statSync(tmpdir()).dev)
    return t.skip('no /dev/shm on another filesystem than the temporary folder');
  inTmp(shm, (other) =>
    inTmp(tmpdir(), (dir) => {
      writeFileSync(join(other, 'a'), 'payload');
      linkOrCopy(join(other, 'a'), join(dir, 'b'));
      assert.equal(readFileSync(join(dir, 'b'), 'utf8'), 'payload');
      assert.notEqual(statSync(join(dir, 'b')).ino, statSync(join(other, 'a')).ino);
    }),
  );
});

test('releaseSums: path → SHA256 of each well-formed line, other fields and bad lines ignored', () => {
  const [release] = parseControl(
    [
      'Codename: trixie',
      'MD5Sum:',
      ' 0123 10 main/binary-amd64/Packages',
      'SHA256:',
      ' aaaa 1234 main/binary-amd64/Packages',
      ' bbbb 567 main/binary-amd64/Packages.gz',
      ' cccc',
      ' dddd 1 two words',
      '',
    ].join('\n'),
  );
  assert.deepEqual(
    [...releaseSums(release)],
    [
      ['main/binary-amd64/Packages', 'aaaa'],
      ['main/binary-amd64/Packages.gz', 'bbbb'],
    ],
  );
  assert.deepEqual([...releaseSums(release, 'MD5Sum')], [['main/binary-amd64/Packages', '0123']]);
  assert.equal(releaseSums(undefined).size, 0);
});

test('sleep: waits the time given; an abort ends it early without an error', async (t) => {
  // Mocked timers: the clock moves only when ticked, so no wall-clock bound is needed.
  t.mock.timers.enable({ apis: ['setTimeout'] });
  // setImmediate is not mocked: it lets the promise callbacks of a fired timer run.
  const settle = () => new Promise<void>((r) => setImmediate(r));
  let slept = false;
  void sleep(60).then(() => {
    slept = true;
  });
  t.mock.timers.tick(59);
  await settle();
  assert.equal(slept, false, 'returned before the time');
  t.mock.timers.tick(1);
  await settle();
  assert.equal(slept, true, 'did not return once the time was up');
  const ac = new AbortController();
  let aborted = false;
  void sleep(10_000, ac.signal).then(() => {
    aborted = true;
  });
  setTimeout(() => ac.abort(), 20);
  t.mock.timers.tick(20);
  await settle();
  assert.equal(aborted, true, 'the abort did not end the wait');
  let again = false;
  void sleep(10_000, ac.signal).then(() => {
    again = true;
  });
  await settle();
  assert.equal(again, true, 'already aborted: no wait at all');
});

test('retry: tries again after each failure with its delay, and returns the first success', async () => {
  const waits: number[] = [];
  const tries: number[] = [];
  const r = await retry(
    async (i) => {
      tries.push(i);
      if (i < 2) throw new Error(`fail ${i}`);
      return 'ok';
    },
    {
      attempts: 5,
      delayMs: (i) => 100 * 2 ** i,
      giveUp: () => new Error('gave up'),
      wait: async (ms) => void waits.push(ms),
    },
  );
  assert.equal(r, 'ok');
  assert.deepEqual(tries, [0, 1, 2]);
  assert.deepEqual(waits, [100, 200]);
});

test('retry: after the last attempt, giveUp gets the last error (no wait after it)', async () => {
  const waits: number[] = [];
  await assert.rejects(
    retry(
      async (i) => {
        throw new Error(`fail ${i}`);
      },
      {
        attempts: 3,
        delayMs: (i) => 1000 * (i + 1),
        giveUp: (last) => new KldloadError(`after 3 attempts: ${(last as Error).message}`),
        wait: async (ms) => void waits.push(ms),
      },
    ),
    (e: unknown) => e instanceof KldloadError && e.message === 'after 3 attempts: fail 2',
  );
  assert.deepEqual(waits, [1000, 2000]);
});

test('retry: an error that is not retryable is thrown at once, as it is', async () => {
  let tries = 0;
  const fatal = new KldloadError('SHA256 mismatch');
  await assert.rejects(
    retry(
      async () => {
        tries++;
        throw fatal;
      },
      {
        attempts: 3,
        delayMs: () => 0,
        retryable: (e) => !(e instanceof KldloadError),
        giveUp: () => new Error('gave up'),
      },
    ),
    (e: unknown) => e === fatal,
  );
  assert.equal(tries, 1);
});
