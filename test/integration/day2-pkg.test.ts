/** kpkg's APT hook file, read by the host's real apt-config and run by a real sh. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { APT_HOOK } from '../../src/day2/pkg.ts';

test('the APT hook file is read by the real apt-config as one Pre-Invoke command a shell can run', () => {
  const d = mkdtempSync(join(tmpdir(), 'kl-apt-'));
  const conf = join(d, '80kldload-snapshot');
  writeFileSync(conf, APT_HOOK);
  const out = execFileSync('apt-config', ['-c', conf, 'dump', 'DPkg::Pre-Invoke'], { encoding: 'utf8' });
  const cmd = /^DPkg::Pre-Invoke:: "(.*)";$/m.exec(out)?.[1];
  assert.equal(
    cmd,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
    'if test -x /usr/bin/node && test -x /usr/sbin/kldload && test x${KLDLOAD_KPKG:-} = x; then /usr/sbin/kldload pkg apt-hook; fi',
  );
  // Run by a real sh with the two programs moved to a scratch folder: kldload is called only when
  // node is there and neither kpkg nor first boot is the caller.
  const fake = join(d, 'kldload');
  const calls = join(d, 'calls');
  writeFileSync(fake, `#!/bin/sh\necho "$*" >> ${calls}\n`, { mode: 0o755 });
  const script = (cmd ?? '').replaceAll('/usr/sbin/kldload', fake);
  const sh = (env: Record<string, string>, node = process.execPath) =>
    execFileSync('sh', ['-c', script.replaceAll('/usr/bin/node', node)], {
      env: { PATH: '/usr/bin:/bin', ...env },
    });
  sh({});
  sh({ KLDLOAD_KPKG: '1' });
  sh({ KLDLOAD_KPKG: 'firstboot' });
  sh({}, join(d, 'no-node'));
  assert.equal(readFileSync(calls, 'utf8'), 'pkg apt-hook\n');
});
