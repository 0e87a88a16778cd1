/**
 * kst: the parsers on output as the tools print it (test/fixtures/day2-status), the JSON and text
 * forms of zpool status read alike, and the whole command against a fixture machine (files under a
 * scratch root; zpool, zfs and systemctl answered by a recorder): verdict, exit code, screen, --watch.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readStatusFacts, status, watchExecutor, watchStatus } from '../../src/cli/commands/status.ts';
import { EXIT } from '../../src/core/errors.ts';
import { RecordingExecutor, type RunResult } from '../../src/core/exec.ts';
import { type StatusFacts, verdict } from '../../src/status/status.ts';
import { parseFailedUnits } from '../../src/status/status-facts.ts';
import { parseScanLine, parseStatusJson, parseStatusText } from '../../src/status/status-parse.ts';
import { CLEAR_SCREEN, redraw, renderStatus } from '../../src/status/status-render.ts';
import { cli } from './cli-helper.ts';

const FIX = 'test/fixtures/day2-status';
const fix = (f: string) => readFileSync(join(FIX, f), 'utf8');

test('zpool status -j --json-int: state, the vdev tree below the root, the last scrub', () => {
  const h = parseStatusJson(fix('zpool-status-healthy.json')).get('rpool');
  assert.ok(h);
  assert.equal(h.state, 'ONLINE');
  assert.equal(h.dataErrors, 0);
  assert.equal(h.status, undefined);
  assert.deepEqual(h.scan, { function: 'scrub', state: 'finished', end: '2025-11-30T00:24:03Z', errors: 0 });
  assert.deepEqual(h.vdevs, [
    {
      name: 'vda2',
      type: 'disk',
      state: 'ONLINE',
      read: 0,
      write: 0,
      checksum: 0,
      depth: 1,
      path: '/dev/vda2',
    },
  ]);
});

test('zpool status: the JSON and the text form of the same degraded mirror read the same', () => {
  const j = parseStatusJson(fix('zpool-status-degraded.json')).get('rpool');
  const t = parseStatusText(fix('zpool-status-degraded.txt')).get('rpool');
  assert.ok(j && t);
  const shape = (h: typeof j) => ({
    state: h.state,
    status: h.status,
    action: h.action,
    dataErrors: h.dataErrors,
    scan: h.scan,
    vdevs: h.vdevs.map(({ type: _type, ...v }) => ({
      ...v,
      path: v.state === 'ONLINE' ? undefined : v.path,
    })),
  });
  assert.deepEqual(shape(t), shape(j));
  assert.equal(j.state, 'DEGRADED');
  assert.equal(
    j.status,
    'One or more devices could not be used because the label is missing or invalid. Sufficient replicas exist for the pool to continue functioning in a degraded state.',
  );
  assert.equal(j.action, "Replace the device using 'zpool replace'.");
  assert.deepEqual(
    j.vdevs.map((v) => [v.name, v.type, v.state, v.depth, v.path]),
    [
      ['mirror-0', 'mirror', 'DEGRADED', 1, undefined],
      ['vda2', 'disk', 'ONLINE', 2, '/dev/vda2'],
      ['13705118455718946436', 'disk', 'UNAVAIL', 2, '/dev/vdb2'],
    ],
  );
});

test('zpool status text: raidz checksum errors, log and spare classes, a scrub under way, data errors', () => {
  const tank = parseStatusText(fix('zpool-status-degraded.txt')).get('tank');
  assert.ok(tank);
  assert.equal(tank.state, 'ONLINE');
  assert.equal(tank.dataErrors, 2);
  assert.deepEqual(tank.scan, { function: 'scrub', state: 'scanning' });
  assert.deepEqual(
    tank.vdevs.map((v) => [v.name, v.state, v.checksum, v.depth, v.class]),
    [
      ['raidz1-0', 'ONLINE', 0, 1, undefined],
      ['vdc', 'ONLINE', 0, 2, undefined],
      ['vdd', 'ONLINE', 3, 2, undefined],
      ['vde', 'ONLINE', 0, 2, undefined],
      ['vdf', 'ONLINE', 0, 1, 'logs'],
      ['vdg', 'AVAIL', 0, 1, 'spares'],
    ],
  );
  assert.match(
    tank.action ?? '',
    /^Determine if the device needs to be replaced, and clear the errors using/,
  );
  assert.equal(parseScanLine('resilver in progress since Sun Nov 30 09:00:01 2025')?.state, 'scanning');
  assert.equal(parseScanLine('scrub canceled on Sun Nov 30 09:00:01 2025')?.state, 'canceled');
  assert.deepEqual(parseScanLine('resilvered 1.20G in 00:01:02 with 0 errors on Mon Dec  1 07:05:09 2025'), {
    function: 'resilver',
    state: 'finished',
    errors: 0,
    end: '2025-12-01T07:05:09Z',
  });
  assert.equal(parseScanLine('none requested'), undefined);
});

test('systemctl --failed --plain --no-legend: unit, load, active, sub, the description whole', () => {
  assert.deepEqual(parseFailedUnits(fix('systemctl-failed.txt'))[1], {
    unit: 'nginx.service',
    load: 'loaded',
    active: 'failed',
    sub: 'failed',
    description: 'A high performance web server and a reverse proxy server',
  });
  assert.deepEqual(parseFailedUnits(''), []);
});

/* ── the command, against a fixture machine ── */

