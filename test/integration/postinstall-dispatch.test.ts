/**
 * dispatch.sh: which roles run on which host, in what order, and that the shell and
 * src/postinstall/roles.ts agree on it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { safeRemove } from '../../src/core/fs.ts';
import { assemblePayload, availableRoles } from '../../src/image/role-library.ts';
import {
  BASE_PROVIDES,
  DEFAULT_ROLE_MAP,
  hostSelectors,
  planRoles,
  readRoles,
  roleFromText,
  roleMapOf,
} from '../../src/postinstall/roles.ts';
import { bash, DISPATCH, envFor, exec, FIXTURES, failureOf, freshDir, root } from './postinstall-harness.ts';

describe('dispatch.sh', () => {
  /** A roles folder of stub roles that append their name to $KLDLOAD_STATE_DIR/ran. */
  function rolesDir(
    defs: Record<string, { requires?: string; provides?: string; shared?: boolean; body?: string }>,
  ) {
    const dir = freshDir('darksite');
    const roles = join(dir, 'roles');
    mkdirSync(roles);
    for (const [file, d] of Object.entries(defs)) {
      writeFileSync(
        join(roles, file),
        [
          '#!/bin/bash',
          `# ${file} — stub`,
          `# requires: ${d.requires ?? ''}`,
          `# provides: ${d.provides ?? ''}`,
          ...(d.shared ? ['# shared: yes'] : []),
          'source "$KLDLOAD_POSTINSTALL_LIB"',
          'kl_strict',
          `log "stub ${file}"`,
          `echo "${file}" >>"$KLDLOAD_STATE_DIR/ran"`,
          d.body ?? '',
          '',
        ].join('\n'),
      );
    }
    return { dir, roles, state: join(dir, 'state') };
  }

  const dispatch = (d: { dir: string; roles: string }, env: Record<string, string>, ...args: string[]) =>
    exec.run(['bash', DISPATCH, ...args], {
      env: envFor(d.dir, { KLDLOAD_ROLES_DIR: d.roles, ...env }),
      check: false,
      cwd: d.dir,
    });
  const ran = (state: string) =>
    existsSync(join(state, 'ran')) ? readFileSync(join(state, 'ran'), 'utf8').trimEnd().split('\n') : [];
  const done = (state: string) =>
    readFileSync(join(state, 'roles.done'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => l.split('\t')[0]);

  const cluster = {
    '00-base.sh': { provides: 'hardening' },
    '30-agent.sh': { shared: true, provides: 'agent' },
    '10-zfs-datasets-web.sh': { requires: 'zfs', provides: 'www-data' },
    '40-web.sh': { requires: 'www-data hardening', provides: 'web' },
    '40-postgres.sh': { requires: 'zfs', provides: 'db' },
    '90-verification.sh': { requires: 'hardening agent' },
  };

  test('web- host: shared roles first, then its own roles in numeric order, verification last', async () => {
    const d = rolesDir(cluster);
    const r = await dispatch(d, { KLDLOAD_HOSTNAME: 'web-prod-01.example.com' });
    assert.equal(r.exitCode, 0, r.all);
    const order = ['00-base.sh', '30-agent.sh', '10-zfs-datasets-web.sh', '40-web.sh', '90-verification.sh'];
    assert.deepEqual(ran(d.state), order);
    assert.deepEqual(done(d.state), order);
    assert.match(r.stdout, /host web-prod-01: selectors from built-in map: web$/m);
    assert.match(r.stdout, /not for this host: 40-postgres\.sh/);
    assert.match(r.stdout, /=== role 40-web\.sh \(4\/5\) start/);
    assert.match(r.stdout, /=== role 40-web\.sh done in \d+s/);
    assert.match(r.stdout, /\[postinstall:40-web\]/);
    assert.match(r.stdout, /── phase done: shared roles \(\d+s\)/);
    assert.match(r.stdout, /postinstall complete: 5 roles \(0 already done\) in \d+s/);
    assert.equal(existsSync(join(d.state, 'postinstall-failure')), false);
  });

  test('a host that matches no prefix runs every role', async () => {
    const d = rolesDir(cluster);
    const r = await dispatch(d, { KLDLOAD_HOSTNAME: 'misc-01' });
    assert.equal(r.exitCode, 0, r.all);
    assert.deepEqual(ran(d.state), [
      '00-base.sh',
      '30-agent.sh',
      '10-zfs-datasets-web.sh',
      '40-postgres.sh',
      '40-web.sh',
      '90-verification.sh',
    ]);
  });

  test('roles/map replaces the built-in map; KLDLOAD_ROLES overrides both', async () => {
    const d = rolesDir(cluster);
    writeFileSync(join(d.roles, 'map'), '# custom\nweb-  postgres\n');
    const r = await dispatch(d, { KLDLOAD_HOSTNAME: 'web-01' });
    assert.equal(r.exitCode, 0, r.all);
    assert.deepEqual(ran(d.state), ['00-base.sh', '30-agent.sh', '40-postgres.sh', '90-verification.sh']);

    const e = rolesDir(cluster);
    const r2 = await dispatch(e, { KLDLOAD_HOSTNAME: 'db-01', KLDLOAD_ROLES: 'web' });
    assert.equal(r2.exitCode, 0, r2.all);
    assert.ok(ran(e.state).includes('40-web.sh'));
    assert.ok(!ran(e.state).includes('40-postgres.sh'));
  });

  test('an unmet requirement stops everything before any role runs, naming role and requirement', async () => {
    const d = rolesDir({
      ...cluster,
      '40-web.sh': { requires: 'www-data docker', provides: 'web' },
      '20-docker.sh': { provides: 'docker' },
    });
    const r = await dispatch(d, { KLDLOAD_HOSTNAME: 'web-01' });
    assert.equal(r.exitCode, 1);
    assert.deepEqual(ran(d.state), []);
    assert.match(
      r.stdout,
      /ERROR: role 40-web\.sh requires 'docker', which no earlier role provides \(20-docker\.sh provides it but is not selected for host web-01\)/,
    );
    assert.match(r.stdout, /nothing was run/);
    const f = failureOf(d.state);
    assert.deepEqual([f.file, f.line, f.command], [join(d.roles, '40-web.sh'), '3', 'requires: docker']);
  });

  test('a role that fails stops the run; the next run skips the completed roles', async () => {
    const d = rolesDir({
      ...cluster,
      '40-web.sh': {
        requires: 'www-data',
        provides: 'web',
        body: 'if [[ -e "$KLDLOAD_STATE_DIR/break" ]]; then\n  cat "$KLDLOAD_STATE_DIR/no-such-file"\nfi',
      },
    });
    mkdirSync(d.state, { recursive: true });
    writeFileSync(join(d.state, 'break'), '');
    const r1 = await dispatch(d, { KLDLOAD_HOSTNAME: 'web-01' });
    assert.equal(r1.exitCode, 1, r1.all);
    assert.deepEqual(done(d.state), ['00-base.sh', '30-agent.sh', '10-zfs-datasets-web.sh']);
    assert.match(r1.stdout, /=== role 40-web\.sh FAILED \(exit 1\) after \d+s/);
    const f = failureOf(d.state);
    assert.deepEqual([f.file, f.line, f.role], [join(d.roles, '40-web.sh'), '10', '40-web']);
    assert.equal(f.command, 'cat "$KLDLOAD_STATE_DIR/no-such-file"');

    // Power back on, fixed: the three finished roles are skipped, the rest run, the record is gone.
    rmSync(join(d.state, 'break'));
    const r2 = await dispatch(d, { KLDLOAD_HOSTNAME: 'web-01' });
    assert.equal(r2.exitCode, 0, r2.all);
    assert.match(r2.stdout, /role 00-base\.sh \(1\/5\): already done, skipped/);
    assert.match(r2.stdout, /postinstall complete: 5 roles \(3 already done\)/);
    assert.deepEqual(ran(d.state), [
      '00-base.sh',
      '30-agent.sh',
      '10-zfs-datasets-web.sh',
      '40-web.sh',
      '40-web.sh',
      '90-verification.sh',
    ]);
    assert.equal(existsSync(join(d.state, 'postinstall-failure')), false);
  });

  test('a role that fails without kl_strict still leaves a failure record', async () => {
    const d = rolesDir({ '10-plain.sh': {} });
    writeFileSync(join(d.roles, '10-plain.sh'), '#!/bin/bash\n# provides: plain\necho plain\nexit 3\n');
    const r = await dispatch(d, { KLDLOAD_HOSTNAME: 'x' });
    assert.equal(r.exitCode, 3);
    const f = failureOf(d.state);
    assert.equal(f.exit, '3');
    assert.equal(f.file, join(d.roles, '10-plain.sh'));
    assert.match(f.detail ?? '', /without writing a failure record/);
  });

  test('--plan prints the plan and writes nothing', async () => {
    const d = rolesDir(cluster);
    const r = await dispatch(d, { KLDLOAD_HOSTNAME: 'db-01' }, '--plan');
    assert.equal(r.exitCode, 0, r.all);
    assert.deepEqual(r.stdout.trimEnd().split('\n'), [
      '00-base.sh',
      '30-agent.sh',
      '40-postgres.sh',
      '90-verification.sh',
    ]);
    assert.equal(existsSync(d.state), false);
    assert.equal(existsSync(join(d.dir, 'postinstall.log')), false);
  });

  test('the install manifest supplies KLDLOAD_HOSTNAME when the environment does not', async () => {
    const d = rolesDir(cluster);
    writeFileSync(join(d.dir, 'manifest.env'), 'KLDLOAD_DISTRO=debian\nKLDLOAD_HOSTNAME="db-07"\n');
    const r = await dispatch(d, { KLDLOAD_MANIFEST: join(d.dir, 'manifest.env') }, '--plan');
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /^40-postgres\.sh$/m);
    assert.doesNotMatch(r.stdout, /40-web\.sh/);
  });
});

