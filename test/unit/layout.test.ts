/**
 * The shell side of the layout contract: payload scripts cannot import src/layout.ts, so their
 * defaults are checked against it here, fragment by fragment.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { test } from 'node:test';
import { bundleChunks, LOGS, MEDIUM, REPO, TARGET } from '../../src/layout.ts';

const read = (f: string) => readFileSync(new URL(`../../payload/${f}`, import.meta.url), 'utf8');

const CONTRACT: Record<string, string[]> = {
  'target/postinstall/lib.sh': [
    `KLDLOAD_POSTINSTALL_LIB:-${TARGET.postinstallLib}/lib.sh}`,
    `KLDLOAD_LOG=${LOGS.postinstall}}`,
    `KLDLOAD_STATE_DIR:=${dirname(TARGET.firstbootDone)}}`,
    `KLDLOAD_FAILURE_FILE:=\${KLDLOAD_STATE_DIR}/${basename(TARGET.postinstallFailure)}}`,
    `KLDLOAD_DARKSITE_LIST:-${REPO.firstbootList}}`,
    `KLDLOAD_MANIFEST:-${TARGET.manifest}}`,
  ],
  'target/postinstall/dispatch.sh': [
    `KLDLOAD_MANIFEST:-${TARGET.manifest}}`,
    `ROLES_DIR=${TARGET.payload}/roles`,
  ],
  'live/kldload-installer.service': [
    `ExecStart=/usr/bin/node ${MEDIUM.root}/${MEDIUM.bundle} install --live`,
  ],
  'target/kernel/80kldload-zfs-kernels': [
    `if [ -x ${TARGET.kernelReconcile} ]; then ${TARGET.kernelReconcile}; fi`,
  ],
};

for (const [file, fragments] of Object.entries(CONTRACT))
  test(`payload/${file} uses the paths of src/layout.ts`, () => {
    const text = read(file);
    for (const f of fragments) assert.ok(text.includes(f), `payload/${file} lacks ${f}`);
  });

test('the bundle chunks sit beside the entry file, on the medium, on the target and in dist/', () => {
  assert.equal(bundleChunks(TARGET.bundle), '/usr/lib/kldload/chunks');
  assert.equal(bundleChunks(MEDIUM.bundle), 'kldload/chunks');
  assert.equal(bundleChunks('dist/kldload.mjs'), 'dist/chunks');
  // The built entry imports its chunks by that relative path (scripts/bundle.mjs chunkNames).
  const entry = readFileSync('dist/kldload.mjs', 'utf8');
  assert.match(entry, /from "\.\/chunks\/[\w-]+\.mjs"/);
});
