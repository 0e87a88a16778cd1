/** The early cpio read back by GNU cpio (the rest of the initrd code: test/unit/initrd.test.ts). */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { newcArchive } from '../../src/apply/initrd.ts';

const hostid = Buffer.from([0xee, 0x0f, 0xbc, 0x1a]);

test('newc archive is read back by GNU cpio with the same files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kl-cpio-'));
  writeFileSync(
    join(dir, 'a.cpio'),
    newcArchive({ 'etc/hostid': hostid, 'etc/zfs/zpool.cache': Buffer.from('cache') }),
  );
  const listing = execFileSync('cpio', ['-it', '--quiet', '-F', join(dir, 'a.cpio')], { encoding: 'utf8' });
  assert.deepEqual(listing.trim().split('\n'), ['etc', 'etc/hostid', 'etc/zfs', 'etc/zfs/zpool.cache']);
  execFileSync('cpio', ['-id', '--quiet', '-F', join(dir, 'a.cpio')], { cwd: dir });
  assert.deepEqual(readFileSync(join(dir, 'etc/hostid')), hostid);
  assert.equal(readFileSync(join(dir, 'etc/zfs/zpool.cache'), 'utf8'), 'cache');
});
