/**
 * The postinstall library (payload/target/postinstall/lib.sh) run with the host's bash: syntax and
 * shellcheck, logging and retry, the failure record of kl_strict, pkg_install (stubbed apt-get).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  bash,
  calls,
  DISPATCH,
  exec,
  failureOf,
  LIB,
  PAYLOAD,
  PRELUDE,
  stubs,
} from './postinstall-harness.ts';

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
