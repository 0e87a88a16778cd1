import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { leadingSegment, newcArchive, prependEarly } from '../../src/apply/initrd.ts';

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

test('prependEarly keeps the original initrd intact behind one early segment, also when run twice', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kl-ird-'));
  const initrd = join(dir, 'initrd.img');
  const original = Buffer.concat([
    Buffer.from([0x28, 0xb5, 0x2f, 0xfd]),
    Buffer.from('zstd-compressed main archive'),
  ]);
  writeFileSync(initrd, original);
  prependEarly(initrd, { 'etc/hostid': hostid });
  prependEarly(initrd, { 'etc/hostid': Buffer.from([1, 2, 3, 4]) });
  const buf = readFileSync(initrd);
  const lead = leadingSegment(buf);
  assert.ok(lead);
  assert.deepEqual(lead.names, ['etc', 'etc/hostid']);
  assert.equal(lead.end % 512, 0);
  assert.deepEqual(buf.subarray(lead.end), original, 'main archive changed or early segment stacked');
  assert.equal(leadingSegment(original), undefined);
});
