/**
 * `npm run e2e:fleet`: fleets in QEMU. Golden images: a server with the web role is installed and
 * first-booted (`kldload test`), captured with `kldload image capture`, and a second machine is
 * installed from an ISO that carries the golden image (`build --golden`): it passes `kldload test`
 * (the web page served to the host included) without running first boot again, answers for its own
 * host name, and has its own machine-id, hostid and ssh host keys. The install of each is timed
 * (golden vs base image + the same role on first boot). PASS/FAIL per check;
 * bench/results/fleet-<stamp>.json.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { newRunDir } from '../../src/core/paths.ts';
import { HELPER_ARGV } from '../../src/fleet/spray.ts';
import { GOLDEN_FILES, GoldenManifestSchema } from '../../src/layout-image.ts';
import { utcStamp } from '../../src/live/facts.ts';
import { TARGET_DISK } from '../../src/vm/drives.ts';
import type { TestResult } from '../../src/vm/harness.ts';
import { installPhase } from '../../src/vm/install-phase.ts';
import { type Link, Machine } from '../../src/vm/machine.ts';
import { freePort, overlayArgs } from '../../src/vm/qemu.ts';
import { DEFAULT_TEST_ANSWERS, overrideAnswers } from '../../src/vm/test-answers.ts';
import { vmCli } from '../unit/cli-helper.ts';
import { sh } from '../vm/day2-guest.ts';
import { recorder } from './results.ts';

const STAMP = utcStamp();
// KLDLOAD_FLEET_WORK=<an earlier run's folder>: reuse its installed disks (with --test-name-pattern).
const WORK = process.env.KLDLOAD_FLEET_WORK ?? newRunDir('fleet-', 2, STAMP);
mkdirSync(WORK, { recursive: true });
const { check, checkAll, scenario, boots } = recorder('fleet', STAMP);
const log = new Logger({ echo: (l) => console.log(l) });
const exec = new SystemExecutor(log);
const ISO_WEB = join(WORK, 'web.iso');
const ISO_GOLDEN = join(WORK, 'golden.iso');
const GOLDEN = join(WORK, 'web-golden');
const W1 = join(WORK, 'original');
const W2 = join(WORK, 'copy');
const COPY_HOST = 'web-copy';
const IDENTITY_FILE = join(WORK, 'original-identity.json');

/** `kldload test ISO --json`: its result, every phase and check recorded under `scenario`. */
function kldloadTest(scenarioName: string, iso: string, workDir: string, args: string[] = []): TestResult {
  const r = vmCli(['test', iso, '--workdir', workDir, '--json', ...args]);
  const res = JSON.parse(r.stdout) as TestResult;
  boots[scenarioName] = (res.boots ?? []).map(
    (b) => `boot ${b.n} (${b.phase}): ssh after ${b.upSec?.toFixed(0)}s`,
  );
  checkAll(scenarioName, [
    ...res.phases.map((p) => ({ name: `phase ${p.name}`, ok: p.ok, detail: p.detail, seconds: p.seconds })),
    ...res.checks.map((c) => ({ name: c.name, ok: c.ok, detail: c.detail })),
  ]);
  assert.equal(r.code, 0, `kldload test failed: ${r.stderr.slice(-2000)}`);
  return res;
}

/**
 * Boots a new overlay of a `kldload test` work folder's first-booted disk (boot.qcow2), as root over
 * ssh, with this tree's bundle in place of the ISO's when `bundle` (what a reused folder needs).
 */
async function bootAgain(workDir: string, name: string, o: { links?: Link[]; bundle?: boolean } = {}) {
  const disk = join(workDir, `${name}.qcow2`);
  rmSync(disk, { force: true });
  await exec.run(['qemu-img', ...overlayArgs(join(workDir, 'boot.qcow2'), disk)]);
  const m = await Machine.start(exec, {
    disk,
    workDir,
    name,
    key: join(workDir, 'id_ed25519'),
    user: 'admin',
    password: 'kl-test-Secret-7',
    cache: 'unsafe',
    ...(o.links ? { links: o.links } : {}),
    log,
  });
  await m.mustBeUp(900);
  await m.settled(900);
  if (o.bundle) await m.installBundle();
  return m;
}

