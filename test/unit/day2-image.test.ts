import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PROFILES } from '../../src/core/debian.ts';
import { TARGET_KERNEL_FILES, targetSpec } from '../../src/image/layers.ts';
import type { BuildOptions } from '../../src/image/spec.ts';
import { TARGET } from '../../src/layout.ts';

const opts: BuildOptions = {
  profile: 'core',
  suite: 'trixie',
  mirror: 'http://deb.debian.org/debian',
  output: 'x.iso',
  bundle: 'dist/kldload.mjs',
  extraPackages: [],
  roles: [],
};
const kernel = {
  kabi: '6.12.57+deb13-amd64',
  kernelPackage: 'linux-image-6.12.57+deb13-amd64',
  zfsVersion: '2.3.9',
};

test('every target image carries the ZFS kernel guard and the ESP sync pieces, executable, byte for byte from payload/target/kernel', () => {
  for (const profile of PROFILES) {
    const spec = targetSpec({ ...opts, profile }, kernel, '/cache/zfs-modules.deb');
    for (const [path, f] of Object.entries(TARGET_KERNEL_FILES)) {
      const want = readFileSync(
        new URL(`../../payload/target/${f.dir ?? 'kernel'}/${f.file}`, import.meta.url),
        'utf8',
      );
      assert.equal(spec.files[path], want, `${profile}: ${path}`);
      assert.equal(spec.customize.includes(`chmod 0755 "$1${path}"`), f.exec, `${profile}: mode of ${path}`);
    }
    // The guard must sort after 55-initrd (staging) and before 90-loaderentry (the ESP copy); the
    // ESP sync after 90-loaderentry (it copies what that plugin wrote).
    const name = (k: string) => k.split('/').pop() ?? '';
    const guard = name(TARGET.kernelGuard);
    assert.ok(guard > '55-initrd.install' && guard < '90-loaderentry.install', guard);
    assert.ok(name(TARGET.espSyncPlugin) > '90-loaderentry.install', TARGET.espSyncPlugin);
    assert.ok(TARGET.espSyncPlugin in TARGET_KERNEL_FILES && TARGET.espGenerator in TARGET_KERNEL_FILES);
    // rsync does the copy: in every profile's image.
    assert.ok(spec.packages.includes('rsync'), `${profile}: rsync`);
  }
});
