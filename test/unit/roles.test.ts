import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SystemExecutor } from '../../src/core/exec.ts';
import { safeRemove } from '../../src/core/fs.ts';
import { resolveProfile, resolverIndex } from '../../src/darksite/resolve.ts';
import { hostMirror, loadSuiteIndex } from '../../src/debian/archive.ts';
import {
  assemblePayload,
  availableRoles,
  expandRoles,
  missingWantedDebs,
  rolePackages,
  rolesDir,
} from '../../src/image/role-library.ts';
import { check } from '../../src/postinstall/check.ts';

const LIBRARY = [
  'bastion',
  'ci-runner',
  'docker',
  'k8s-node',
  'mail',
  'monitoring',
  'nfs',
  'postgres',
  'vpn-gateway',
  'web',
  'workstation',
  'xmpp',
];

test('the role library ships every role of the issue, each with a package list', () => {
  const roles = availableRoles();
  assert.deepEqual(roles, LIBRARY);
  for (const r of roles) {
    assert.ok(roles.includes(r), `${r} missing from ${rolesDir()}`);
    assert.ok(existsSync(join(rolesDir(), r, 'packages.list')));
  }
  assert.deepEqual(
    rolePackages(['web', 'postgres']).map((p) => p.name),
    ['nginx', 'nftables', 'postgresql'],
  );
  assert.match(rolePackages(['web'])[0]?.from ?? '', /^roles\/web\/packages\.list:\d+$/);
});

test('every library role passes kldload postinstall check (bash -n, shellcheck, order)', async () => {
  const dir = assemblePayload(undefined, availableRoles());
  assert.ok(dir);
  try {
    const findings = await check(dir);
    assert.deepEqual(
      findings.filter((f) => f.level !== 'info'),
      [],
    );
  } finally {
    safeRemove(dir);
  }
});

test('roles join the user payload in order, with the dispatcher as postinstall.sh', () => {
  const dir = assemblePayload('test/vm/payload', ['postgres', 'web']);
  assert.ok(dir);
  try {
    assert.deepEqual(readdirSync(join(dir, 'roles')).sort(), ['05-record.sh', '20-web.sh', '30-postgres.sh']);
    assert.equal(
      readFileSync(join(dir, 'postinstall.sh'), 'utf8'),
      readFileSync('payload/target/postinstall/dispatch.sh', 'utf8'),
    );
  } finally {
    safeRemove(dir);
  }
  assert.equal(
    assemblePayload('test/vm/payload', []),
    'test/vm/payload',
    'no roles: the folder is used as it is',
  );
});

test('an unknown role is refused, naming the ones that exist', () => {
  assert.throws(() => rolePackages(['webserverz']), /--role webserverz: no such role; available: .*web/);
});

test('--image: tarballs go to images/ in the payload; anything else is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kl-img-'));
  const tar = join(dir, 'app.tar');
  execFileSync('tar', ['-cf', tar, '-C', 'test/vm/payload', '.']);
  const payload = assemblePayload(undefined, [], [tar]);
  assert.ok(payload);
  try {
    assert.deepEqual(readdirSync(join(payload, 'images')), ['app.tar']);
  } finally {
    safeRemove(payload);
  }
  writeFileSync(join(dir, 'notatar.tar'), 'hello');
  assert.throws(() => assemblePayload(undefined, [], [join(dir, 'notatar.tar')]), /not a tar archive/);
  assert.throws(() => assemblePayload(undefined, [], [join(dir, 'missing.tar')]), /no such file/);
});

test('a role pulls in the library roles it requires; roles the base provides for need nothing', () => {
  const notes: string[] = [];
  assert.deepEqual(
    expandRoles(['xmpp'], (m) => notes.push(m)),
    ['xmpp', 'postgres', 'web'],
  );
  assert.deepEqual(notes, [
    "role xmpp requires 'postgres': adding role postgres",
    "role xmpp requires 'web': adding role web",
  ]);
  assert.deepEqual(expandRoles(['ci-runner']), ['ci-runner', 'docker']);
  assert.deepEqual(
    expandRoles(['docker', 'ci-runner']),
    ['docker', 'ci-runner'],
    'already selected: nothing added',
  );
  assert.deepEqual(expandRoles(['web', 'web']), ['web'], 'duplicates collapse');
  assert.throws(() => expandRoles(['nosuch']), /--role nosuch: no such role/);
});

test('packages Debian lacks are named per role when not supplied', () => {
  const none = missingWantedDebs(['k8s-node', 'ci-runner', 'monitoring', 'web'], new Set());
  assert.deepEqual(Object.fromEntries(none), {
    'k8s-node': ['kubeadm', 'kubelet', 'cri-tools'],
    'ci-runner': ['gitlab-runner'],
    monitoring: ['grafana'],
  });
  const some = missingWantedDebs(['k8s-node', 'ci-runner'], new Set(['kubeadm', 'kubelet', 'gitlab-runner']));
  assert.deepEqual(Object.fromEntries(some), { 'k8s-node': ['cri-tools'] });
});

test(
  'real trixie index: every role package list resolves, for the server and the core profile',
  { timeout: 300_000 },
  async () => {
    const ri = resolverIndex(await loadSuiteIndex(new SystemExecutor(), hostMirror(), 'trixie'));
    for (const profile of ['server', 'core']) {
      const r = resolveProfile(
        ri,
        profile,
        rolePackages(availableRoles()).map((p) => p.name),
      );
      assert.deepEqual(
        r.errors.map((e) => `${e.message} (${e.chain.join(' ← ')})`),
        [],
        profile,
      );
    }
  },
);