interface Machine {
  health: 'healthy' | 'degraded';
  json?: boolean;
  failed?: boolean;
  firstboot?: object;
  esp?: boolean;
  upgrade?: string;
  held?: string[];
  zpoolList?: Partial<RunResult>;
}

function machine(m: Machine) {
  const root = mkdtempSync(join(tmpdir(), 'kl-kst-'));
  const put = (p: string, text: string) => {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), text);
  };
  put('proc/cmdline', 'BOOT_IMAGE=/x initrd=/y root=ZFS=rpool/ROOT/default boot=zfs rw\n');
  put('proc/sys/kernel/hostname', 'kl1\n');
  put('proc/sys/kernel/osrelease', '6.12.57+deb13-amd64\n');
  for (const f of ['meminfo', 'loadavg', 'uptime', 'cpuinfo']) {
    mkdirSync(join(root, 'proc'), { recursive: true });
    copyFileSync(join(FIX, f), join(root, 'proc', f));
  }
  if (m.firstboot) put('var/lib/kldload/firstboot.json', JSON.stringify(m.firstboot));
  else put('var/lib/kldload/firstboot.done', '2025-11-22T03:40:00Z\n');
  if (m.upgrade !== undefined) put('var/lib/kldload/upgrade/state.json', m.upgrade);
  for (const k of m.held ?? []) put(`var/lib/kldload/kernel-guard/${k}.held`, '');
  if (m.esp) {
    put('etc/os-release', 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\n');
    put(
      'boot/efi/loader/entries/0a1b2c-6.12.57+deb13-amd64+3.conf',
      'options root=ZFS=rpool/ROOT/default boot=zfs rw\nlinux /0a1b2c/6.12.57+deb13-amd64/linux\n',
    );
    put('boot/efi/loader/entries/kldload-test+3.conf', 'options root=ZFS=rpool/ROOT/test boot=zfs rw\n');
    // LoaderEntryOneShot as bootctl writes it: 4 bytes of attributes, then UTF-16LE with a NUL.
    const v = Buffer.concat([Buffer.from([6, 0, 0, 0]), Buffer.from('kldload-test.conf\0', 'utf16le')]);
    mkdirSync(join(root, 'sys/firmware/efi/efivars'), { recursive: true });
    writeFileSync(
      join(root, 'sys/firmware/efi/efivars/LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f'),
      v,
    );
  }
  const exec = new RecordingExecutor((argv) => {
    const cmd = argv.join(' ');
    if (cmd.startsWith('zpool list -Hp -o name,size'))
      return m.zpoolList ?? { stdout: fix(`zpool-list-${m.health}.txt`) };
    if (cmd === 'zpool status -j --json-int')
      return m.json === false
        ? { exitCode: 2, all: "invalid option 'j'\nusage:\n\tstatus [-DegiLpPstvx] …" }
        : { stdout: fix(`zpool-status-${m.health}.json`) };
    if (cmd === 'zpool status -p') return { stdout: fix(`zpool-status-${m.health}.txt`) };
    if (cmd.startsWith('zfs list -Hp -o name,type,')) return { stdout: fix('zfs-list.txt') };
    if (cmd === 'zfs list -Hp -o name -d 1 rpool/ROOT')
      return { stdout: 'rpool/ROOT\nrpool/ROOT/default\nrpool/ROOT/test\n' };
    if (cmd.startsWith('systemctl --failed')) return { stdout: m.failed ? fix('systemctl-failed.txt') : '' };
    if (cmd === 'systemctl is-system-running')
      return m.failed ? { exitCode: 1, stdout: 'degraded\n' } : { stdout: 'running\n' };
    return { exitCode: 127, all: `${argv[0]}: not expected in this test` };
  });
  const now = () => new Date('2025-11-30T10:30:00Z');
  return { root, exec, src: { exec, root, now } };
}

