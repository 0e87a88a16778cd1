import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blkidSignatures } from '../../src/apply/checks.ts';

test('blkid export output is reduced to the facts a person needs', () => {
  const out = 'DEVNAME=/dev/vda\nPTUUID=872e9d87\nPTTYPE=gpt\n';
  assert.deepEqual(blkidSignatures(out), ['signature: partition table gpt']);
  assert.deepEqual(blkidSignatures('DEVNAME=/dev/vdb\nLABEL=rpool\nTYPE=zfs_member\nUSAGE=filesystem\n'), [
    'signature: filesystem zfs_member, label rpool',
  ]);
  assert.deepEqual(blkidSignatures(''), []);
});