describe('roles chosen at build (kldload build --role)', () => {
  /** dispatch.sh --plan of an assembled payload for HOST, and what planRoles says for the same. */
  async function plans(payload: string, host: string) {
    const r = await exec.run(['bash', join(payload, 'postinstall.sh'), '--plan'], {
      env: envFor(root, { KLDLOAD_HOSTNAME: host }),
      check: false,
    });
    assert.equal(r.exitCode, 0, `${host}: ${r.all}`);
    const rolesDir = join(payload, 'roles');
    const { entries, file } = roleMapOf(rolesDir);
    const ts = planRoles(readRoles(rolesDir).roles, hostSelectors(host, entries), { chosenRun: !file });
    return { bash: r.stdout.trimEnd().split('\n').filter(Boolean), ts: ts.run.map((x) => x.file) };
  }

  test('--role web --role postgres run on web-01, db-01 and any other host', async () => {
    const payload = assemblePayload(undefined, ['web', 'postgres']);
    assert.ok(payload);
    try {
      for (const host of ['web-01', 'db-01', 'cp-1', 'worker-2', 'mon-1', 'misc']) {
        const p = await plans(payload, host);
        assert.deepEqual(p.bash, ['20-web.sh', '30-postgres.sh'], host);
        assert.deepEqual(p.ts, p.bash, host);
      }
    } finally {
      safeRemove(payload);
    }
  });

  test("the user's own roles/map decides for the hosts it names", async () => {
    const user = freshDir('user-payload');
    mkdirSync(join(user, 'roles'));
    writeFileSync(join(user, 'roles', 'map'), 'web-  web\ndb-   postgres\n');
    const payload = assemblePayload(user, ['web', 'postgres']);
    assert.ok(payload);
    try {
      const cases: [string, string[]][] = [
        ['web-01', ['20-web.sh']],
        ['db-01', ['30-postgres.sh']],
        ['misc', ['20-web.sh', '30-postgres.sh']],
      ];
      for (const [host, want] of cases) {
        const p = await plans(payload, host);
        assert.deepEqual(p.bash, want, host);
        assert.deepEqual(p.ts, want, host);
      }
    } finally {
      safeRemove(payload);
    }
  });

  test('the built-in host-name map selects library roles by their names', () => {
    const library = availableRoles();
    for (const e of DEFAULT_ROLE_MAP)
      for (const sel of e.selectors)
        assert.ok(
          library.includes(sel),
          `built-in map ${e.prefix} → '${sel}': no library role has that name`,
        );
    const sel = (host: string) => hostSelectors(host, DEFAULT_ROLE_MAP);
    assert.deepEqual(sel('web-01'), ['web']);
    assert.deepEqual(sel('db-01'), ['postgres']);
    assert.deepEqual(sel('cp-01'), ['k8s-node']);
    assert.deepEqual(sel('worker-01'), ['k8s-node']);
    assert.deepEqual(sel('mon-01'), ['monitoring']);
  });
});