test('kst on a healthy machine: exit 0, one screen, every part read', async () => {
  const { src } = machine({ health: 'healthy', esp: true });
  const f = await readStatusFacts(src);
  const v = verdict(f);
  assert.deepEqual(v.problems, []);
  assert.equal(v.exitCode, EXIT.ok);
  assert.deepEqual(f.unread, []);
  const [p] = f.pools;
  assert.deepEqual(p && [p.name, p.state, p.size, p.capacity, p.fragmentation, p.compressratio, p.bootfs], [
    'rpool',
    'ONLINE',
    20937965568,
    10,
    1,
    1.93,
    'rpool/ROOT/default',
  ]);
  const snaps = Object.fromEntries(f.datasets.map((d) => [d.name, d.snapshots]));
  assert.equal(snaps['rpool/ROOT/default'], 4);
  assert.equal(snaps['rpool/home'], 3);
  assert.equal(snaps['rpool/ROOT/test'], 1);
  // The newest by creation, not by name: rpool/ROOT/test@kpkg-20251201… was taken earlier.
  assert.deepEqual(f.lastKpkg, {
    snapshot: 'rpool/ROOT/default@kpkg-20251130T102551Z',
    created: '2025-11-30T10:25:51Z',
    cmd: 'kpkg install tree',
  });
  assert.deepEqual(
    f.bootEnvironments.rows.map((b) => [b.name, b.active, b.default, b.once]),
    [
      ['default', true, true, false],
      ['test', false, false, true],
    ],
  );
  assert.equal(f.bootEnvironments.note, undefined);
  assert.deepEqual(f.system, {
    memory: { total: 2013956 * 1024, available: 1187640 * 1024, swapTotal: 0, swapFree: 0 },
    cpus: 2,
    load: [0.12, 0.1, 0.05],
    uptime: 186541,
    state: 'running',
  });
  assert.equal(f.firstboot.status, 'ok');
  const text = renderStatus(f);
  assert.match(text, /^kl1 · kernel 6\.12\.57\+deb13-amd64 · up 2d 3h 49m · 2025-11-30 10:30:00 UTC$/m);
  assert.match(text, /^OK {7}no problem found/m);
  assert.match(
    text,
    /^rpool {2}ONLINE {2}19\.5G {2}2\.06G {2}17\.4G {2}10% {4}1% {2}1\.93x {2}0 {7}scrub 2025-11-30, 0 error\(s\)$/m,
  );
  assert.match(text, /^rpool\/ROOT\/default +1\.49G +2\.01x +4$/m);
  assert.deepEqual(
    f.datasets.slice(0, 4).map((d) => d.name),
    ['rpool', 'rpool/ROOT', 'rpool/ROOT/default', 'rpool/ROOT/test'],
  );
  assert.match(text, /^BOOT ENV default \[now,default\] {2}test \[next boot\]$/m);
  assert.match(
    text,
    /^SYSTEM {3}2 CPU\(s\), load 0\.12 0\.10 0\.05 · memory 1\.13G available of 1\.92G · swap none · running$/m,
  );
  assert.match(text, /^UNITS {4}none failed$/m);
  assert.match(text, /^1ST BOOT ok$/m);
  assert.match(
    text,
    /^KPKG {5}rpool\/ROOT\/default@kpkg-20251130T102551Z at 2025-11-30 10:25:51 UTC \(kpkg install tree\)$/m,
  );
  assert.match(text, /^KUPGRADE none recorded$/m);
});

