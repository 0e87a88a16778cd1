import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bothOrThrow } from '../../src/image/build.ts';

test('the layers built side by side: a failing one waits for the other to end, then its error is thrown', async () => {
  let otherEnded = false;
  const failing = Promise.reject(new Error('target-layer: mmdebstrap failed'));
  const other = new Promise<string>((r) =>
    setTimeout(() => {
      otherEnded = true;
      r('live');
    }, 50),
  );
  await assert.rejects(bothOrThrow(failing, other), /target-layer: mmdebstrap failed/);
  // Promise.all would have rejected at once, with the other build still running (and the build lock released).
  assert.equal(otherEnded, true);
  assert.deepEqual(await bothOrThrow(Promise.resolve(1), Promise.resolve('b')), [1, 'b']);
});
