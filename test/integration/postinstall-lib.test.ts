/**
 * The postinstall framework (payload/target/postinstall/lib.sh and dispatch.sh) run with the host's bash:
 * everything that needs no ZFS pool and no systemd. zfs, zpool, systemctl, journalctl, apt-get and dnf
 * are stubs on PATH that record their arguments; ports and URLs are real sockets of this process.
 */
import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseEnvText } from '../../src/answers/parse.ts';
import { SystemExecutor } from '../../src/core/exec.ts';
import { safeRemove } from '../../src/core/fs.ts';
import { SANOID_COMPOSE } from '../../src/day2/sanoid.ts';
import {
  assemblePayload,
  availableRoles,
  rolesDir as availableRolesDir,
} from '../../src/image/role-library.ts';
import {
  BASE_PROVIDES,
  DEFAULT_ROLE_MAP,
  hostSelectors,
  planRoles,
  readRoles,
  roleFromText,
  roleMapOf,
} from '../../src/postinstall/roles.ts';
import { useThrowAwayCache } from '../unit/cache.ts';

const PAYLOAD = fileURLToPath(new URL('../../payload/target/postinstall/', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/postinstall/', import.meta.url));
const LIB = join(PAYLOAD, 'lib.sh');
const DISPATCH = join(PAYLOAD, 'dispatch.sh');
const exec = new SystemExecutor();

// Nothing from the environment of whoever runs the tests may steer the scripts.
for (const k of Object.keys(process.env)) if (k.startsWith('KLDLOAD_')) delete process.env[k];
// assemblePayload writes into the cache: a throw-away one (test/unit/cache.ts).
useThrowAwayCache();

const root = mkdtempSync(join(tmpdir(), 'kl-pi-lib-'));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
const freshDir = (tag: string) => {
  const d = join(root, `${tag}-${++seq}`);
  mkdirSync(d, { recursive: true });
  return d;
};

/** Environment pointing every state path into DIR. */
function envFor(dir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KLDLOAD_STATE_DIR: join(dir, 'state'),
    KLDLOAD_LOG: join(dir, 'postinstall.log'),
    KLDLOAD_MANIFEST: join(dir, 'no-manifest.env'),
    KLDLOAD_POSTINSTALL_LIB: LIB,
    ...extra,
  };
}

const PRELUDE = 'source "$KLDLOAD_POSTINSTALL_LIB"\nkl_strict\n';

/** Runs SCRIPT (line 1 = first line of SCRIPT) as a file with bash. */
async function bash(script: string, extra: Record<string, string> = {}, dir = freshDir('sh')) {
  const file = join(dir, 'role.sh');
  writeFileSync(file, script);
  const r = await exec.run(['bash', file], { env: envFor(dir, extra), check: false, cwd: dir });
  return { ...r, file, dir, state: join(dir, 'state') };
}

/** An env file (the failure record) read by the one codec; a line it refuses fails the test. */
function kv(text: string): Record<string, string> {
  const { entries, errors } = parseEnvText(text);
  assert.deepEqual(errors, [], text);
  return Object.fromEntries([...entries].map(([k, e]) => [k, e.value]));
}

const failureOf = (state: string) => kv(readFileSync(join(state, 'postinstall-failure'), 'utf8'));

/** A folder of stub commands; each appends `name args…` to $STUB_LOG and runs BODY. */
function stubs(defs: Record<string, string>): { PATH: string; STUB_LOG: string; dir: string } {
  const dir = freshDir('bin');
  for (const [name, body] of Object.entries(defs)) {
    const p = join(dir, name);
    writeFileSync(p, `#!/bin/bash\nprintf '%s\\n' "${name} $*" >>"$STUB_LOG"\n${body}\n`);
    chmodSync(p, 0o755);
  }
  return { PATH: `${dir}:${process.env.PATH ?? '/usr/bin:/bin'}`, STUB_LOG: join(dir, 'calls.log'), dir };
}

const calls = (s: { STUB_LOG: string }) =>
  existsSync(s.STUB_LOG) ? readFileSync(s.STUB_LOG, 'utf8').trimEnd().split('\n') : [];

describe('shellcheck and syntax', () => {
  test('lib.sh and dispatch.sh pass shellcheck at every severity, and bash -n', async () => {
    const sc = await exec.run(['shellcheck', '-x', '-S', 'style', '-P', 'SCRIPTDIR', LIB, DISPATCH], {
      check: false,
      cwd: PAYLOAD,
    });
    assert.equal(sc.exitCode, 0, sc.all);
    for (const f of [LIB, DISPATCH])
      assert.equal((await exec.run(['bash', '-n', f], { check: false })).exitCode, 0);
  });

  test('executing lib.sh instead of sourcing it is refused', async () => {
    const r = await exec.run(['bash', LIB], { check: false });
    assert.equal(r.exitCode, 2);
    assert.match(r.all, /source it/);
  });
});

describe('log and retry', () => {
  test('log writes a timestamped, role-tagged line to stdout and to $KLDLOAD_LOG', async () => {
    const r = await bash(`${PRELUDE}log "hello there"\n`, { KLDLOAD_ROLE: '40-web' });
    assert.equal(r.exitCode, 0, r.all);
    const line = /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[postinstall:40-web\] hello there$/m;
    assert.match(r.stdout, line);
    assert.match(readFileSync(join(r.dir, 'postinstall.log'), 'utf8'), line);
  });

  test('KLDLOAD_LOG= (empty) logs to stdout only', async () => {
    const r = await bash(`${PRELUDE}log "only stdout"\n`, { KLDLOAD_LOG: '' });
    assert.match(r.stdout, /only stdout/);
    assert.equal(existsSync(join(r.dir, 'postinstall.log')), false);
  });

  const flaky = (okAt: number, code: number) =>
    `bash -c 'n=$(( $(cat count 2>/dev/null || echo 0) + 1 )); echo $n > count; [ $n -ge ${okAt} ] || exit ${code}'`;

  test('retry succeeds after failures', async () => {
    const r = await bash(`${PRELUDE}retry 5 0 ${flaky(3, 1)}\necho "after retry"\n`);
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(readFileSync(join(r.dir, 'count'), 'utf8').trim(), '3');
    assert.match(r.stdout, /retry: attempt 1\/5 failed \(exit 1\)/);
    assert.match(r.stdout, /retry: attempt 2\/5 failed/);
    assert.match(r.stdout, /retry: succeeded on attempt 3\/5/);
    assert.match(r.stdout, /after retry/);
  });

  test('retry gives up after N attempts and returns the last exit code', async () => {
    const r = await bash(`${PRELUDE}rc=0\nretry 3 0 ${flaky(99, 7)} || rc=$?\necho "rc=$rc"\n`);
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(readFileSync(join(r.dir, 'count'), 'utf8').trim(), '3');
    assert.match(r.stdout, /retry: giving up after 3 attempts \(exit 7\)/);
    assert.match(r.stdout, /^rc=7$/m);
  });

  test('retry refuses nonsense arguments', async () => {
    const r = await bash(`${PRELUDE}retry x 0 true\n`);
    assert.equal(r.exitCode, 1);
    assert.match(r.stdout, /ATTEMPTS must be a positive integer/);
  });
});

describe('kl_strict: the failure record', () => {
  test('a failing command: its line, command, file and exit code', async () => {
    const r = await bash(
      `${PRELUDE}kl_phase "setup"\necho "line 4 is fine"\nls /nonexistent/kldload-test\necho never\n`,
      {
        KLDLOAD_ROLE: '40-web',
      },
    );
    assert.equal(r.exitCode, 2);
    assert.doesNotMatch(r.stdout, /never/);
    const f = failureOf(r.state);
    assert.equal(f.line, '5');
    assert.equal(f.command, 'ls /nonexistent/kldload-test');
    assert.equal(f.file, r.file);
    assert.equal(f.exit, '2');
    assert.equal(f.role, '40-web');
    assert.equal(f.phase, 'setup');
    // … and printed.
    assert.match(r.stdout, new RegExp(`FAILED: ${r.file} line 5 \\(exit 2\\): ls /nonexistent/kldload-test`));
    assert.match(r.stdout, /^\S+ \S+ \[postinstall:40-web\] {3}line=5$/m);
  });

  test('a failure inside a lib helper is reported at the role line that called it', async () => {
    const r = await bash(`${PRELUDE}\nretry 2 0 false\n`);
    assert.equal(r.exitCode, 1);
    const f = failureOf(r.state);
    assert.equal(f.line, '4');
    assert.equal(f.command, 'retry 2 0 false');
    assert.equal(f.file, r.file);
  });

  test('a failure inside a role function names the function', async () => {
    const r = await bash(`${PRELUDE}setup() {\n  true\n  grep -q nothing /dev/null\n}\nsetup\n`);
    assert.equal(r.exitCode, 1);
    const f = failureOf(r.state);
    assert.equal(f.line, '5');
    assert.equal(f.command, 'grep -q nothing /dev/null');
    assert.match(f.detail ?? '', /in function setup/);
  });

  test('a function that returns non-zero: the call as written, not `return`', async () => {
    const r = await bash(`${PRELUDE}check_it() { return 4; }\ncheck_it --now\n`);
    assert.equal(r.exitCode, 4);
    const f = failureOf(r.state);
    assert.equal(f.line, '4');
    assert.equal(f.command, 'check_it --now');
  });

  test('die records its caller line and exits 1', async () => {
    const r = await bash(`${PRELUDE}echo ok\ndie "no network"\n`);
    assert.equal(r.exitCode, 1);
    const f = failureOf(r.state);
    assert.deepEqual([f.line, f.command, f.exit], ['4', 'die no network', '1']);
    assert.match(r.stdout, /FATAL: no network/);
  });

  test('an unset variable (set -u, no ERR trap) is still recorded, line unknown', async () => {
    const r = await bash(`${PRELUDE}echo "$not_set_anywhere"\n`);
    assert.equal(r.exitCode, 1);
    const f = failureOf(r.state);
    assert.equal(f.line, 'unknown');
    assert.match(f.command ?? '', /set -u/);
  });

  test('the innermost failure wins when a subshell fails', async () => {
    const r = await bash(`${PRELUDE}out=$(echo a; false; echo b)\n`);
    assert.equal(r.exitCode, 1);
    const f = failureOf(r.state);
    assert.equal(f.line, '3');
    assert.equal(f.command, 'false');
  });

  test('success writes no record; kl_on_exit hooks run', async () => {
    const r = await bash(`${PRELUDE}kl_on_exit 'echo "cleanup ran"'\nkl_phase "only"\n`);
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(existsSync(join(r.state, 'postinstall-failure')), false);
    assert.match(r.stdout, /phase done: only \(\d+s\)/);
    assert.match(r.stdout, /cleanup ran/);
  });
});

describe('pkg_install', () => {
  test('Debian: apt-get update once, then a non-interactive apt-get install', async () => {
    const s = stubs({ 'apt-get': 'echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >>"$STUB_LOG"' });
    const r = await bash(`${PRELUDE}pkg_install nginx curl\npkg_install jq\n`, {
      PATH: s.PATH,
      STUB_LOG: s.STUB_LOG,
      KLDLOAD_DISTRO: 'debian',
      KLDLOAD_DARKSITE_LIST: '/nonexistent/darksite.list',
    });
    assert.equal(r.exitCode, 0, r.all);
    // No Recommends: the darksite carries Depends closures only.
    const opts =
      '--no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold';
    assert.deepEqual(calls(s), [
      'apt-get update -q',
      'DEBIAN_FRONTEND=noninteractive',
      `apt-get install -y -q ${opts} nginx curl`,
      'DEBIAN_FRONTEND=noninteractive',
      `apt-get install -y -q ${opts} jq`,
      'DEBIAN_FRONTEND=noninteractive',
    ]);
  });

  test('with the darksite on disk, apt sees only the darksite', async () => {
    const s = stubs({ 'apt-get': '' });
    const list = join(mkdtempSync(join(tmpdir(), 'kl-ds-')), 'darksite.list');
    writeFileSync(list, 'deb [signed-by=/k.gpg] file:/var/lib/kldload/darksite trixie main\n');
    const r = await bash(`${PRELUDE}pkg_install nginx\n`, {
      PATH: s.PATH,
      STUB_LOG: s.STUB_LOG,
      KLDLOAD_DISTRO: 'debian',
      KLDLOAD_DARKSITE_LIST: list,
    });
    assert.equal(r.exitCode, 0, r.all);
    const src = `-o Dir::Etc::SourceList=${list} -o Dir::Etc::SourceParts=/run/kldload/apt-empty.d`;
    assert.deepEqual(calls(s).slice(0, 2), [
      `apt-get ${src} update -q`,
      `apt-get ${src} install -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold nginx`,
    ]);
  });

  test('a failing install is retried, then fails the role at the pkg_install line', async () => {
    const s = stubs({ 'apt-get': '[[ $1 == update ]] || exit 100' });
    const r = await bash(`${PRELUDE}pkg_install nginx\n`, {
      PATH: s.PATH,
      STUB_LOG: s.STUB_LOG,
      KLDLOAD_PKG_RETRIES: '2',
      KLDLOAD_PKG_RETRY_DELAY: '0',
      KLDLOAD_APT_UPDATE: '0',
    });
    assert.equal(r.exitCode, 100);
    assert.equal(calls(s).length, 2);
    const f = failureOf(r.state);
    assert.deepEqual([f.line, f.command, f.exit], ['3', 'pkg_install nginx', '100']);
    assert.match(f.detail ?? '', /lib\.sh:\d+ \(pkg_install\)/);
  });

  test('a distribution other than debian is fatal, before any package manager runs', async () => {
    // The answers schema allows only debian; lib.sh has no other branch to fall into.
    const s = stubs({ dnf: '', 'apt-get': '' });
    for (const distro of ['plan9', 'rocky', 'ubuntu']) {
      const r = await bash(`${PRELUDE}pkg_install x\n`, {
        PATH: s.PATH,
        STUB_LOG: s.STUB_LOG,
        KLDLOAD_DISTRO: distro,
      });
      assert.equal(r.exitCode, 1, distro);
      assert.match(r.stdout, new RegExp(`KLDLOAD_DISTRO '${distro}': this build installs debian only`));
    }
    assert.deepEqual(calls(s), []);
  });
});

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

describe('firewall, snapshot schedules, secrets, pkg_available', () => {
  const fwEnv = (dir: string, s: { PATH: string; STUB_LOG: string }) => ({
    PATH: s.PATH,
    STUB_LOG: s.STUB_LOG,
    KLDLOAD_FW_DIR: join(dir, 'nftables.d'),
    KLDLOAD_NFT_CONF: join(dir, 'nftables.conf'),
  });

  test('fw_allow/fw_rule collect rules per role; fw_apply writes one table, checks it, loads it', async () => {
    const dir = freshDir('fw');
    const s = stubs({ nft: '', systemctl: '' });
    const r = await bash(
      `${PRELUDE}fw_allow web tcp 80,443
fw_allow web tcp 80,443
fw_allow nfs tcp 2049 10.0.2.0/24
fw_allow vpn udp 51820
fw_rule vpn forward 'iifname "wg0" accept'
fw_rule vpn postrouting 'ip saddr 10.200.0.0/24 oifname "eth0" masquerade'
fw_apply
`,
      fwEnv(dir, s),
      dir,
    );
    assert.equal(r.exitCode, 0, r.all);
    const conf = readFileSync(join(dir, 'nftables.conf'), 'utf8');
    assert.match(conf, /^table inet kldload\ndelete table inet kldload\ntable inet kldload \{$/m);
    assert.doesNotMatch(conf, /flush ruleset/, 'other tables (docker, kube-proxy) must survive');
    assert.match(conf, /policy drop;[\s\S]*tcp dport 22 accept/);
    assert.equal(
      conf.match(/tcp dport \{ 80, 443 \} accept/g)?.length,
      1,
      'the same rule twice is kept once',
    );
    assert.match(conf, /ip saddr 10\.0\.2\.0\/24 tcp dport \{ 2049 \} accept/);
    assert.match(conf, /udp dport \{ 51820 \} accept/);
    assert.match(
      conf,
      /chain forward \{\n.*policy drop;\n.*established,related accept\n\s+# vpn\n\s+iifname "wg0" accept/,
    );
    assert.match(conf, /chain postrouting \{\n.*type nat hook postrouting priority srcnat;[\s\S]*masquerade/);
    assert.doesNotMatch(conf, /chain prerouting/, 'no prerouting rules, no chain');
    const c = calls(s);
    assert.deepEqual(
      c.map((x) => x.replace(dir, 'D')),
      [
        'nft -c -f D/nftables.conf.kldload-new',
        'nft -f D/nftables.conf',
        'systemctl enable nftables.service',
      ],
    );
  });

  test('monitoring: ports open to the allowed sources only; default the local subnet, else this host only', async () => {
    const ip = [
      'case "$*" in',
      '  "-4 route show default") echo "default via 192.168.7.1 dev eth0 proto dhcp" ;;',
      '  "-4 -o route show dev eth0 scope link") echo "192.168.7.0/24 proto kernel scope link src 192.168.7.20" ;;',
      'esac',
    ].join('\n');
    const dir = freshDir('fw');
    const s = stubs({ nft: '', systemctl: '', ip });
    const r = await bash(
      `${PRELUDE}echo "subnet=$(kl_local_subnet)"
fw_allow_from monitoring tcp 9090,9100 "$(kl_local_subnet),10.1.2.3"
fw_allow_from grafana tcp 3000 ""
fw_apply
`,
      fwEnv(dir, s),
      dir,
    );
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /^subnet=192\.168\.7\.0\/24$/m);
    const conf = readFileSync(join(dir, 'nftables.conf'), 'utf8');
    assert.match(conf, /ip saddr 192\.168\.7\.0\/24 tcp dport \{ 9090, 9100 \} accept/);
    assert.match(conf, /ip saddr 10\.1\.2\.3 tcp dport \{ 9090, 9100 \} accept/);
    assert.equal(conf.match(/dport \{ 9090, 9100 \}/g)?.length, 2, 'an unrestricted rule');
    assert.doesNotMatch(conf, /3000/, 'an empty source list opened the port');
    assert.match(conf, /iif lo accept/, 'this host always reaches its own ports');

    // The role itself: the allowed sources default to the local subnet and every rule names them.
    const role = readFileSync(join(availableRolesDir(), 'monitoring', 'role.sh'), 'utf8');
    assert.match(role, /^ALLOW="\$\{KLDLOAD_MONITORING_ALLOW:-\$\(kl_local_subnet\)\}"$/m);
    assert.doesNotMatch(role, /^\s*fw_allow /m, 'fw_allow without the allowed sources');
    assert.match(role, /^# setting: KLDLOAD_MONITORING_ALLOW cidrs$/m);
  });

  test('no role rules: input policy drop with ssh open, and no forward chain (routing left alone)', async () => {
    const dir = freshDir('fw');
    const s = stubs({ nft: '', systemctl: '' });
    const r = await bash(`${PRELUDE}fw_apply\n`, fwEnv(dir, s), dir);
    assert.equal(r.exitCode, 0, r.all);
    const conf = readFileSync(join(dir, 'nftables.conf'), 'utf8');
    assert.match(conf, /tcp dport 22 accept/);
    assert.doesNotMatch(conf, /chain forward/);
  });

  test('nft rejecting the rules keeps the old file and names the rule folder', async () => {
    const dir = freshDir('fw');
    writeFileSync(join(dir, 'nftables.conf'), 'old\n');
    const s = stubs({ nft: '[[ "$1" == -c ]] && exit 1; exit 0', systemctl: '' });
    const r = await bash(`${PRELUDE}fw_allow web tcp 80\nfw_apply\n`, fwEnv(dir, s), dir);
    assert.equal(r.exitCode, 1);
    assert.match(r.all, /fw_apply: nft rejected the generated rules .*nftables\.d/);
    assert.equal(readFileSync(join(dir, 'nftables.conf'), 'utf8'), 'old\n');
  });

  for (const [call, msg] of [
    ['fw_allow web icmp 80', /protocol 'icmp' must be tcp or udp/],
    ['fw_allow web tcp 80x', /port '80x' must be a number or LOW-HIGH/],
    ["fw_allow web tcp 80 '10.0.0.0/8;drop'", /source .* must be an IPv4 or IPv6/],
    ['fw_rule web output "accept"', /CHAIN 'output' must be input, forward/],
    ['fw_rule web input "accept; flush ruleset"', /one rule per call/],
    ['fw_rule web input "tcp dport { 80 accept"', /balanced braces/],
    ['fw_rule "we b" input accept', /NAME 'we b' must be/],
  ] as const)
    test(`firewall input refused: ${call}`, async () => {
      const dir = freshDir('fw');
      const s = stubs({ nft: '', systemctl: '' });
      const r = await bash(`${PRELUDE}${call}\n`, fwEnv(dir, s), dir);
      assert.equal(r.exitCode, 1);
      assert.match(r.all, msg);
      assert.ok(!existsSync(join(dir, 'nftables.d')) || calls(s).length === 0);
    });

  test('snapshot_schedule: a drop-in per dataset, written once, composed into sanoid.conf; bad input refused', async () => {
    const dir = freshDir('snap');
    const s = stubs({ systemctl: '' });
    const drop = join(dir, 'sanoid.d');
    mkdirSync(drop);
    // The installer's drop-in, shortened: the role's section for rpool/srv replaces this one.
    writeFileSync(
      join(drop, '00-kldload.conf'),
      '[template_data]\n  daily = 30\n\n[rpool/srv]\n  use_template = data\n',
    );
    const compose = join(dir, 'sanoid-compose');
    writeFileSync(compose, SANOID_COMPOSE, { mode: 0o755 });
    const env = {
      PATH: s.PATH,
      STUB_LOG: s.STUB_LOG,
      KLDLOAD_SANOID_DIR: drop,
      KLDLOAD_SANOID_CONF: join(dir, 'sanoid.conf'),
      KLDLOAD_SANOID_COMPOSE: compose,
    };
    const script = `${PRELUDE}snapshot_schedule rpool/audit hourly=24 autoprune=no recursive=yes
snapshot_schedule rpool/audit hourly=1
snapshot_schedule rpool/srv use_template=data daily=14
`;
    const r = await bash(script, env, dir);
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(
      readFileSync(join(drop, '50-rpool_audit.conf'), 'utf8'),
      '# snapshot_schedule rpool/audit hourly=24 autoprune=no recursive=yes (postinstall)\n' +
        '[rpool/audit]\n  autosnap = yes\n  hourly = 24\n  autoprune = no\n  recursive = yes\n',
    );
    assert.equal(
      readFileSync(join(dir, 'sanoid.conf'), 'utf8'),
      [
        '# Written by kldload (/usr/lib/kldload/sanoid-compose) before every sanoid run, from',
        `# ${drop}/*.conf in name order. Edit those files, not this one.`,
        '',
        `# --- ${drop}/00-kldload.conf`,
        '[template_data]',
        '  daily = 30',
        '',
        '# [rpool/srv] left out: defined again later',
        '',
        `# --- ${drop}/50-rpool_audit.conf`,
        '# snapshot_schedule rpool/audit hourly=24 autoprune=no recursive=yes (postinstall)',
        '[rpool/audit]',
        '  autosnap = yes',
        '  hourly = 24',
        '  autoprune = no',
        '  recursive = yes',
        '',
        `# --- ${drop}/50-rpool_srv.conf`,
        '# snapshot_schedule rpool/srv use_template=data daily=14 (postinstall)',
        '[rpool/srv]',
        '  autosnap = yes',
        '  use_template = data',
        '  daily = 14',
        '',
      ].join('\n'),
    );
    assert.match(r.all, /snapshots: rpool\/audit already scheduled in .*50-rpool_audit\.conf/);
    assert.deepEqual(calls(s), Array(3).fill('systemctl enable --now sanoid.timer'));
    const bad = await bash(`${PRELUDE}snapshot_schedule rpool/x keep=5\n`, env);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.all, /'keep=5' is not one of hourly=/);
    const badName = await bash(`${PRELUDE}snapshot_schedule '../etc' hourly=1\n`, env);
    assert.equal(badName.exitCode, 1);
    assert.match(badName.all, /'\.\.\/etc' is not a dataset name/);
  });

  test('secret_get makes a 0600 secret once, prints it, never logs it', async () => {
    const dir = freshDir('sec');
    const env = { KLDLOAD_SECRETS_DIR: join(dir, 'secrets') };
    const r = await bash(
      `${PRELUDE}a=$(secret_get db 20)\nb=$(secret_get db)\necho "same=$([[ $a == "$b" ]] && echo yes) len=\${#a}"\n`,
      env,
      dir,
    );
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /same=yes len=20/);
    const value = readFileSync(join(dir, 'secrets', 'db'), 'utf8').trim();
    assert.match(value, /^[A-Za-z0-9]{20}$/);
    assert.equal(statSync(join(dir, 'secrets', 'db')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'secrets')).mode & 0o777, 0o700);
    assert.ok(
      !readFileSync(join(dir, 'postinstall.log'), 'utf8').includes(value),
      'the secret reached the log',
    );
    const bad = await bash(`${PRELUDE}secret_get ../etc/passwd\n`, env);
    assert.equal(bad.exitCode, 1);
  });

  test('pkg_available asks apt for a candidate (on the darksite when it is on disk)', async () => {
    const s = stubs({
      'apt-get': '',
      'apt-cache':
        'if [[ "$2" == kubeadm ]]; then echo "kubeadm:"; echo "  Installed: (none)"; echo "  Candidate: (none)"; else echo "  Candidate: 1.0-1"; fi',
    });
    const r = await bash(
      `${PRELUDE}pkg_available nginx && echo nginx=yes\npkg_available kubeadm || echo kubeadm=no\n`,
      { PATH: s.PATH, STUB_LOG: s.STUB_LOG, KLDLOAD_DARKSITE_LIST: '/nonexistent' },
    );
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /nginx=yes\n(.*\n)*kubeadm=no/);
    assert.deepEqual(calls(s), ['apt-get update -q', 'apt-cache policy nginx', 'apt-cache policy kubeadm']);
  });
});
