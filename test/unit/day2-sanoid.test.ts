/**
 * Automatic snapshots: the installer's sanoid policy for its dataset tree (golden), checked against
 * the settings sanoid knows, and the composer that joins the drop-ins into sanoid.conf, run by the
 * host's real sh and awk (Debian's: dash and mawk, as on the target).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SANOID_COMPOSE, SANOID_TEMPLATES, sanoidPolicy } from '../../src/day2/sanoid.ts';
import { DATASETS } from '../../src/plan/install.ts';

const GOLDEN = 'test/fixtures/sanoid/00-kldload.conf';

/**
 * The settings of sanoid's [template_default] (/usr/share/sanoid/sanoid.defaults.conf, 2.1 and 2.2):
 * sanoid stops with "I don't understand the setting" at any other key.
 */
const SANOID_KEYS = new Set(
  `path recursive use_template process_children_only skip_children pre_snapshot_script post_snapshot_script
  pruning_script script_timeout no_inconsistent_snapshot force_post_snapshot_script frequent_period autoprune
  frequently hourly daily weekly monthly yearly prune_defer autosnap hourly_min daily_hour daily_min
  weekly_wday weekly_hour weekly_min monthly_mday monthly_hour monthly_min yearly_mon yearly_mday yearly_hour
  yearly_min monitor monitor_dont_warn monitor_dont_crit frequently_warn frequently_crit hourly_warn
  hourly_crit daily_warn daily_crit weekly_warn weekly_crit monthly_warn monthly_crit yearly_warn
  yearly_crit capacity_warn capacity_crit`.split(/\s+/),
);

/** An ini text → section → key → value (what Config::IniFiles reads; comments and blanks skipped). */
function ini(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let cur: Map<string, string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      assert.ok(!out.has(sec[1] ?? ''), `section [${sec[1]}] twice`);
      cur = new Map();
      out.set(sec[1] ?? '', cur);
      continue;
    }
    const kv = /^(\w+)\s*=\s*(.*)$/.exec(line);
    assert.ok(kv && cur, `not a setting inside a section: ${raw}`);
    assert.ok(!cur.has(kv[1] ?? ''), `${kv[1]} twice`);
    cur.set(kv[1] ?? '', kv[2] ?? '');
  }
  return out;
}

test('the installer’s policy for its tree: golden, only settings sanoid knows, every template defined', () => {
  const text = sanoidPolicy('rpool', DATASETS);
  if (process.env.KLDLOAD_UPDATE_GOLDEN === '1') {
    mkdirSync('test/fixtures/sanoid', { recursive: true });
    writeFileSync(GOLDEN, text);
  }
  assert.equal(
    text,
    readFileSync(GOLDEN, 'utf8'),
    `differs from ${GOLDEN} (KLDLOAD_UPDATE_GOLDEN=1 to accept)`,
  );
  const conf = ini(text);
  for (const [name, kv] of conf) {
    for (const k of kv.keys()) assert.ok(SANOID_KEYS.has(k), `[${name}] ${k}: sanoid does not know it`);
    const t = kv.get('use_template');
    if (t) assert.ok(conf.has(`template_${t}`), `[${name}] uses template ${t}, not defined`);
    // sanoid ignores recursive inside a template (and warns): it belongs to the dataset's section.
    if (name.startsWith('template_')) assert.ok(!kv.has('recursive'), `${name}: recursive in a template`);
  }
  // Snapshots on every level the issue names; none where nothing worth keeping lives.
  for (const p of ['hourly', 'daily', 'weekly', 'monthly'] as const) {
    assert.ok(Number(SANOID_TEMPLATES.system[p]) > 0, `system ${p}`);
    assert.ok(Number(SANOID_TEMPLATES.data[p]) > 0, `data ${p}`);
  }
  const templateOf = (ds: string) => conf.get(`rpool/${ds}`)?.get('use_template');
  assert.deepEqual(
    ['var/cache', 'var/tmp', 'tmp'].map(templateOf),
    ['none', 'none', 'none'],
    'var/cache, var/tmp and tmp are excluded',
  );
  assert.equal(conf.get('template_none')?.get('autosnap'), 'no');
  assert.deepEqual(['home', 'root', 'srv'].map(templateOf), ['data', 'data', 'data']);
  // Every BE, also those made later (kbe, rollback, kupgrade): the BE parent, children only.
  assert.deepEqual(Object.fromEntries(conf.get('rpool/ROOT') ?? []), {
    use_template: 'system',
    recursive: 'yes',
    process_children_only: 'yes',
  });
  // One list makes both the datasets and the policy: each dataset is listed or covered, none invented.
  const listed = [...conf.keys()].filter((k) => !k.startsWith('template_'));
  assert.deepEqual(
    listed,
    DATASETS.filter((d) => d.snapshots !== 'covered').map((d) => `rpool/${d.name}`),
  );
  assert.match(sanoidPolicy('tank', DATASETS), /^\[tank\/ROOT\]$/m);
});

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
