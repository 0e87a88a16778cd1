/**
 * `kldload install --live` on a medium with no answers file hands over to the web installer; its
 * dry run says so and starts nothing (a dry run opening port 80 would be a side effect).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { install } from '../../src/cli/commands/install.ts';
import { RecordingExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { MEDIUM, SEED_LABEL } from '../../src/layout.ts';

// This host is no installer medium: no answers anywhere, so the live install turns to the web.
const noMedium = !existsSync(MEDIUM.root) && !existsSync(`/dev/disk/by-label/${SEED_LABEL}`);

test(
  'no answers: a real live run starts the web installer unit, a dry run starts nothing',
  { skip: !noMedium },
  async () => {
    const log = new Logger({ quiet: true });
    const dry = new RecordingExecutor();
    const d = await install({ live: true, dryRun: true, root: '/mnt' }, { exec: dry, log });
    assert.equal(d.exitCode, 0);
    assert.match(d.text, /no answers file.*a real run starts the web installer/);
    assert.ok(!dry.calls.some((c) => c.argv[0] === 'systemctl'), JSON.stringify(dry.calls));
    const real = new RecordingExecutor();
    const r = await install({ live: true, root: '/mnt' }, { exec: real, log });
    assert.equal(r.exitCode, 0);
    assert.deepEqual(
      real.calls.filter((c) => c.argv[0] === 'systemctl').map((c) => c.argv),
      [['systemctl', 'start', '--no-block', 'kldload-webui.service']],
    );
  },
);