test('kst: a mirror missing a disk, failed units and a failed first boot are problems: exit 1, each named', async () => {
  const { src } = machine({
    health: 'degraded',
    failed: true,
    firstboot: {
      status: 'failed',
      exitCode: 3,
      failure: {
        line: '12',
        command: 'apt-get install -y nginx',
        file: 'roles/web.sh',
        exit: '100',
        role: 'web',
      },
    },
  });
  const r = await status(src);
  assert.equal(r.exitCode, EXIT.failed);
  assert.equal(r.report, true, 'the screen goes to stdout whatever the verdict');
  const j = r.json as ReturnType<typeof verdict> & StatusFacts;
  assert.deepEqual(
    j.problems.map((p) => p.kind),
    ['pool', 'unit', 'unit', 'firstboot'],
  );
  assert.equal(
    j.problems[0]?.what,
    "pool rpool is DEGRADED: mirror-0 DEGRADED, 13705118455718946436 UNAVAIL (/dev/vdb2): Replace the device using 'zpool replace'.",
  );
  assert.match(
    j.problems[1]?.what ?? '',
    /^kldload-firstboot\.service failed \(kldload first boot: .*\): journalctl -u kldload-firstboot\.service$/,
  );
  assert.match(
    j.problems[3]?.what ?? '',
    /^first boot failed: roles\/web\.sh line 12: apt-get install -y nginx \(exit 100\) in role web/,
  );
  assert.equal(j.system.state, 'degraded');
  assert.match(r.text, /^PROBLEM {2}pool rpool is DEGRADED/m);
  assert.match(r.text, /^ {2}rpool: 13705118455718946436 UNAVAIL \(\/dev\/vdb2\)$/m);
  assert.match(r.text, /^UNITS {4}2 failed: kldload-firstboot\.service nginx\.service$/m);
  // Without an ESP to read (not root), the BEs still come from zfs and the pool's bootfs.
  assert.deepEqual(
    j.bootEnvironments.rows.map((b) => [b.name, b.active, b.default, b.once]),
    [
      ['default', true, true, false],
      ['test', false, false, false],
    ],
  );
  assert.match(
    j.bootEnvironments.note ?? '',
    /no systemd-boot ESP mounted there.*default from the pool's bootfs/,
  );
  assert.ok(j.notes.some((n) => n.startsWith('boot environments: ')));
});

test('kst: a userland without zpool status -j is read from the text form, to the same verdict', async () => {
  const a = machine({ health: 'degraded', json: false });
  const b = machine({ health: 'degraded' });
  const [fa, fb] = [await readStatusFacts(a.src), await readStatusFacts(b.src)];
  assert.ok(a.exec.calls.some((c) => c.argv.join(' ') === 'zpool status -p'));
  assert.ok(!b.exec.calls.some((c) => c.argv.join(' ') === 'zpool status -p'));
  assert.deepEqual(verdict(fa), verdict(fb));
  assert.equal(fa.pools[0]?.state, 'DEGRADED');
});

