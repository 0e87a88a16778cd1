/**
 * Automatic snapshots: the composer that joins the drop-ins into sanoid.conf, run by the host's real
 * sh and awk (Debian's: dash and mawk, as on the target); the policy itself:
 * test/unit/day2-sanoid.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SANOID_COMPOSE, sanoidPolicy } from '../../src/day2/sanoid.ts';
import { DATASETS } from '../../src/plan/install.ts';
import { ini } from '../unit/ini.ts';

function composer() {
  const d = mkdtempSync(join(tmpdir(), 'kl-sanoid-'));
  const script = join(d, 'sanoid-compose');
  writeFileSync(script, SANOID_COMPOSE, { mode: 0o755 });
  const drop = join(d, 'sanoid.d');
  mkdirSync(drop);
  const conf = join(d, 'etc/sanoid/sanoid.conf');
  const run = () =>
    spawnSync('sh', [script], {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', KLDLOAD_SANOID_DIR: drop, KLDLOAD_SANOID_CONF: conf },
    });
  return { drop, conf, run };
}

test('compose: drop-ins in name order; a section defined again later replaces the earlier one whole', () => {
  const c = composer();
  writeFileSync(join(c.drop, '00-kldload.conf'), sanoidPolicy('rpool', DATASETS));
  // A role's section below a recursive one of the tree, and a local override of a tree section.
  writeFileSync(
    join(c.drop, '50-rpool_srv_www.conf'),
    '[rpool/srv/www]\n  use_template = data\n  hourly = 24\n',
  );
  writeFileSync(join(c.drop, '90-local.conf'), '[rpool/home]\n  use_template = system\n  recursive = yes\n');
  // Not a drop-in: ignored.
  writeFileSync(join(c.drop, 'README'), '[rpool/home]\n  hourly = 1\n');
  const r = c.run();
  assert.equal(r.status, 0, r.stderr);
  const text = readFileSync(c.conf, 'utf8');
  const conf = ini(text); // no section twice: sanoid would merge them into multi-valued settings
  assert.deepEqual(Object.fromEntries(conf.get('rpool/home') ?? []), {
    use_template: 'system',
    recursive: 'yes',
  });
  assert.equal(conf.get('rpool/srv/www')?.get('hourly'), '24');
  // File order is sanoid's order: the child's section comes after its recursive parent's and wins.
  assert.ok(text.indexOf('[rpool/srv/www]') > text.indexOf('[rpool/srv]'));
  assert.match(text, /^# \[rpool\/home\] left out: defined again later$/m);
  assert.match(r.stderr, /\[rpool\/home\] in .*00-kldload\.conf left out: defined again later/);
  assert.ok(!text.includes('hourly = 1'), 'README was read');
});

test('compose: a section twice in one file keeps the last; nothing to do leaves sanoid.conf as it is', () => {
  const c = composer();
  // No drop-in at all: an administrator's sanoid.conf stays.
  mkdirSync(join(c.conf, '..'), { recursive: true });
  writeFileSync(c.conf, '[tank/x]\n  hourly = 5\n');
  let r = c.run();
  assert.equal(r.status, 0);
  assert.match(r.stderr, /no .*sanoid\.d\/\*\.conf; .*sanoid\.conf left as it is/);
  assert.equal(readFileSync(c.conf, 'utf8'), '[tank/x]\n  hourly = 5\n');

  writeFileSync(
    join(c.drop, '10-a.conf'),
    '[rpool/a]\n  hourly = 1\n[rpool/b]\n  hourly = 2\n[rpool/a]\n  hourly = 3\n',
  );
  r = c.run();
  assert.equal(r.status, 0, r.stderr);
  const conf = ini(readFileSync(c.conf, 'utf8'));
  assert.equal(conf.get('rpool/a')?.get('hourly'), '3');
  assert.equal(conf.get('rpool/b')?.get('hourly'), '2');
  // Unchanged input: the file is not rewritten (same inode, no temporary left behind).
  const before = statSync(c.conf).ino;
  assert.equal(c.run().status, 0);
  assert.equal(statSync(c.conf).ino, before);
  assert.ok(!existsSync(`${c.conf}.kldload-new`));
});

test('the composer is POSIX sh: shellcheck at every severity, and dash parses it', () => {
  const d = mkdtempSync(join(tmpdir(), 'kl-sanoid-sc-'));
  const file = join(d, 'sanoid-compose');
  writeFileSync(file, SANOID_COMPOSE);
  const sc = spawnSync('shellcheck', ['-s', 'sh', '-S', 'style', file], { encoding: 'utf8' });
  assert.equal(sc.status, 0, sc.stdout);
  execFileSync('dash', ['-n', file]);
});
