/** The resolver against the real trixie index from the host's mirror (fixture indexes: test/unit/darksite-resolve.test.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SystemExecutor } from '../../src/core/exec.ts';
import { type ResolveResult, resolveProfile } from '../../src/darksite/resolve.ts';
import { resolverIndex } from '../../src/darksite/resolve-index.ts';
import { hostMirror, loadSuiteIndex } from '../../src/debian/archive.ts';
import { useThrowAwayCache } from '../unit/cache.ts';

useThrowAwayCache({ downloads: true });

const names = (r: ResolveResult): string[] => r.packages.map((p) => p.name);

test(
  'real trixie index: the server profile closes over the well-known packages',
  {
    timeout: 300_000,
  },
  async (t) => {
    const suite = await loadSuiteIndex(new SystemExecutor(), hostMirror(), 'trixie');
    let t0 = performance.now();
    const ri = resolverIndex(suite);
    const indexMs = performance.now() - t0;
    t0 = performance.now();
    const r = resolveProfile(ri, 'server');
    const resolveMs = performance.now() - t0;
    t.diagnostic(
      `server: ${r.totals.count} packages, ${(r.totals.bytes / 1e6).toFixed(1)} MB; index build ${indexMs.toFixed(0)} ms, resolve ${resolveMs.toFixed(0)} ms`,
    );
    assert.deepEqual(r.errors, []);
    const chosen = new Set(names(r));
    for (const n of [
      'zfsutils-linux',
      'zfs-initramfs',
      'systemd',
      'systemd-sysv',
      'openssh-server',
      'nodejs',
      'sanoid',
    ])
      assert.ok(chosen.has(n), `${n} missing from the closure`);
    // The build supplies the prebuilt zfs-modules .deb: no dkms or compiler on the mirror.
    assert.ok(!chosen.has('zfs-dkms') && !chosen.has('gcc'), 'zfs-dkms pulled in');
    for (const p of r.packages) {
      assert.match(p.sha256, /^[0-9a-f]{64}$/, `${p.name} has no SHA256`);
      assert.match(p.filename, /^pool\/(main|contrib)\/.+\.deb$/, `${p.name} has no Filename`);
      assert.ok(p.size > 0, `${p.name} has no Size`);
    }
    assert.equal(r.totals.count, r.packages.length);
    // apt (mmdebstrap --variant=important plus the list, no Recommends) picks 269 on trixie 13.x.
    assert.ok(r.totals.count > 200 && r.totals.count < 400, `implausible closure size ${r.totals.count}`);
    const desktop = resolveProfile(ri, 'desktop', [], { recommends: true });
    assert.deepEqual(desktop.errors, []);
    assert.ok(desktop.totals.count > r.totals.count);
  },
);