test('kst: what cannot be read is a problem (never a silent pass); kupgrade and kernels are notes', async () => {
  const { src } = machine({
    health: 'healthy',
    zpoolList: {
      exitCode: 1,
      all: "The ZFS modules cannot be auto-loaded.\nTry running 'modprobe zfs' as root to manually load them.",
    },
    held: ['6.13.2+bpo-amd64'],
    upgrade: JSON.stringify({
      name: 'upgrade-20251130T110000Z',
      be: 'rpool/ROOT/upgrade-20251130T110000Z',
      from: 'rpool/ROOT/default',
      snapshot: 'rpool/ROOT/default@kupgrade-20251130T110000Z',
      entry: 'kldload-upgrade-20251130T110000Z.conf',
      kernel: '6.12.58+deb13-amd64',
      changes: 12,
      started: '2025-11-30T11:00:00Z',
      bootId: 'x',
      status: 'pending',
    }),
  });
  const f = await readStatusFacts(src);
  const v = verdict(f);
  assert.equal(v.exitCode, EXIT.failed);
  assert.deepEqual(v.problems, [
    {
      kind: 'unread',
      what: "zpool list: could not be read (The ZFS modules cannot be auto-loaded. Try running 'modprobe zfs' as root to manually load them.)",
    },
  ]);
  assert.ok(
    v.notes.includes(
      'kupgrade upgrade-20251130T110000Z is pending: the next boot tries it once (kldload upgrade status)',
    ),
  );
  assert.ok(v.notes.some((n) => n.startsWith('kernel(s) 6.13.2+bpo-amd64 held back')));
  assert.match(
    renderStatus(f),
    /^KUPGRADE upgrade-20251130T110000Z: pending, started 2025-11-30 11:00:00 UTC, kernel 6\.12\.58\+deb13-amd64$/m,
  );

  const broken = await readStatusFacts(machine({ health: 'healthy', upgrade: '{"name":' }).src);
  assert.match(
    verdict(broken).problems[0]?.what ?? '',
    /^kupgrade record: could not be read \(.*not JSON.*move it away/,
  );
});

test('kst --watch: clears once, redraws in place each interval, stops on the signal with the last verdict', async () => {
  const healthy = await readStatusFacts(machine({ health: 'healthy' }).src);
  const degraded = await readStatusFacts(machine({ health: 'degraded' }).src);
  const frames = [healthy, degraded];
  let reads = 0;
  const out: string[] = [];
  const ac = new AbortController();
  const slept: number[] = [];
  const code = await watchStatus(async () => frames[reads++] ?? degraded, {
    seconds: 5,
    json: false,
    write: (t) => out.push(t),
    signal: ac.signal,
    sleep: async (ms) => {
      slept.push(ms);
      if (reads === 2) ac.abort();
    },
  });
  assert.equal(code, EXIT.failed, 'the last refresh (degraded) decides');
  assert.deepEqual(slept, [5000, 5000]);
  assert.equal(out.length, 2);
  assert.ok(out[0]?.startsWith(`${CLEAR_SCREEN}\x1b[H`), 'the first frame clears the screen');
  assert.ok(out[1]?.startsWith('\x1b[H') && !out[1].includes(CLEAR_SCREEN), 'later frames redraw in place');
  assert.ok(out[1]?.endsWith('every 5s · Ctrl-C to stop\x1b[K\n\x1b[J'), 'the footer, then the rest cleared');
  assert.equal(redraw('a\nb'), '\x1b[Ha\x1b[K\nb\x1b[K\n\x1b[J');

  const lines: string[] = [];
  const ac2 = new AbortController();
  await watchStatus(async () => healthy, {
    seconds: 1,
    json: true,
    write: (t) => lines.push(t),
    signal: ac2.signal,
    sleep: async () => ac2.abort(),
  });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]?.endsWith('\n') && !lines[0].includes('\x1b'));
  assert.equal(JSON.parse(lines[0] ?? '').exitCode, 0);
});