/**
 * A guest's end of a private link, configured as the site's network would be (a networkd file for
 * that NIC, matched by MAC); returns the interface name once the address is up.
 */
async function underlay(m: Machine, mac: string, cidr: string): Promise<string> {
  const unit = `[Match]\nMACAddress=${mac}\n[Network]\nAddress=${cidr}\nLinkLocalAddressing=no\n`;
  const out = await sh(
    m,
    `printf '%s' '${unit}' > /etc/systemd/network/10-fleet-link.network
networkctl reload
dev=$(ip -o link | awk -F': ' 'tolower($0) ~ /${mac}/ { print $2; exit }')
networkctl reconfigure "$dev"
for i in $(seq 60); do ip -4 -o addr show dev "$dev" | grep -qF '${cidr}' && break; sleep 1; done
ip -4 -o addr show dev "$dev" | grep -qF '${cidr}'
echo "$dev"`,
  );
  return out.trim();
}

const IDENTITY = `cat /etc/machine-id; hostid; ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f2; hostname; curl -fsS http://127.0.0.1/ | sha256sum | cut -d' ' -f1`;
const identity = async (m: Machine) => {
  const [machineId, hostid, sshKey, host, page] = (await sh(m, IDENTITY)).trim().split('\n');
  return { machineId, hostid, sshKey, host, page };
};

type Identity = Awaited<ReturnType<typeof identity>>;
let original: Identity | undefined;
const times: Record<string, number> = {};

test(
  'golden: a web server installed and first-booted, then captured',
  { timeout: 3 * 3600_000 },
  scenario('golden-capture', async () => {
    const b = vmCli(['build', '--profile', 'server', '--role', 'web', '-o', ISO_WEB]);
    check('golden-capture', 'kldload build --role web', () => assert.equal(b.code, 0, b.stderr.slice(-3000)));
    const res = kldloadTest('golden-original', ISO_WEB, W1);
    const install = res.phases.find((p) => p.name === 'install')?.seconds ?? 0;
    times.original = install + (res.roleSeconds?.web ?? 0);
    check(
      'golden-capture',
      `base image install ${install.toFixed(0)} s + web role on first boot ${res.roleSeconds?.web} s`,
      () => assert.ok(res.roleSeconds?.web !== undefined),
      times.original,
    );
    const m = await bootAgain(W1, 'capture');
    try {
      original = await identity(m);
      writeFileSync(IDENTITY_FILE, JSON.stringify({ ...original, seconds: times.original }));
      const t0 = Date.now();
      const out = await sh(
        m,
        'kldload image capture --with srv/www --name web-golden --out /var/tmp --json',
        3600_000,
      );
      const seconds = (Date.now() - t0) / 1000;
      const r = JSON.parse(out) as { ok: boolean; golden: string };
      check('golden-capture', 'kldload image capture --with srv/www', () => assert.ok(r.ok), seconds);
      // Nothing of the machine's identity or logs in the streams' root.
      const leaks = await sh(
        m,
        `zfs list -H -o name | grep -c kexport- || true; ls /var/tmp/web-golden; du -sm /var/tmp/web-golden | cut -f1`,
      );
      check('golden-capture', 'the sealed clones and snapshots are gone after the capture', () =>
        assert.match(leaks, /^0\n/),
      );
      mkdirSync(GOLDEN, { recursive: true });
      await sh(m, 'chmod -R a+rX /var/tmp/web-golden');
      const manifest = GoldenManifestSchema.parse(
        JSON.parse(await sh(m, `cat /var/tmp/web-golden/${GOLDEN_FILES.manifest}`)),
      );
      for (const f of [GOLDEN_FILES.manifest, GOLDEN_FILES.sums, ...manifest.streams.map((s) => s.file)])
        await m.pull(`/var/tmp/web-golden/${f}`, join(GOLDEN, f));
      check(
        'golden-capture',
        `the manifest names the web role and ${manifest.streams.length} streams`,
        () => {
          assert.ok(manifest.roles.includes('web'), manifest.roles.join(' '));
          assert.deepEqual(
            manifest.streams.map((s) => s.rel),
            ['ROOT/default', 'srv/www', 'var/log', 'var/log/nginx'],
          );
        },
      );
    } finally {
      await m.stop();
    }
  }),
);

