import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { safeRemove } from '../../src/core/fs.ts';
import {
  assemblePayload,
  availableRoles,
  expandRoles,
  missingWantedDebs,
  rolePackages,
  rolesDir,
} from '../../src/image/role-library.ts';
import { useThrowAwayCache } from './cache.ts';

// assemblePayload and the index go to a throw-away cache (test/unit/cache.ts).
useThrowAwayCache({ downloads: true });

const LIBRARY = [
  'bastion',
  'ci-runner',
  'cluster-hub',
  'cluster-spoke',
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
  for (const r of roles)
    assert.ok(existsSync(join(rolesDir(), r, 'packages.list')), `${r}: no packages.list`);
  assert.deepEqual(
    rolePackages(['web', 'postgres']).map((p) => p.name),
    ['nginx', 'nftables', 'postgresql'],
  );
  assert.match(rolePackages(['web'])[0]?.from ?? '', /^roles\/web\/packages\.list:\d+$/);
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
