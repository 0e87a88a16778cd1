/**
 * Automatic snapshots: the installer's sanoid policy for its dataset tree (golden), checked against
 * the settings sanoid knows (the composer that joins the drop-ins into sanoid.conf, run by the
 * host's real sh and awk: test/integration/day2-sanoid.test.ts).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { SANOID_TEMPLATES, sanoidPolicy } from '../../src/day2/sanoid.ts';
import { DATASETS } from '../../src/plan/install.ts';
import { ini } from './ini.ts';

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