test(
  'golden: a second machine installed from the golden image serves the same page with its own identity',
  { timeout: 3 * 3600_000 },
  scenario('golden-copy', async () => {
    // A reused folder (KLDLOAD_FLEET_WORK): the original's identity as its capture recorded it.
    if (!original && existsSync(IDENTITY_FILE)) {
      const kept = JSON.parse(readFileSync(IDENTITY_FILE, 'utf8')) as Identity & { seconds?: number };
      original = kept;
      times.original ??= kept.seconds ?? Number.NaN;
    }
    assert.ok(original, 'the capture scenario did not finish');
    const b = vmCli(['build', '--profile', 'server', '--golden', GOLDEN, '-o', ISO_GOLDEN]);
    check('golden-copy', 'kldload build --golden (the streams checked against SHA256SUMS)', () =>
      assert.equal(b.code, 0, b.stderr.slice(-3000)),
    );
    const answers = join(WORK, 'copy-answers.env');
    writeFileSync(
      answers,
      overrideAnswers(DEFAULT_TEST_ANSWERS, { KLDLOAD_HOSTNAME: `${COPY_HOST}.example.net` }),
    );
    const res = kldloadTest('golden-copy-test', ISO_GOLDEN, W2, ['--answers', answers]);
    times.golden = res.phases.find((p) => p.name === 'install')?.seconds ?? 0;
    const serial = readFileSync(join(W2, 'install-serial.log'), 'utf8');
    check('golden-copy', 'the installer received the golden image (no unsquashfs)', () =>
      assert.match(serial, /the golden image web-golden/),
    );
    const m = await bootAgain(W2, 'identity');
    try {
      const copy = await identity(m);
      const o = original as NonNullable<typeof original>;
      check('golden-copy', `the same page as the original (sha256 ${o.page?.slice(0, 12)})`, () =>
        assert.equal(copy.page, o.page),
      );
      check('golden-copy', `its own host name (${copy.host})`, () => assert.equal(copy.host, COPY_HOST));
      check('golden-copy', 'its own machine-id', () => assert.notEqual(copy.machineId, o.machineId));
      check('golden-copy', 'its own hostid', () => assert.notEqual(copy.hostid, o.hostid));
      check('golden-copy', 'its own ssh host key', () => assert.notEqual(copy.sshKey, o.sshKey));
      const firstboot = await sh(
        m,
        'test -e /etc/kldload/reidentify && echo marker || echo none; systemctl is-active kldload-identity.service || true',
      );
      check('golden-copy', 'no identity renewal left for its boots (the installer made it)', () =>
        assert.match(firstboot, /^none\n(inactive|unknown)/),
      );
    } finally {
      await m.stop();
    }
    check(
      'golden-copy',
      `install from the golden image ${times.golden?.toFixed(0)} s vs base image + web role on first boot ${times.original?.toFixed(0)} s`,
      () => assert.ok((times.golden ?? 0) > 0),
      times.golden,
    );
  }),
);

