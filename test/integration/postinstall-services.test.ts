/**
 * lib.sh's system helpers with zfs, zpool, systemctl and the rest stubbed on PATH: datasets,
 * services, pools, the port and HTTP checks (real sockets), and what roles repeat (restart_service,
 * install_timer, ensure_line, ensure_user).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bash, calls, failureOf, freshDir, PRELUDE, stubs } from './postinstall-harness.ts';

describe('datasets, services, pools (stubbed zfs, zpool, systemctl)', () => {
  // zfs stub: the dataset exists when $ZFS_STATE/exists does; recordsize is 128K, compression zstd.
  const zfsBody = `
case "$1" in
  list) [[ -e "$ZFS_STATE/exists" ]] ;;
  get)
    parsable=0; [[ " $* " == *" -p "* ]] && parsable=1
    prop="\${@: -2:1}"
    case "$prop" in
      recordsize) if ((parsable)); then echo 131072; else echo 128K; fi ;;
      compression) echo zstd ;;
      atime) echo on ;;
      *) echo - ;;
    esac ;;
esac`;

  test('ensure_dataset creates a missing dataset with all properties', async () => {
    const s = stubs({ zfs: zfsBody });
    const r = await bash(`${PRELUDE}ensure_dataset rpool/data/www recordsize=16K compression=zstd\n`, {
      PATH: s.PATH,
      STUB_LOG: s.STUB_LOG,
      ZFS_STATE: s.dir,
    });
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(calls(s).at(-1), 'zfs create -p -o recordsize=16K -o compression=zstd rpool/data/www');
  });

  test('ensure_dataset on an existing dataset sets only what differs (16K vs 131072 both understood)', async () => {
    const s = stubs({ zfs: zfsBody });
    writeFileSync(join(s.dir, 'exists'), '');
    const env = { PATH: s.PATH, STUB_LOG: s.STUB_LOG, ZFS_STATE: s.dir };
    const r = await bash(
      `${PRELUDE}ensure_dataset rpool/data/www recordsize=16K compression=zstd atime=off\n`,
      env,
    );
    assert.equal(r.exitCode, 0, r.all);
    const changes = calls(s).filter((c) => /^zfs (set|create)/.test(c));
    assert.deepEqual(changes, ['zfs set recordsize=16K rpool/data/www', 'zfs set atime=off rpool/data/www']);

    const again = stubs({ zfs: zfsBody });
    writeFileSync(join(again.dir, 'exists'), '');
    const r2 = await bash(`${PRELUDE}ensure_dataset rpool/data/www recordsize=131072 compression=ZSTD\n`, {
      PATH: again.PATH,
      STUB_LOG: again.STUB_LOG,
      ZFS_STATE: again.dir,
    });
    assert.equal(r2.exitCode, 0, r2.all);
    assert.deepEqual(
      calls(again).filter((c) => /^zfs (set|create)/.test(c)),
      [],
    );
  });

  test('ensure_dataset refuses a property without =', async () => {
    const s = stubs({ zfs: zfsBody });
    const r = await bash(`${PRELUDE}ensure_dataset rpool/x recordsize\n`, {
      PATH: s.PATH,
      STUB_LOG: s.STUB_LOG,
    });
    assert.equal(r.exitCode, 1);
    assert.match(r.stdout, /'recordsize' is not prop=value/);
  });

  test('verify_dataset: PASS on match, FAIL naming the wrong value', async () => {
    const s = stubs({ zfs: zfsBody });
    writeFileSync(join(s.dir, 'exists'), '');
    const env = { PATH: s.PATH, STUB_LOG: s.STUB_LOG, ZFS_STATE: s.dir };
    const r = await bash(
      `${PRELUDE}verify_dataset rpool/d recordsize=128K\nverify_dataset rpool/d atime=off || echo "rc=$?"\nverify_summary || echo "summary rc=$?"\n`,
      env,
    );
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /PASS: dataset rpool\/d exists with recordsize=128K/);
    assert.match(r.stdout, /FAIL: dataset rpool\/d: atime=on \(want off\)/);
    assert.match(r.stdout, /^rc=1$/m);
    assert.match(r.stdout, /verification: 1 failed, 1 passed/);
    assert.match(r.stdout, /^summary rc=1$/m);
  });

  // systemctl stub: is-active answers from $SVC_DIR/<unit> (a list of states, one consumed per call).
  const systemctlBody = `
[[ $1 == is-active ]] || exit 0
unit="\${@: -1}"
f="$SVC_DIR/$unit"
state=inactive
if [[ -s "$f" ]]; then state="$(head -n1 "$f")"; if (( $(wc -l <"$f") > 1 )); then sed -i 1d "$f"; fi; fi
[[ $2 == --quiet ]] || echo "$state"
[[ $state == active ]]`;

  test('wait_for_service waits for active, fails at once on failed, times out otherwise', async () => {
    const s = stubs({ systemctl: systemctlBody, journalctl: 'echo "journal: it broke"' });
    writeFileSync(join(s.dir, 'slow'), 'activating\nactive\n');
    writeFileSync(join(s.dir, 'broken'), 'activating\nfailed\n');
    writeFileSync(join(s.dir, 'stuck'), 'activating\n');
    const r = await bash(
      `${PRELUDE}wait_for_service slow 20\nwait_for_service broken 20 || echo "broken rc=$?"\nwait_for_service stuck 1 || echo "stuck rc=$?"\n`,
      { PATH: s.PATH, STUB_LOG: s.STUB_LOG, SVC_DIR: s.dir },
    );
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /service slow is active/);
    assert.match(r.stdout, /service broken failed to start[^\n]*\njournal: it broke/);
    assert.match(r.stdout, /^broken rc=1$/m);
    assert.match(r.stdout, /service stuck not active after 1s \(state: activating\)/);
    assert.match(r.stdout, /^stuck rc=1$/m);
  });

  test('verify_service_active and verify_pool_healthy print PASS/FAIL and return non-zero on failure', async () => {
    const s = stubs({
      systemctl: systemctlBody,
      journalctl: 'true',
      zpool: `[[ $1 == list ]] && { [[ \${@: -1} == rpool ]] && echo ONLINE || echo DEGRADED; }; true`,
    });
    writeFileSync(join(s.dir, 'nginx'), 'active\n');
    const r = await bash(
      `${PRELUDE}verify_service_active nginx\nverify_service_active redis || echo "rc=$?"\nverify_pool_healthy rpool\nverify_pool_healthy tank || echo "pool rc=$?"\n`,
      { PATH: s.PATH, STUB_LOG: s.STUB_LOG, SVC_DIR: s.dir },
    );
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /PASS: service nginx is active/);
    assert.match(r.stdout, /FAIL: service redis is not active \(inactive\)/);
    assert.match(r.stdout, /^rc=1$/m);
    assert.match(r.stdout, /PASS: pool rpool is ONLINE/);
    assert.match(r.stdout, /FAIL: pool tank is DEGRADED/);
    assert.match(r.stdout, /^pool rc=1$/m);
  });

  test('a failed verify_* under kl_strict ends the role at that line', async () => {
    const s = stubs({ systemctl: systemctlBody, journalctl: 'true' });
    const r = await bash(`${PRELUDE}verify_service_active nginx\necho never\n`, {
      PATH: s.PATH,
      STUB_LOG: s.STUB_LOG,
      SVC_DIR: s.dir,
    });
    assert.equal(r.exitCode, 1);
    assert.doesNotMatch(r.stdout, /never/);
    const f = failureOf(r.state);
    assert.deepEqual([f.line, f.command], ['3', 'verify_service_active nginx']);
  });
});

describe('verify_port_listening and verify_http (real sockets)', () => {
  let tcp: Server;
  let tcpPort = 0;
  let closedPort = 0;
  let httpPort = 0;
  const http = createHttpServer((req, res) => {
    if (req.url === '/ok') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('hello from kldload\n');
    } else {
      res.writeHead(404);
      res.end('nope\n');
    }
  });
  const listen = (s: Server | ReturnType<typeof createHttpServer>) =>
    new Promise<number>((done) =>
      s.listen(0, '127.0.0.1', () => {
        const a = s.address();
        done(typeof a === 'object' && a ? a.port : 0);
      }),
    );

  before(async () => {
    tcp = createTcpServer((c) => c.end());
    tcpPort = await listen(tcp);
    const probe = createTcpServer();
    closedPort = await listen(probe);
    await new Promise((d) => probe.close(d));
    httpPort = await listen(http);
  });
  after(async () => {
    await new Promise((d) => tcp.close(d));
    await new Promise((d) => http.close(d));
  });

  test('a listening port passes, a closed one fails (ss, and /proc/net without ss)', async () => {
    const body = `verify_port_listening ${tcpPort}\nverify_port_listening ${closedPort} || echo "closed rc=$?"\n`;
    const noSs = 'command() { if [[ $1 == -v && $2 == ss ]]; then return 1; fi; builtin command "$@"; }\n';
    for (const script of [`${PRELUDE}${body}`, `${PRELUDE}${noSs}${body}`]) {
      const r = await bash(script);
      assert.equal(r.exitCode, 0, r.all);
      assert.match(r.stdout, new RegExp(`PASS: tcp port ${tcpPort} is listening`));
      assert.match(r.stdout, new RegExp(`FAIL: tcp port ${closedPort} is not listening`));
      assert.match(r.stdout, /^closed rc=1$/m);
    }
  });

  for (const client of ['curl', 'bash']) {
    test(`verify_http with ${client}: status and expected text`, async () => {
      const base = `http://127.0.0.1:${httpPort}`;
      const r = await bash(
        `${PRELUDE}verify_http ${base}/ok\nverify_http ${base}/ok "hello from"\n` +
          `verify_http ${base}/ok "goodbye" || echo "text rc=$?"\n` +
          `verify_http ${base}/missing || echo "404 rc=$?"\n` +
          `verify_http http://127.0.0.1:${closedPort}/ || echo "down rc=$?"\n`,
        client === 'bash' ? { KLDLOAD_HTTP_CLIENT: 'bash' } : {},
      );
      assert.equal(r.exitCode, 0, r.all);
      assert.match(r.stdout, new RegExp(`PASS: ${base}/ok answered\\n`));
      assert.match(r.stdout, /PASS: \S+\/ok answered with "hello from"/);
      assert.match(r.stdout, /FAIL: \S+\/ok answered, but without "goodbye"/);
      assert.match(r.stdout, /^text rc=1$/m);
      assert.match(r.stdout, /FAIL: \S+\/missing did not answer with success/);
      assert.match(r.stdout, /^404 rc=1$/m);
      assert.match(r.stdout, /^down rc=1$/m);
    });
  }
});

describe('what roles repeat: restart_service, install_timer, ensure_line, ensure_user', () => {
  const systemctlActive = `[[ $1 == is-active ]] && { [[ $2 == --quiet ]] || echo "$(cat "$SVC_DIR/\${@: -1}" 2>/dev/null || echo inactive)"; [[ -f "$SVC_DIR/\${@: -1}" ]]; }; true`;

  test('restart_service enables, restarts and waits; a unit that stays down fails the role at its line', async () => {
    const s = stubs({ systemctl: systemctlActive, journalctl: 'echo "journal: bad config"' });
    writeFileSync(join(s.dir, 'nginx.service'), 'active\n');
    const env = { PATH: s.PATH, STUB_LOG: s.STUB_LOG, SVC_DIR: s.dir };
    const ok = await bash(`${PRELUDE}restart_service nginx.service 5\n`, env);
    assert.equal(ok.exitCode, 0, ok.all);
    assert.deepEqual(
      calls(s).filter((c) => !c.includes('is-active')),
      ['systemctl enable nginx.service', 'systemctl restart nginx.service'],
    );
    assert.match(ok.stdout, /service nginx.service is active/);
    const down = await bash(`${PRELUDE}\nrestart_service postfix.service 1\necho never\n`, env);
    assert.equal(down.exitCode, 1);
    assert.doesNotMatch(down.stdout, /never/);
    assert.match(down.stdout, /service postfix.service not active after 1s[^\n]*\njournal: bad config/);
    assert.deepEqual(
      [failureOf(down.state).line, failureOf(down.state).command],
      ['4', 'restart_service postfix.service 1'],
    );
  });

  test('install_timer writes the service and timer once, enables the timer, refuses a bad calendar before writing', async () => {
    const s = stubs({
      systemctl: '',
      'systemd-analyze': '[[ $1 == calendar && $2 != nonsense ]]',
    });
    const units = freshDir('units');
    const env = { PATH: s.PATH, STUB_LOG: s.STUB_LOG, KLDLOAD_UNIT_DIR: units };
    const script = `${PRELUDE}install_timer kl-backup '*-*-* 02:30:00' 'kl: snapshot and dump' '/usr/local/sbin/kl-backup --all' after=postgresql.service requires=postgresql.service delay=30m\n`;
    const first = await bash(script, env);
    assert.equal(first.exitCode, 0, first.all);
    assert.equal(
      readFileSync(join(units, 'kl-backup.service'), 'utf8'),
      '[Unit]\nDescription=kl: snapshot and dump\nAfter=postgresql.service\nRequires=postgresql.service\n\n' +
        '[Service]\nType=oneshot\nExecStart=/usr/local/sbin/kl-backup --all\n',
    );
    assert.equal(
      readFileSync(join(units, 'kl-backup.timer'), 'utf8'),
      '[Unit]\nDescription=kl: snapshot and dump (*-*-* 02:30:00)\n\n[Timer]\nOnCalendar=*-*-* 02:30:00\n' +
        'RandomizedDelaySec=30m\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n',
    );
    assert.deepEqual(calls(s).slice(1), [
      'systemctl daemon-reload',
      'systemctl enable --now kl-backup.timer',
    ]);
    // Again: the same text is not rewritten and systemd is not reloaded.
    const before = statSync(join(units, 'kl-backup.timer')).mtimeMs;
    writeFileSync(s.STUB_LOG, '');
    const again = await bash(script, env);
    assert.equal(again.exitCode, 0, again.all);
    assert.equal(statSync(join(units, 'kl-backup.timer')).mtimeMs, before);
    assert.deepEqual(calls(s).filter(Boolean).slice(1), ['systemctl enable --now kl-backup.timer']);

    for (const [args, why] of [
      [`kl-x nonsense 'd' /bin/true`, /'nonsense' is not a calendar systemd understands/],
      [`kl-x daily 'd' /bin/true every=1h`, /'every=1h' is not after=UNIT, requires=UNIT or delay=SPAN/],
      [`kl-x.timer daily 'd' /bin/true`, /NAME 'kl-x.timer' must be/],
      [`kl-x daily '' /bin/true`, /must each be one non-empty line/],
    ] as const) {
      const bad = await bash(`${PRELUDE}install_timer ${args}\n`, env);
      assert.equal(bad.exitCode, 1, bad.all);
      assert.match(bad.stdout, why);
      assert.equal(
        existsSync(join(units, 'kl-x.service')) || existsSync(join(units, 'kl-x.timer.service')),
        false,
      );
    }
  });

  test('ensure_line appends once, honours a REGEX, mends a missing last newline and makes the file', async () => {
    const d = freshDir('lines');
    const conf = join(d, 'postgresql.conf');
    writeFileSync(conf, "port = 5432\n#include_dir = 'x'");
    const fresh = join(d, 'new', 'createcluster.conf');
    const script = `${PRELUDE}ensure_line ${conf} "include_dir = 'conf.d'"
ensure_line ${conf} "include_dir = 'conf.d'"
ensure_line ${conf} 'port = 5433' '^port[[:space:]]*='
ensure_line ${fresh} 'create_main_cluster = false' '^create_main_cluster'
ensure_line ${fresh} 'create_main_cluster = true' '^create_main_cluster'
`;
    const r = await bash(script);
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(readFileSync(conf, 'utf8'), "port = 5432\n#include_dir = 'x'\ninclude_dir = 'conf.d'\n");
    assert.equal(readFileSync(fresh, 'utf8'), 'create_main_cluster = false\n');
    assert.equal((r.stdout.match(/ added /g) ?? []).length, 2, r.stdout);
    const bad = await bash(`${PRELUDE}ensure_line ${conf} $'a\\nb'\n`);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stdout, /LINE must be one line/);
  });

  test('ensure_user creates a missing account with the options and leaves an existing one alone', async () => {
    const s = stubs({ id: '[[ "$3" == alice ]]', useradd: '' });
    const r = await bash(`${PRELUDE}ensure_user alice -m\nensure_user bob -m -s /bin/bash\n`, {
      PATH: s.PATH,
      STUB_LOG: s.STUB_LOG,
    });
    assert.equal(r.exitCode, 0, r.all);
    assert.deepEqual(calls(s), ['id -u -- alice', 'id -u -- bob', 'useradd -m -s /bin/bash bob']);
    assert.match(r.stdout, /user bob created/);
    assert.doesNotMatch(r.stdout, /user alice created/);
  });
});
