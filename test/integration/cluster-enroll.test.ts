/**
 * `cluster serve` and `cluster enroll`'s request on 127.0.0.1 with real TLS (openssl's certificate,
 * the fingerprint pinned): enrollment, the same key again, a wrong token, a closed window, a pin
 * mismatch, a hub not up yet; the live wg changes are the plan handed to a recorder. Then the CLI:
 * `cluster seed` writes both trees, `cluster status` on a spoke reports a refusal.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { Server } from 'node:https';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SystemExecutor } from '../../src/core/exec.ts';
import type { Plan } from '../../src/core/plan.ts';
import { type EnrollOutcome, EXIT_REFUSED, postEnroll } from '../../src/fleet/cluster-enroll.ts';
import { parseNet } from '../../src/fleet/cluster-net.ts';
import { certFingerprint, selfSignedCert, wgKeypair } from '../../src/fleet/cluster-seed.ts';
import { openWindow, serve } from '../../src/fleet/cluster-serve.ts';
import { clusterPaths, readNodes, writeJson } from '../../src/fleet/cluster-state.ts';
import { cli } from '../unit/cli-helper.ts';

const HOSTKEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheSpokeForTestsOnly0000000000 root@s';
const root = mkdtempSync(join(tmpdir(), 'kl-cluster-int-'));
const p = clusterPaths(root);
const plans: Plan[] = [];
const said: string[] = [];
let server: Server;
let port: number;
let tls: { cert: string; key: string };
const hub = wgKeypair();

before(async () => {
  tls = await selfSignedCert(new SystemExecutor());
  server = await serve(
    {
      paths: p,
      cert: tls.cert,
      key: tls.key,
      token: 'the-right-token',
      net: parseNet('10.88.0.0/24'),
      wgPort: 51820,
      hubPublicKey: hub.publicKey,
      ansiblePublicKey: 'ssh-ed25519 AAAAansible hub',
      expected: 2,
      windowMinutes: 60,
      apply: async (plan) => {
        plans.push(plan);
      },
      say: (l) => said.push(l),
    },
    { host: '127.0.0.1', port: 0 },
  );
  port = (server.address() as AddressInfo).port;
});
after(() => {
  server.close();
  rmSync(root, { recursive: true, force: true });
});

const enroll = (o: {
  token?: string;
  name: string;
  key: string;
  pin?: string;
  cert?: string;
  port?: number;
}) =>
  postEnroll({
    host: '127.0.0.1',
    port: o.port ?? port,
    cert: o.cert ?? tls.cert,
    pin: o.pin ?? certFingerprint(tls.cert),
    body: { token: o.token ?? 'the-right-token', name: o.name, publicKey: o.key, hostKey: HOSTKEY },
  });
const address = (r: EnrollOutcome) => (r.kind === 'enrolled' ? r.answer.address : `${r.kind}: ${r.reason}`);

test('two spokes enroll in order; the same key again gets its address; the second starts convergence', async () => {
  const a = wgKeypair().publicKey;
  const b = wgKeypair().publicKey;
  const r1 = await enroll({ name: 'spoke-1', key: a });
  assert.equal(address(r1), '10.88.0.2');
  assert.ok(
    r1.kind === 'enrolled' &&
      r1.answer.hubPublicKey === hub.publicKey &&
      r1.answer.hubAddress === '10.88.0.1',
  );
  assert.equal(address(await enroll({ name: 'spoke-1', key: a })), '10.88.0.2');
  assert.equal(address(await enroll({ name: 'spoke-2', key: b })), '10.88.0.3');
  assert.deepEqual(
    readNodes(p.nodes).map((n) => [n.name, n.address, n.publicKey]),
    [
      ['spoke-1', '10.88.0.2', a],
      ['spoke-2', '10.88.0.3', b],
    ],
  );
  assert.deepEqual(
    plans.map((x) => x.steps.map((s) => s.name)),
    [['wg-peer'], ['wg-peer', 'converge']],
    'one plan per new peer (none for the repeat); the last expected one starts convergence',
  );
  assert.ok(!said.join('\n').includes('the-right-token'), 'the token is never logged');
});

test('a wrong token is refused (403, final) and adds nothing', async () => {
  const before = readNodes(p.nodes).length;
  const r = await enroll({ token: 'not-the-token', name: 'evil', key: wgKeypair().publicKey });
  assert.deepEqual(r, { kind: 'refused', reason: 'hub refused: wrong enrollment token' });
  assert.equal(readNodes(p.nodes).length, before);
  assert.ok(said.some((l) => /^refused evil from 127\.0\.0\.1: wrong enrollment token$/.test(l)));
});

test('a closed window is refused; kldload cluster open reopens it', async () => {
  writeJson(p.window, { openedAt: '2020-01-01T00:00:00.000Z', closesAt: '2020-01-01T01:00:00.000Z' });
  const key = wgKeypair().publicKey;
  const r = await enroll({ name: 'late', key });
  assert.equal(r.kind, 'refused');
  assert.match(
    r.kind === 'refused' ? r.reason : '',
    /^hub refused: enrollment window closed at 2020-01-01T01:00:00\.000Z/,
  );
  openWindow(p, 5, new Date());
  assert.equal(address(await enroll({ name: 'late', key })), '10.88.0.4');
});

test('a hub whose certificate is not the pinned one is refused before the token is sent', async () => {
  const other = await selfSignedCert(new SystemExecutor());
  const wrongPin = await enroll({ name: 'x', key: wgKeypair().publicKey, pin: certFingerprint(other.cert) });
  assert.equal(wrongPin.kind, 'refused');
  assert.match(
    wrongPin.kind === 'refused' ? wrongPin.reason : '',
    /not the hub the seed pins .*is not the pinned/,
  );
  const wrongCert = await enroll({
    name: 'x',
    key: wgKeypair().publicKey,
    cert: other.cert,
    pin: certFingerprint(other.cert),
  });
  assert.equal(
    wrongCert.kind,
    'refused',
    `another certificate fails the chain check: ${JSON.stringify(wrongCert)}`,
  );
  assert.ok(!said.some((l) => /enrolled x /.test(l)), 'nothing reached the enrollment');
});

test('a hub that is not up yet is worth another try', async () => {
  const r = await enroll({ name: 'early', key: wgKeypair().publicKey, port: 1 });
  assert.equal(r.kind, 'retry');
  assert.match(r.kind === 'retry' ? r.reason : '', /^hub 127\.0\.0\.1:1 not reachable: .*ECONNREFUSED/);
});

test('a connection cut during the TLS handshake (a hub restarting) is worth another try, not a refusal', async () => {
  // Accepts and drops every connection before the handshake ends.
  const cutter = createServer((sock: Socket) => sock.destroy());
  await new Promise<void>((r) => cutter.listen(0, '127.0.0.1', r));
  try {
    const r = await enroll({
      name: 'cut',
      key: wgKeypair().publicKey,
      port: (cutter.address() as AddressInfo).port,
    });
    assert.equal(r.kind, 'retry', JSON.stringify(r));
  } finally {
    cutter.close();
  }
});

test('CLI: cluster seed writes both trees (secrets 0600), refuses a used folder; a refused spoke says so in status', () => {
  const out = join(root, 'seed');
  const r = cli(['cluster', 'seed', out, '--endpoint', '192.0.2.10:51820', '--spokes', '2', '--json'], {
    via: 'tsx',
  });
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { facts: Record<string, string> };
  assert.equal(j.facts.CLUSTER_HUB_ADDRESS, '10.88.0.1');
  for (const f of ['hub/cluster/token', 'hub/cluster/wg.key', 'hub/cluster/tls.key', 'spoke/cluster/token'])
    assert.equal(statSync(join(out, f)).mode & 0o777, 0o600, f);
  assert.match(readFileSync(join(out, 'spoke/cluster/seed.env'), 'utf8'), /^CLUSTER_ROLE=spoke$/m);
  assert.doesNotMatch(readFileSync(join(out, 'spoke/cluster/seed.env'), 'utf8'), /wg\.key|PRIVATE/);
  const again = cli(['cluster', 'seed', out, '--endpoint', '192.0.2.10:51820'], { via: 'tsx' });
  assert.equal(again.code, 2);
  assert.match(again.stderr, /is not empty: a seed is made once/);

  // A spoke node: its seed as the role installs it, and a refusal recorded by enroll.
  const node = join(root, 'spoke-node');
  const np = clusterPaths(node);
  cli(['cluster', 'seed', join(node, 'seed'), '--endpoint', '192.0.2.10:51820'], { via: 'tsx' });
  cpSync(join(node, 'seed/spoke/cluster'), np.conf, { recursive: true });
  writeJson(np.join, {
    status: 'refused',
    at: '2026-12-02T10:00:00.000Z',
    name: 's',
    reason: 'hub refused: wrong enrollment token',
  });
  const st = cli(['cluster', 'status'], { via: 'tsx', env: { KLDLOAD_CLUSTER_ROOT: node } });
  assert.equal(st.code, EXIT_REFUSED);
  assert.equal(
    st.stdout,
    'spoke s: REFUSED at 2026-12-02T10:00:00.000Z: hub refused: wrong enrollment token\n',
  );
});