test(
  'replication: a file written on A reaches B with the next syncoid run; deleted on A, it is restored from B',
  { timeout: 2 * 3600_000 },
  scenario('replication', async () => {
    // A: the original web server; B: its golden copy (another identity), or another copy of A.
    const bDir = existsSync(join(W2, 'boot.qcow2')) ? W2 : W1;
    const [pa, pb] = [await freePort(), await freePort()];
    const macA = '52:54:00:77:00:01';
    const macB = '52:54:00:77:00:02';
    const [a, b] = await Promise.all([
      bootAgain(W1, 'repl-a', { links: [{ mac: macA, localPort: pa, remotePort: pb }], bundle: true }),
      bootAgain(bDir, 'repl-b', { links: [{ mac: macB, localPort: pb, remotePort: pa }], bundle: true }),
    ]);
    try {
      await underlay(a, macA, '10.77.0.1/24');
      await underlay(b, macB, '10.77.0.2/24');
      const ping = await sh(a, 'ping -c 3 -W 5 10.77.0.2 >/dev/null && echo ok');
      check('replication', 'A and B reach each other over the private link (10.77.0.0/24)', () =>
        assert.equal(ping.trim(), 'ok'),
      );
      const hostKey = (await sh(b, 'cut -d" " -f1,2 /etc/ssh/ssh_host_ed25519_key.pub')).trim();
      const marker = `kldload replication ${STAMP}`;
      const added = JSON.parse(
        await sh(
          a,
          `zfs create -o mountpoint=/srv/data rpool/srv/data
echo '${marker}' > /srv/data/f.txt
kldload replicate add rpool/srv/data --to kldload-repl@10.77.0.2 --host-key '${hostKey}' --json`,
        ),
      ) as { ok: boolean; acceptCommand: string };
      check('replication', "kldload replicate add (a dedicated key, B's host key pinned, a timer)", () =>
        assert.ok(added.ok && added.acceptCommand.includes('kldload replicate accept')),
      );
      await sh(b, added.acceptCommand);
      const t0 = Date.now();
      const ran = JSON.parse(await sh(a, 'kldload replicate run data --json', 1800_000)) as {
        ok: boolean;
        lastSnapshot?: string;
      };
      check(
        'replication',
        `kldload replicate run (syncoid) sent ${ran.lastSnapshot}`,
        () => assert.ok(ran.ok),
        (Date.now() - t0) / 1000,
      );
      const onB = await sh(
        b,
        `s=$(zfs list -H -t snapshot -o name -s createtxg -r rpool/replica | grep '/data@' | tail -n1)
mkdir -p /run/replica-check && mount -t zfs -o ro "$s" /run/replica-check
cat /run/replica-check/f.txt; umount /run/replica-check`,
      );
      check('replication', 'the file written on A is in the replica on B', () =>
        assert.equal(onB.trim(), marker),
      );
      const restored = await sh(
        a,
        `rm /srv/data/f.txt
kldload replicate restore data --file /srv/data/f.txt
cat /srv/data/f.txt`,
      );
      check('replication', 'deleted on A, kldload replicate restore --file brings it back from B', () =>
        assert.equal(restored.trim().split('\n').pop(), marker),
      );
      const timer = await sh(
        a,
        'systemctl is-enabled kldload-replicate@data.timer; systemctl is-active kldload-replicate@data.timer',
      );
      check('replication', 'the job is scheduled (kldload-replicate@data.timer enabled and active)', () =>
        assert.equal(timer.trim(), 'enabled\nactive'),
      );
      const refused = await a.root(
        'ssh -i /etc/kldload/replicate/id_data -o UserKnownHostsFile=/etc/kldload/replicate/data.known_hosts -o BatchMode=yes kldload-repl@10.77.0.2 id',
      );
      check('replication', 'the dedicated key runs nothing but the receive side (ssh … id refused)', () => {
        assert.equal(refused.exitCode, 126, refused.all);
        assert.doesNotMatch(refused.stdout, /uid=/);
      });
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  }),
);

/** Installs `iso` onto a new disk of `dir` with the test answers for `host`; returns the disk. */
async function installFor(iso: string, dir: string, host: string): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const key = join(dir, 'id_ed25519');
  if (!existsSync(key)) await exec.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const answers = join(dir, 'answers.env');
  writeFileSync(
    answers,
    overrideAnswers(DEFAULT_TEST_ANSWERS, {
      KLDLOAD_HOSTNAME: `${host}.example.net`,
      KLDLOAD_DISK: TARGET_DISK,
      KLDLOAD_SSH_PUBKEY: readFileSync(`${key}.pub`, 'utf8').trim(),
    }),
    { mode: 0o600 },
  );
  const disk = join(dir, 'target.qcow2');
  await exec.run(['qemu-img', 'create', '-q', '-f', 'qcow2', disk, '16G']);
  const r = await installPhase(exec, log, {
    iso,
    workDir: dir,
    answersFile: answers,
    disk,
    timeoutSec: 1800,
  });
  check('cluster', `install ${host}`, () => assert.ok(r.ok, r.detail), r.seconds);
  // boot.qcow2, as kldload test names the first-booted disk: bootAgain overlays it.
  await exec.run(['qemu-img', ...overlayArgs(disk, join(dir, 'boot.qcow2'))]);
  return disk;
}