describe('lib.sh and src/postinstall/roles.ts agree', () => {
  test('base capabilities and the built-in hostname map', async () => {
    const r = await bash(
      `source "$KLDLOAD_POSTINSTALL_LIB"\nprintf '%s\\n' "\${KL_BASE_PROVIDES[*]}"\nkl_default_role_map\n`,
    );
    assert.equal(r.exitCode, 0, r.all);
    const [base, ...map] = r.stdout.trimEnd().split('\n');
    assert.equal(base, BASE_PROVIDES.join(' '));
    assert.deepEqual(
      map.map((l) => l.split(/\s+/)),
      DEFAULT_ROLE_MAP.map((e) => [e.prefix, ...e.selectors]),
    );
  });

  test('role headers: requires, provides and shared read the same by role_meta and parseHeader', async () => {
    const files: string[] = [];
    for (const fx of ['good', 'bad-order', 'bad-map', 'shellcheck-warning'])
      for (const role of readRoles(join(FIXTURES, fx, 'roles')).roles) files.push(role.path);
    const script = `source "$KLDLOAD_POSTINSTALL_LIB"\nfor f in "$@"; do\n  s=no; if role_is_shared "$f"; then s=yes; fi\n  printf '%s|%s|%s|%s\\n' "$(role_name "$f")" "$(role_meta "$f" requires)" "$(role_meta "$f" provides)" "$s"\ndone\n`;
    const file = join(freshDir('meta'), 'meta.sh');
    writeFileSync(file, script);
    const r = await exec.run(['bash', file, ...files], { env: envFor(root), check: false });
    assert.equal(r.exitCode, 0, r.all);
    const expected = files.map((p) => {
      const role = roleFromText(p.split('/').at(-1) ?? '', p, readFileSync(p, 'utf8'));
      assert.ok(role);
      const w = (l: { word: string }[]) => l.map((x) => x.word).join(' ');
      return `${role.name}|${w(role.requires)}|${w(role.provides)}|${role.shared ? 'yes' : 'no'}`;
    });
    assert.deepEqual(r.stdout.trimEnd().split('\n'), expected);
  });

  test('dispatch.sh --plan and planRoles choose the same roles in the same order', async () => {
    const cases: { roles: string; hosts: string[] }[] = [
      { roles: join(FIXTURES, 'good', 'roles'), hosts: ['web-01', 'db-02', 'mon-03', 'cp-1', 'other'] },
    ];
    // The built-in map, with the seed's role names, the library's, and one chosen at build.
    const d = freshDir('seedroles');
    for (const f of [
      '40-web.sh',
      '40-postgres.sh',
      '28-k8s-node.sh',
      '00-base-hardening.sh',
      '10-zfs-datasets-webserver.sh',
      '10-zfs-datasets-database.sh',
      '30-monitoring-agent.sh',
      '40-webserver.sh',
      '40-database.sh',
      '40-control-plane.sh',
      '40-worker.sh',
      '40-loadbalancer.sh',
      '40-monitoring.sh',
      '5-early.sh',
      '100-late.sh',
      '90-verification.sh',
    ])
      writeFileSync(join(d, f), `#!/bin/bash\n${f.startsWith('30-') ? '# shared: yes\n' : ''}true\n`);
    writeFileSync(join(d, '35-nfs.sh'), '#!/bin/bash\n# chosen: build\ntrue\n');
    cases.push({ roles: d, hosts: ['cp-1', 'worker-7', 'lb-2', 'mon-1', 'db-1.lan', 'web-x', 'bastion'] });

    for (const c of cases) {
      const { roles } = readRoles(c.roles);
      const { entries } = roleMapOf(c.roles);
      for (const host of c.hosts) {
        const r = await exec.run(['bash', DISPATCH, '--plan'], {
          env: envFor(root, { KLDLOAD_ROLES_DIR: c.roles, KLDLOAD_HOSTNAME: host }),
          check: false,
        });
        assert.equal(r.exitCode, 0, `${host}: ${r.all}`);
        const { file } = roleMapOf(c.roles);
        const ts = planRoles(roles, hostSelectors(host, entries), { chosenRun: !file }).run.map(
          (x) => x.file,
        );
        assert.deepEqual(r.stdout.trimEnd().split('\n'), ts, host);
      }
    }
  });
});
