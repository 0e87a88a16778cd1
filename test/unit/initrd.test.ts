import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { leadingSegment, newcArchive, prependEarly, stripEarly } from '../../src/apply/initrd.ts';

const hostid = Buffer.from([0xee, 0x0f, 0xbc, 0x1a]);

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

test('stripEarly removes the hostid segment prependEarly wrote, and nothing else', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kl-ird-'));
  const initrd = join(dir, 'initrd.img');
  const original = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.from('main archive')]);
  writeFileSync(initrd, original);
  assert.equal(stripEarly(initrd), false, 'a plain initrd has nothing to strip');
  assert.deepEqual(readFileSync(initrd), original);
  prependEarly(initrd, { 'etc/hostid': hostid, 'etc/zfs/zpool.cache': Buffer.from('cache') });
  assert.equal(stripEarly(initrd), true);
  assert.deepEqual(readFileSync(initrd), original);
  // An early segment without a hostid (microcode, say) is not ours: kept.
  const micro = Buffer.concat([
    newcArchive({ 'kernel/x86/microcode/GenuineIntel.bin': Buffer.from('u') }),
    original,
  ]);
  writeFileSync(initrd, micro);
  assert.equal(stripEarly(initrd), false);
  assert.deepEqual(readFileSync(initrd), micro);
});