test('kldload st --help documents the exit codes and the JSON shape', () => {
  const r = cli(['st', '--help'], { via: 'tsx' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Usage: kldload st\|status \[options\]/);
  assert.match(r.stdout, /^ {2}1 {2}a problem/m);
  assert.match(r.stdout, /"problems": \[ \{ "kind": "pool"/);
  const bad = cli(['st', '--watch', '0'], { via: 'tsx' });
  assert.equal(bad.code, EXIT.badInput, 'refused before anything is read, and not exit 1 (a problem)');
  assert.match(bad.stderr, /must be a whole number from 1 to 3600/);
});

test('kst --watch: Ctrl-C during a refresh (its zpool/zfs die of the same SIGINT) exits with the last verdict, not an error', async () => {
  const healthy = await readStatusFacts(machine({ health: 'healthy' }).src);
  for (const abortFirst of [true, false]) {
    const ac = new AbortController();
    let reads = 0;
    const code = await watchStatus(
      async () => {
        if (reads++ === 0) return healthy;
        // The children were killed by the terminal's SIGINT; our handler runs before or after.
        if (abortFirst) ac.abort();
        else setTimeout(() => ac.abort(), 20);
        throw new Error('zpool list: killed by SIGINT');
      },
      {
        seconds: 1,
        json: true,
        write: () => undefined,
        signal: ac.signal,
        // Real time for the short grace wait, none for the interval.
        sleep: (ms) => new Promise((r) => setTimeout(r, ms < 1000 ? ms : 0)),
      },
    );
    assert.equal(code, EXIT.ok, `abort ${abortFirst ? 'before' : 'after'} the failure`);
  }
  // Ctrl-C during a refresh whose readers tolerated their killed children (no throw): that refresh
  // was read from dying processes and decides nothing; the one before it does (seen in a guest:
  // exit 1 after a healthy screen).
  {
    const degraded = await readStatusFacts(machine({ health: 'degraded' }).src);
    const ac = new AbortController();
    let reads = 0;
    const code = await watchStatus(
      async () => {
        if (reads++ === 0) return healthy;
        ac.abort();
        return degraded;
      },
      { seconds: 1, json: true, write: () => undefined, signal: ac.signal, sleep: async () => undefined },
    );
    assert.equal(code, EXIT.ok, 'the refresh interrupted by Ctrl-C does not decide');
  }
  // In --watch the readers' children dying of a signal void the refresh (watchExecutor).
  const killed = watchExecutor(new RecordingExecutor(() => ({ exitCode: 255, signal: 'SIGINT' })));
  await assert.rejects(killed.run(['zpool', 'list'], { check: false }), /zpool died of SIGINT/);
  const fine = watchExecutor(new RecordingExecutor(() => ({ exitCode: 1, stdout: 'x' })));
  assert.equal((await fine.run(['systemctl', 'is-system-running'], { check: false })).exitCode, 1);
  // Interrupted before any refresh finished: no verdict, 130 (interrupted).
  const ac = new AbortController();
  const none = await watchStatus(
    async () => {
      ac.abort();
      throw new Error('killed');
    },
    { seconds: 1, json: true, write: () => undefined, signal: ac.signal },
  );
  assert.equal(none, 130);
  // A failure that is not Ctrl-C is still an error.
  await assert.rejects(
    watchStatus(
      async () => {
        throw new Error('zpool: command not found');
      },
      { seconds: 1, json: true, write: () => undefined, signal: new AbortController().signal },
    ),
    /command not found/,
  );
});

test('captured in a guest (e2e:day2, OpenZFS 2.3): JSON and text forms agree, a missing mirror disk is UNAVAIL in both', () => {
  const cap = (f: string) => readFileSync(join(FIX, 'captured', f), 'utf8');
  for (const [pool, name] of [
    ['klmirror', 'degraded'],
    ['rpool', 'healthy'],
  ] as const) {
    const j = parseStatusJson(cap(`zpool-status-${name}.json`)).get(pool);
    const t = parseStatusText(cap(`zpool-status-${name}.txt`)).get(pool);
    assert.ok(j && t, `${name}: ${pool} parsed from both forms`);
    assert.equal(j.state, t.state);
    assert.equal(j.status, t.status);
    assert.equal(j.action, t.action);
    assert.deepEqual(
      j.vdevs.map((v) => [v.name, v.state, v.read, v.write, v.checksum, v.depth]),
      t.vdevs.map((v) => [v.name, v.state, v.read, v.write, v.checksum, v.depth]),
    );
  }
  const d = parseStatusJson(cap('zpool-status-degraded.json')).get('klmirror');
  assert.equal(d?.state, 'DEGRADED');
  assert.deepEqual(
    d?.vdevs.map((v) => `${v.name} ${v.state}`),
    ['mirror-0 DEGRADED', '/var/tmp/klm0 ONLINE', '13607899829261158409 UNAVAIL'],
  );
});
