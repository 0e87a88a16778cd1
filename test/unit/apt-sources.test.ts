/**
 * Every apt source kldload writes is verified by a key: the shipped tree never says trusted=yes,
 * and the darksite's sources lines always carry signed-by.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sourcesLine } from '../../src/darksite/repo.ts';
import { servedSourcesLine } from '../../src/darksite/serve.ts';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

test('no file that ships says trusted=yes', () => {
  const shipped = ['src', 'payload', 'roles', 'scripts', 'profiles'].flatMap(files);
  assert.ok(shipped.length > 50, `scanned only ${shipped.length} files`);
  const hits = shipped.filter((f) => /trusted\s*=\s*yes/i.test(readFileSync(f, 'utf8')));
  assert.deepEqual(hits, []);
});

test('darksite sources lines carry signed-by', () => {
  assert.match(
    sourcesLine('/srv/ds', 'trixie', '/k.gpg'),
    /^deb \[signed-by=\/k\.gpg\] file:\/srv\/ds trixie /,
  );
  assert.match(
    servedSourcesLine('http://127.0.0.1:3142', 'trixie', '/k.gpg'),
    /^deb \[signed-by=\/k\.gpg\] http:/,
  );
});
