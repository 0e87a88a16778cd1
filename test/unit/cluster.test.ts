/** The cluster's pure parts: addresses, records, rendered files, the enrollment decision, plans. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { renderPlan } from '../../src/core/plan.ts';
import { authorizedKeysLine, inventory, knownHosts, spokeWgConf } from '../../src/fleet/cluster-config.ts';
import { convergePlan, parseRecap } from '../../src/fleet/cluster-converge.ts';
import { checkAnswer, spokeJoinPlan } from '../../src/fleet/cluster-enroll.ts';
import {
  decide,
  type HubContext,
  hubEnrollPlan,
  REFUSAL,
  readRequest,
  tokenMatches,
} from '../../src/fleet/cluster-hub.ts';
import {
  capacity,
  contains,
  hubAddress,
  nextAddress,
  parseEndpoint,
  parseNet,
} from '../../src/fleet/cluster-net.ts';
import { certFingerprint, seedTrees, wgKeypair } from '../../src/fleet/cluster-seed.ts';
import {
  clusterPaths,
  type NodeRecord,
  parseWgDump,
  readConverge,
  readJoin,
  readNodes,
  readWindow,
  windowOpen,
  writeJson,
  writeNodes,
} from '../../src/fleet/cluster-state.ts';
import { hubStatus, renderHubStatus } from '../../src/fleet/cluster-status.ts';
import { matchesGolden } from './golden.ts';

const GOLDEN = 'test/fixtures/cluster';
const CERT = readFileSync(join(GOLDEN, 'tls.crt'), 'utf8');
const NET = parseNet('10.88.0.0/24');
const P = clusterPaths();
const KEY = (c: string) => `${c.repeat(42)}A=`;
const HOSTKEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheSpokeForTestsOnly0000000000 root@spoke';
const node = (name: string, address: string, c: string): NodeRecord => ({
  name,
  address,
  publicKey: KEY(c),
  hostKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheSpokeForTestsOnly0000000000',
  enrolledAt: '2026-12-02T10:00:00.000Z',
});
const N1 = node('spoke-1', '10.88.0.2', 'b');
const N2 = node('spoke-2', '10.88.0.3', 'c');

test('addresses: the hub takes the first host, spokes the lowest free one after it', () => {
  assert.equal(hubAddress(NET), '10.88.0.1');
  assert.equal(nextAddress(NET, ['10.88.0.1']), '10.88.0.2');
  assert.equal(nextAddress(NET, ['10.88.0.1', '10.88.0.2', '10.88.0.4']), '10.88.0.3');
  const tiny = parseNet('10.9.0.0/30');
  assert.equal(capacity(tiny), 1);
  assert.equal(nextAddress(tiny, ['10.9.0.1']), '10.9.0.2');
  assert.equal(nextAddress(tiny, ['10.9.0.1', '10.9.0.2']), undefined);
  assert.ok(contains(NET, '10.88.0.254') && !contains(NET, '10.88.0.255') && !contains(NET, '10.88.1.2'));
  assert.throws(() => parseNet('10.88.0.1/24'), /host bits set; the network is 10\.88\.0\.0\/24/);
  assert.throws(
    () => parseNet('10.88.0.0/8'),
    /--net: '10\.88\.0\.0\/8' is not an IPv4 network from \/16 to \/30/,
  );
  assert.deepEqual(parseEndpoint('hub.example.net:51820'), { host: 'hub.example.net', port: 51820 });
  assert.throws(() => parseEndpoint('hub:0'), /--endpoint: 'hub:0' must be HOST:PORT/);
});

test('records round-trip; a broken one names the file and what it lacks', () => {
  const root = mkdtempSync(join(tmpdir(), 'kl-cluster-'));
  try {
    const p = clusterPaths(root);
    assert.deepEqual(readNodes(p.nodes), []);
    writeNodes(p.nodes, [N1, N2]);
    assert.deepEqual(readNodes(p.nodes), [N1, N2]);
    writeJson(p.window, { openedAt: '2026-12-02T10:00:00.000Z', closesAt: '2026-12-02T11:00:00.000Z' });
    const w = readWindow(p.window);
    assert.equal(windowOpen(w, new Date('2026-12-02T10:59:59Z')), true);
    assert.equal(windowOpen(w, new Date('2026-12-02T11:00:00Z')), false);
    writeJson(p.converge, { at: 'x', exitCode: 0, hosts: {} });
    assert.equal(readConverge(p.converge)?.exitCode, 0);
    writeJson(p.join, { status: 'refused', at: 'x', name: 'a', reason: 'r' });
    assert.equal(readJoin(p.join)?.status, 'refused');
    writeFileSync(p.nodes, '{"nodes":[{"name":"a"}]}');
    assert.throws(
      () => readNodes(p.nodes),
      /nodes\.json: node 1 lacks address, publicKey, hostKey, enrolledAt/,
    );
    writeFileSync(p.nodes, '{');
    assert.throws(() => readNodes(p.nodes), /nodes\.json: not valid JSON/);
  } finally {
    rmSync(root, { recursive: true });
  }
});

test('the token check: equal only for the same text, whatever the length', () => {
  assert.equal(tokenMatches('s3cret-token', 's3cret-token'), true);
  assert.equal(tokenMatches('s3cret-tokeN', 's3cret-token'), false);
  assert.equal(tokenMatches('s3cret', 's3cret-token'), false);
  assert.equal(tokenMatches('', ''), false);
});

const ctx = (o: Partial<HubContext> = {}): HubContext => ({
  token: 'tok',
  net: NET,
  hubPublicKey: KEY('h'),
  ansiblePublicKey: 'ssh-ed25519 AAAAansible hub',
  nodes: [N1],
  window: { openedAt: '2026-12-02T10:00:00.000Z', closesAt: '2026-12-02T11:00:00.000Z' },
  now: new Date('2026-12-02T10:30:00Z'),
  ...o,
});
const req = (o: Record<string, string> = {}) => {
  const r = readRequest({ token: 'tok', name: 'spoke-2', publicKey: KEY('c'), hostKey: HOSTKEY, ...o });
  if (typeof r === 'string') throw new Error(r);
  return r;
};

test('enrollment: next address; the same key again; wrong token, closed window, taken name refused', () => {
  const d = decide(req(), ctx());
  assert.ok(d.ok);
  assert.equal(d.answer.address, '10.88.0.3');
  assert.equal(d.answer.hubAddress, '10.88.0.1');
  assert.equal(d.added?.hostKey, N2.hostKey, 'the comment of the host key is dropped');
  const again = decide(
    req({ publicKey: N1.publicKey, name: 'spoke-1' }),
    ctx({ now: new Date('2027-01-01') }),
  );
  assert.ok(
    again.ok && !again.added && again.answer.address === '10.88.0.2',
    'known key: its address, window or not',
  );
  assert.deepEqual(decide(req({ token: 'nope' }), ctx()), { ok: false, status: 403, error: REFUSAL.token });
  const closed = decide(req(), ctx({ now: new Date('2026-12-02T11:00:01Z') }));
  assert.ok(!closed.ok && closed.status === 403 && closed.error.startsWith(REFUSAL.closed));
  const taken = decide(req({ name: 'spoke-1' }), ctx());
  assert.ok(
    !taken.ok && taken.status === 409 && /spoke-1 is enrolled with another WireGuard key/.test(taken.error),
  );
  assert.equal(
    readRequest({ token: 'x', name: 'Bad_Name', publicKey: KEY('c'), hostKey: HOSTKEY }),
    'name: must be a short host name (a-z, 0-9, -)',
  );
  assert.match(
    String(readRequest({ token: 'x', name: 'a', publicKey: 'short', hostKey: HOSTKEY })),
    /^publicKey:/,
  );
});

test('a spoke checks the answer against its seed', () => {
  const a = {
    address: '10.88.0.3',
    hubPublicKey: KEY('h'),
    hubAddress: '10.88.0.1',
    net: NET.cidr,
    ansiblePublicKey: 'ssh-ed25519 AAAA x',
  };
  assert.equal(checkAnswer(a, NET, KEY('h')), undefined);
  assert.match(checkAnswer({ ...a, address: '10.1.0.3' }, NET, KEY('h')) ?? '', /not in 10\.88\.0\.0\/24/);
  assert.match(checkAnswer(a, NET, KEY('x')) ?? '', /differs from the seed's/);
});

test('rendered files: spoke wg0 routes the whole net via the hub; the key only from the hub; known_hosts by address', () => {
  const conf = spokeWgConf({
    address: '10.88.0.2',
    prefix: 24,
    keyFile: P.wgKey,
    hubPublicKey: KEY('h'),
    endpoint: 'hub:51820',
    net: NET.cidr,
  });
  assert.match(conf, /AllowedIPs = 10\.88\.0\.0\/24\nPersistentKeepalive = 25/);
  assert.doesNotMatch(conf, /PrivateKey/);
  assert.equal(
    authorizedKeysLine('10.88.0.1', 'ssh-ed25519 AAAA k\n'),
    'from="10.88.0.1",no-port-forwarding,no-agent-forwarding,no-X11-forwarding ssh-ed25519 AAAA k\n',
  );
  assert.equal(knownHosts([N1]), `10.88.0.2 ${N1.hostKey}\n`);
  assert.match(
    inventory('hub', [N1, N2]),
    /\[hub\]\nhub ansible_connection=local\n\n\[spokes\]\nspoke-1 ansible_host=10\.88\.0\.2\nspoke-2 ansible_host=10\.88\.0\.3\n/,
  );
});

test('plans (golden): a hub enrollment, the last expected one, a spoke join, convergence', () => {
  const first = hubEnrollPlan({ paths: P, net: NET, port: 51820, nodes: [N1], added: N1, expected: 2 });
  assert.deepEqual(
    first.steps.map((s) => s.name),
    ['wg-peer'],
  );
  const last = hubEnrollPlan({ paths: P, net: NET, port: 51820, nodes: [N1, N2], added: N2, expected: 2 });
  matchesGolden(join(GOLDEN, 'hub-enroll.plan.txt'), renderPlan(last, '/'));
  const join1 = spokeJoinPlan({
    paths: P,
    net: NET,
    endpoint: '192.168.1.10:51820',
    answer: {
      address: '10.88.0.2',
      hubPublicKey: KEY('h'),
      hubAddress: '10.88.0.1',
      net: NET.cidr,
      ansiblePublicKey: 'ssh-ed25519 AAAAansible hub',
    },
  });
  matchesGolden(join(GOLDEN, 'spoke-join.plan.txt'), renderPlan(join1, '/'));
  matchesGolden(join(GOLDEN, 'converge.plan.txt'), renderPlan(convergePlan(P, 'hub', [N1, N2]), '/'));
});

test('seed: both trees from the made secrets; the private key and token only where they belong', () => {
  const wg = wgKeypair();
  assert.match(wg.publicKey, /^[A-Za-z0-9+/]{43}=$/);
  assert.notEqual(wg.publicKey, wg.privateKey);
  const s = seedTrees(
    { endpoint: 'hub.example.net:51820', spokes: 2 },
    { wg, token: 'TOKEN', cert: CERT, certKey: 'KEY' },
  );
  assert.equal(s.env.spoke.CLUSTER_CERT_SHA256, certFingerprint(CERT));
  assert.equal(
    certFingerprint(CERT),
    '0B:83:52:48:99:2C:36:2E:03:7A:15:71:2C:22:0B:91:09:20:43:25:DF:19:B9:A0:2F:8C:3A:99:99:46:B7:1F',
  );
  assert.deepEqual(
    s.files.spoke.map((f) => `${f.path} ${f.mode.toString(8)}`),
    ['cluster/token 600', 'cluster/tls.crt 644'],
  );
  assert.deepEqual(
    s.files.hub.map((f) => f.path),
    ['cluster/token', 'cluster/tls.crt', 'cluster/tls.key', 'cluster/wg.key', 'cluster/ansible/site.yml'],
  );
  assert.ok(!JSON.stringify(s.env).includes(wg.privateKey) && !JSON.stringify(s.facts).includes('TOKEN'));
  assert.equal(s.env.hub.CLUSTER_SPOKES, '2');
  assert.throws(
    () =>
      seedTrees(
        { endpoint: 'h:1', net: '10.0.0.0/30', spokes: 2 },
        { wg, token: 't', cert: CERT, certKey: 'k' },
      ),
    /--spokes: 2 do not fit/,
  );
});

test('PLAY RECAP and wg dump are read; status joins them per node', () => {
  const recap = parseRecap(
    'TASK [x]\nchanged: [hub]\n\nPLAY RECAP *****\nhub                        : ok=1    changed=1    unreachable=0    failed=0    skipped=0\nspoke-1                    : ok=0    changed=0    unreachable=1    failed=0\n',
  );
  assert.deepEqual(recap, {
    hub: { ok: 1, changed: 1, unreachable: 0, failed: 0 },
    'spoke-1': { ok: 0, changed: 0, unreachable: 1, failed: 0 },
  });
  const peers = parseWgDump(
    `priv\tpub\t51820\toff\n${N1.publicKey}\t(none)\t1.2.3.4:5\t10.88.0.2/32\t1764669600\t10\t20\t25\n`,
  );
  assert.equal(peers[0]?.latestHandshake, 1764669600);
  const rows = hubStatus({
    hubName: 'hub',
    hubAddress: '10.88.0.1',
    nodes: [N1, N2],
    peers,
    converge: { at: 'T', exitCode: 4, hosts: recap },
  });
  assert.deepEqual(
    rows.map((r) => [r.name, r.lastHandshake, r.converge, r.changed, r.convergedAt]),
    [
      ['hub', null, 'ok', 1, 'T'],
      ['spoke-1', '2025-12-02T10:00:00.000Z', 'unreachable', 0, null],
      ['spoke-2', null, null, null, null],
    ],
  );
  assert.match(
    renderHubStatus(rows, 2, undefined, false),
    /^hub: 2\/2 spokes enrolled; enrollment not started\nNAME +ADDRESS/,
  );
});