/** Polls `script` on `m` (every 15 s) until its stdout matches `re`; returns the last stdout. */
async function until(m: Machine, script: string, re: RegExp, timeoutSec: number): Promise<string> {
  const end = Date.now() + timeoutSec * 1000;
  let out = '';
  while (Date.now() < end) {
    out = (await m.root(script, {}, 120_000)).stdout;
    if (re.test(out)) return out;
    await new Promise((r) => setTimeout(r, 15_000));
  }
  return out;
}

test(
  'cluster: a hub and two spokes enroll over WireGuard, ping each other over wg0, ansible converges twice; a wrong token is refused',
  { timeout: 4 * 3600_000 },
  scenario('cluster', async () => {
    const SEED = join(WORK, 'cluster-seed');
    rmSync(SEED, { recursive: true, force: true });
    const seed = vmCli(['cluster', 'seed', SEED, '--endpoint', '10.77.0.1:51820', '--spokes', '2', '--json']);
    check('cluster', 'kldload cluster seed (hub keys, token, pinned TLS certificate)', () =>
      assert.equal(seed.code, 0, seed.stderr),
    );
    // A spoke whose seed carries a wrong token: it must be refused and say so.
    cpSync(join(SEED, 'spoke'), join(SEED, 'bad'), { recursive: true });
    writeFileSync(join(SEED, 'bad/cluster/token'), 'not-the-token\n', { mode: 0o600 });
    const isos: Record<string, string> = {};
    for (const [name, role, payload] of [
      ['hub', 'cluster-hub', 'hub'],
      ['spoke', 'cluster-spoke', 'spoke'],
      ['bad', 'cluster-spoke', 'bad'],
    ] as const) {
      isos[name] = join(WORK, `cluster-${name}.iso`);
      const t0 = Date.now();
      const b = vmCli([
        'build',
        '--profile',
        'server',
        '--role',
        role,
        '--payload',
        join(SEED, payload),
        '-o',
        isos[name],
      ]);
      check(
        'cluster',
        `build the ${name} ISO`,
        () => assert.equal(b.code, 0, b.stderr.slice(-3000)),
        (Date.now() - t0) / 1000,
      );
    }
    const dirs = {
      hub: join(WORK, 'hub'),
      s1: join(WORK, 'spoke-1'),
      s2: join(WORK, 'spoke-2'),
      bad: join(WORK, 'spoke-bad'),
    };
    await installFor(isos.hub as string, dirs.hub, 'hub');
    await installFor(isos.spoke as string, dirs.s1, 'spoke-1');
    await installFor(isos.spoke as string, dirs.s2, 'spoke-2');
    await installFor(isos.bad as string, dirs.bad, 'spoke-bad');
    // The site's network: a star of links into a bridge on the hub (10.77.0.0/24).
    const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()));
    const p = (i: number) => ports[i] as number;
    const mac = (n: number) => `52:54:00:77:01:0${n}`;
    const machines: Machine[] = [];
    try {
      const hub = await bootAgain(dirs.hub, 'cluster', {
        links: [0, 1, 2].map((i) => ({ mac: mac(i + 1), localPort: p(2 * i), remotePort: p(2 * i + 1) })),
      });
      machines.push(hub);
      await sh(
        hub,
        `printf '[NetDev]\\nName=br-fleet\\nKind=bridge\\n' > /etc/systemd/network/10-fleet-br.netdev
printf '[Match]\\nMACAddress=${mac(1)} ${mac(2)} ${mac(3)}\\n[Network]\\nBridge=br-fleet\\n' > /etc/systemd/network/10-fleet-ports.network
printf '[Match]\\nName=br-fleet\\n[Network]\\nAddress=10.77.0.1/24\\nLinkLocalAddressing=no\\nConfigureWithoutCarrier=yes\\n' > /etc/systemd/network/10-fleet-br.network
networkctl reload
for i in $(seq 60); do ip -4 -o addr show dev br-fleet 2>/dev/null | grep -q 10.77.0.1 && break; sleep 1; done
ip -4 -o addr show dev br-fleet | grep -q 10.77.0.1`,
      );
      const spoke = async (dir: string, i: number, addr: string) => {
        const m = await bootAgain(dir, 'cluster', {
          links: [{ mac: mac(i + 4), localPort: p(2 * i + 1), remotePort: p(2 * i) }],
        });
        machines.push(m);
        await underlay(m, mac(i + 4), `${addr}/24`);
        return m;
      };
      const [s1, s2] = await Promise.all([spoke(dirs.s1, 0, '10.77.0.11'), spoke(dirs.s2, 1, '10.77.0.12')]);
      const status = await until(
        hub,
        'kldload cluster status --json',
        /"name":\s*"spoke-1"[\s\S]*"name":\s*"spoke-2"|"name":\s*"spoke-2"[\s\S]*"name":\s*"spoke-1"/,
        1800,
      );
      const nodes = (
        JSON.parse(status) as { nodes: { name: string; address: string; role: string }[] }
      ).nodes.filter((n) => n.role === 'spoke');
      check(
        'cluster',
        `both spokes enrolled (${nodes.map((n) => `${n.name} ${n.address}`).join(', ')})`,
        () => assert.deepEqual(nodes.map((n) => n.name).sort(), ['spoke-1', 'spoke-2']),
      );
      const addr = (n: string) => nodes.find((x) => x.name === n)?.address as string;
      const hubWg = (await sh(hub, "ip -4 -o addr show dev wg0 | awk '{print $4}' | cut -d/ -f1")).trim();
      for (const [m, from, to] of [
        [s1, 'spoke-1', [hubWg, addr('spoke-2')]],
        [s2, 'spoke-2', [hubWg, addr('spoke-1')]],
        [hub, 'hub', [addr('spoke-1'), addr('spoke-2')]],
      ] as const) {
        const r = await m.root(
          to.map((t) => `ping -c 2 -W 5 -I wg0 ${t} >/dev/null && echo ok-${t}`).join('\n'),
        );
        check('cluster', `${from} pings ${to.join(' and ')} over wg0`, () =>
          assert.equal(r.stdout.trim(), to.map((t) => `ok-${t}`).join('\n'), r.all),
        );
      }
      const marker = 'cat /etc/kldload/cluster-converged 2>/dev/null';
      for (const [m, name] of [
        [hub, 'hub'],
        [s1, 'spoke-1'],
        [s2, 'spoke-2'],
      ] as const) {
        const out = await until(m, marker, /converged/, 1800);
        check('cluster', `the hub's converge unit put the marker on ${name}`, () =>
          assert.match(out, /converged/),
        );
      }
      const again = await hub.root('kldload cluster converge --json', {}, 1800_000);
      const recap = JSON.parse(again.stdout || '{}') as {
        hosts?: Record<string, { changed: number; failed: number }>;
      };
      const hosts = Object.entries(recap.hosts ?? {});
      check(
        'cluster',
        `a second converge changes nothing (${hosts.map(([h, r]) => `${h} changed=${r.changed}`).join(', ')})`,
        () => {
          assert.equal(again.exitCode, 0, again.all.slice(-2000));
          assert.ok(hosts.length >= 3 && hosts.every(([, r]) => r.changed === 0 && r.failed === 0));
        },
      );
      // The spoke with the wrong token: refused for good, and it says so.
      const bad = await bootAgain(dirs.bad, 'cluster', {
        links: [{ mac: mac(7), localPort: p(5), remotePort: p(4) }],
      });
      machines.push(bad);
      await underlay(bad, mac(7), '10.77.0.13/24');
      const refused = await until(bad, 'kldload cluster status; echo "rc=$?"', /refused|REFUSED/i, 900);
      check('cluster', 'the spoke with a wrong token is refused and says so (exit 3)', () => {
        assert.match(refused, /wrong enrollment token/);
        assert.match(refused, /rc=3/);
      });
      const hubAfter = await sh(hub, 'kldload cluster status --json');
      check('cluster', 'the refused spoke is not a node of the hub', () =>
        assert.doesNotMatch(hubAfter, /spoke-bad/),
      );
      const failed = await sh(
        hub,
        'systemctl --failed --no-legend --plain; kldload firstboot status --json | tr -d " \\n"',
      );
      check('cluster', "the hub's first boot passed (roles verified) and no unit failed", () =>
        assert.match(failed.trim(), /^\{.*"status":"ok"/),
      );
      // Clones in seconds (issue 14's bench): 100 clones of one snapshot by kldload spray (libzfs_core
      // by ctypes from threads) against 100 plain `zfs clone`s, same guest.
      const timedSh = async (script: string) => {
        const t0 = Date.now();
        await sh(hub, script, 1800_000);
        return (Date.now() - t0) / 1000;
      };
      await sh(
        hub,
        'zfs create -o mountpoint=/srv/gold rpool/srv/gold && cp -a /etc /srv/gold/ && zfs snapshot rpool/srv/gold@golden',
      );
      const empty = await timedSh('true');
      const spray = (await timedSh('kldload spray create t 100 --from rpool/srv/gold@golden')) - empty;
      const made = await sh(hub, 'zfs list -H -o name -d 1 rpool/spray/t | grep -c /t- || true');
      const loop =
        (await timedSh(
          'zfs create -o canmount=off -o mountpoint=none rpool/srv/loop && for i in $(seq 100); do zfs clone rpool/srv/gold@golden rpool/srv/loop/c$i; done',
        )) - empty;
      const destroy = (await timedSh('kldload spray destroy t')) - empty;
      check(
        'cluster',
        `kldload spray: 100 clones in ${spray.toFixed(1)} s (100 zfs clone: ${loop.toFixed(1)} s; spray destroy ${destroy.toFixed(1)} s)`,
        () => assert.equal(made.trim(), '100'),
        spray,
      );
      // The helper's failure path on real ZFS: a container that exists (another run's) is refused and
      // kept; a clone that fails (its parent is missing) takes back what the job made, container last.
      const job = (create: string, names: string[]) =>
        `echo '${JSON.stringify({ op: 'clone', origin: 'rpool/srv/gold@golden', create: [{ name: create, props: { canmount: 0 } }], names })}' | ${HELPER_ARGV.join(' ')} || echo "rc=$?"`;
      const undo = await sh(
        hub,
        [
          'zfs create -o canmount=off rpool/spray/other',
          job('rpool/spray/other', ['rpool/spray/other/x-1']),
          'zfs list -H -o name -r rpool/spray/other',
          job('rpool/spray/u', ['rpool/spray/u/u-1', 'rpool/spray/u/nope/u-2']),
          'zfs list -H -o name -r rpool/spray/u 2>&1 || true',
        ].join('\n'),
      );
      const [taken, rc1, kept, undone, rc2, gone] = undo.trim().split('\n');
      type Result = {
        done: string[];
        failed: { name: string; error: string }[];
        undone: string[];
        left: unknown[];
      };
      check(
        'cluster',
        "spray's helper: a taken container is kept; a failed clone job takes back only what it made",
        () => {
          const t = JSON.parse(taken ?? '{}') as Result;
          assert.deepEqual(
            [t.failed, t.undone, rc1, kept],
            [[{ name: 'rpool/spray/other', error: 'EEXIST (File exists)' }], [], 'rc=1', 'rpool/spray/other'],
            undo,
          );
          const u = JSON.parse(undone ?? '{}') as Result;
          assert.deepEqual(
            [u.failed[0]?.name, u.undone, u.left, u.done, rc2],
            ['rpool/spray/u/nope/u-2', ['rpool/spray/u/u-1', 'rpool/spray/u'], [], [], 'rc=1'],
            undo,
          );
          assert.match(gone ?? '', /rpool\/spray\/u'?: dataset does not exist/, undo);
        },
      );
    } finally {
      await Promise.all(machines.map((m) => m.stop()));
    }
  }),
);
