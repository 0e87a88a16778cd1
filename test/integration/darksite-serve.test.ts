/**
 * `kldload darksite serve`: a real signed repository (.debs made by dpkg-deb, apt-ftparchive,
 * gpg) served over HTTP on a free loopback port, with real apt in a scratch root as the client.
 */
import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EXIT, KldloadError } from '../../src/core/errors.ts';
import { SystemExecutor } from '../../src/core/exec.ts';
import { Logger } from '../../src/core/log.ts';
import { makeScratchRoot, scratchApt, writeRepo } from '../../src/darksite/repo.ts';
import {
  isLoopback,
  parseListen,
  type Serving,
  servedSourcesLine,
  serveRepo,
} from '../../src/darksite/serve.ts';
import { ensureSigningKey } from '../../src/darksite/signing-key.ts';
import { inspectDebs } from '../../src/darksite/supplied.ts';
import { REPO } from '../../src/layout.ts';
import { cliJson, cliSpawn } from '../unit/cli-helper.ts';
import { killAgent, makeDeb } from './darksite-helpers.ts';

const exec = new SystemExecutor();
const work = mkdtempSync(join(tmpdir(), 'kl-serve-'));
const repo = join(work, 'repo');
const suite = 'trixie';
/** A version like Debian's stable updates: apt asks for its file as `…_2.3.9-0%2bdeb13u1_amd64.deb`. */
const plusVersion = '2.3.9-0+deb13u1';
const outside = join(work, 'outside');
let s: Serving;

before(async () => {
  const debs = join(work, 'debs');
  mkdirSync(debs);
  const supplied = await inspectDebs(exec, [
    {
      path: makeDeb(debs, { name: 'kl-serve-app', version: '1.0', depends: 'kl-serve-lib (>= 2)' }),
      from: '--deb',
    },
    { path: makeDeb(debs, { name: 'kl-serve-lib', version: '2.1', arch: 'amd64' }), from: '--deb' },
    {
      path: makeDeb(debs, {
        name: 'kl-serve-plus',
        version: plusVersion,
        arch: 'amd64',
        depends: 'kl-serve-plus-data (= 1:1.0+dfsg-2)',
      }),
      from: '--deb',
    },
    { path: makeDeb(debs, { name: 'kl-serve-plus-data', version: '1:1.0+dfsg-2' }), from: '--deb' },
  ]);
  const key = await ensureSigningKey(exec, join(work, 'gnupg'));
  await writeRepo(exec, new Logger({ quiet: true }), { dir: repo, suite, debs: supplied, key });
  // Links out of the served folder (a file and a folder), one inside it, and a file to replace.
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'root:x:0:0:outside the darksite\n');
  symlinkSync(join(outside, 'secret'), join(repo, 'pool', 'escape.deb'));
  symlinkSync(outside, join(repo, 'pool', 'escape-dir'));
  symlinkSync(join('..', 'dists', suite, 'InRelease'), join(repo, 'pool', 'inside-link'));
  writeFileSync(join(repo, 'pool', 'replaced.txt'), 'short\n');
  s = await serveRepo(repo, { host: '127.0.0.1', port: 0 });
});

after(async () => {
  await s?.close();
  killAgent(join(work, 'gnupg'));
  rmSync(work, { recursive: true, force: true });
});

/** One raw HTTP request (the path goes out exactly as written, `..` included), 10 s at most. */
function http(
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const u = new URL(s.url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', fail);
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.end();
  });
}

/** The pool path of a package's .deb, as the signed index names it. */
function poolFile(name: string): string {
  const dir = join(repo, 'pool', 'main', name.slice(0, 1), name);
  const [file] = readdirSync(dir).filter((f) => f.endsWith('.deb'));
  assert.ok(file, `${name}: no .deb in ${dir}`);
  return `pool/main/${name.slice(0, 1)}/${name}/${file}`;
}

test('--listen parsing and the loopback rule', () => {
  assert.deepEqual(parseListen('127.0.0.1:3142'), { host: '127.0.0.1', port: 3142 });
  assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
  assert.deepEqual(parseListen(':8080'), { host: '127.0.0.1', port: 8080 });
  assert.throws(() => parseListen('127.0.0.1'), /expected HOST:PORT/);
  assert.throws(() => parseListen('127.0.0.1:70000'), /expected HOST:PORT/);
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) assert.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '192.0.2.10', '::', 'example.org']) assert.ok(!isLoopback(h), h);
});

test('apt updates from the served darksite with signed-by and installs from it', async () => {
  assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.deepEqual(s.suites, [suite]);
  const root = join(work, 'apt');
  makeScratchRoot(root, servedSourcesLine(s.url, suite, join(repo, REPO.keyring)));
  // The scratch root is private to this test: apt's _apt download user may not enter it.
  const apt = [...scratchApt(root), '-o', 'APT::Sandbox::User=root'];
  const up = await exec.run(['apt-get', ...apt, 'update'], { check: false, timeoutMs: 120_000 });
  assert.equal(up.exitCode, 0, up.all);
  assert.match(up.all, new RegExp(`Get:\\d+ ${s.url.replace(/\/$/, '')} ${suite} InRelease`));
  assert.doesNotMatch(up.all, /^(W|E):/m);
  const sim = await exec.run(['apt-get', ...apt, '-s', 'install', 'kl-serve-app'], {
    check: false,
    timeoutMs: 120_000,
  });
  assert.equal(sim.exitCode, 0, sim.all);
  assert.match(sim.all, /^Inst kl-serve-lib \(2\.1 /m);
  assert.match(sim.all, /^Inst kl-serve-app \(1\.0 /m);
  // The .debs themselves over HTTP, checked by apt against the signed index.
  const dl = await exec.run(['apt-get', ...apt, '-y', '--download-only', 'install', 'kl-serve-app'], {
    check: false,
  });
  assert.equal(dl.exitCode, 0, dl.all);
});

test('read-only and byte-exact: GET/HEAD with Content-Length, 404, no escape, 405', async () => {
  const pk = `dists/${suite}/main/binary-amd64/Packages.gz`;
  const file = readFileSync(join(repo, pk));
  const get = await http('GET', `/${pk}`);
  assert.equal(get.status, 200);
  assert.equal(get.headers['content-length'], String(file.length));
  assert.equal(get.headers['content-encoding'], undefined, 'a client would unpack it');
  assert.deepEqual(get.body, file);
  const head = await http('HEAD', `/dists/${suite}/InRelease`);
  assert.equal(head.status, 200);
  assert.equal(
    head.headers['content-length'],
    String(statSync(join(repo, 'dists', suite, 'InRelease')).size),
  );
  assert.equal(head.body.length, 0);
  for (const path of [
    '/dists/nope/InRelease',
    '/dists/',
    '/',
    '/../../../../etc/passwd',
    '/%2e%2e/%2e%2e/%2e%2e/etc/passwd',
    `/dists/${suite}/..%2f..%2f..%2f..%2fetc/passwd`,
  ]) {
    const r = await http('GET', path);
    assert.equal(r.status, 404, path);
    assert.doesNotMatch(r.body.toString(), /root:/);
  }
  for (const method of ['POST', 'PUT', 'DELETE']) {
    const r = await http(method, `/dists/${suite}/InRelease`);
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.allow, 'GET, HEAD');
  }
});

test('a file name holding + is served however the client writes it (apt sends %2b)', async () => {
  const file = poolFile('kl-serve-plus');
  assert.match(file, /_2\.3\.9-0\+deb13u1_amd64\.deb$/);
  const bytes = readFileSync(join(repo, file));
  for (const path of [file.replace('+', '%2b'), file.replace('+', '%2B'), file]) {
    const r = await http('GET', `/${path}`);
    assert.equal(r.status, 200, path);
    assert.equal(r.headers['content-length'], String(bytes.length), path);
    assert.deepEqual(r.body, bytes, path);
  }
});

test('Range: clamped to the file, unsatisfiable is 416, an absurd number does not stop the server', async () => {
  const pk = `/dists/${suite}/InRelease`;
  const file = readFileSync(join(repo, 'dists', suite, 'InRelease'));
  const part = await http('GET', pk, { Range: 'bytes=10-19' });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 10-19/${file.length}`);
  assert.deepEqual(part.body, file.subarray(10, 20));
  for (const range of ['bytes=0-99999999999999999999', 'bytes=0-18446744073709551616']) {
    const r = await http('GET', pk, { Range: range });
    assert.equal(r.status, 206, range);
    assert.equal(r.headers['content-range'], `bytes 0-${file.length - 1}/${file.length}`, range);
    assert.deepEqual(r.body, file, range);
  }
  const past = await http('GET', pk, { Range: 'bytes=99999999999999999999-' });
  assert.equal(past.status, 416);
  assert.equal(past.headers['content-range'], `bytes */${file.length}`);
  // Still serving.
  assert.equal((await http('HEAD', pk)).status, 200);
});

test('symbolic links that lead out of the served folder are not followed', async () => {
  for (const path of ['/pool/escape.deb', '/pool/escape-dir/secret']) {
    const r = await http('GET', path);
    assert.equal(r.status, 404, path);
    assert.doesNotMatch(r.body.toString(), /outside the darksite/, path);
  }
  // One made while serving is refused too.
  symlinkSync(join(outside, 'secret'), join(repo, 'pool', 'escape-later.deb'));
  assert.equal((await http('GET', '/pool/escape-later.deb')).status, 404);
  // A link that stays inside the folder is an ordinary file.
  const inside = await http('GET', '/pool/inside-link');
  assert.equal(inside.status, 200);
  assert.deepEqual(inside.body, readFileSync(join(repo, 'dists', suite, 'InRelease')));
});

test('a file replaced or added while serving is served as it is now', async () => {
  assert.equal((await http('GET', '/pool/replaced.txt')).body.toString(), 'short\n');
  const longer = 'a longer file that replaced the first one\n';
  writeFileSync(join(repo, 'pool', 'replaced.tmp'), longer);
  renameSync(join(repo, 'pool', 'replaced.tmp'), join(repo, 'pool', 'replaced.txt'));
  const r = await http('GET', '/pool/replaced.txt');
  assert.equal(r.status, 200);
  assert.equal(r.headers['content-length'], String(Buffer.byteLength(longer)));
  assert.equal(r.body.toString(), longer);
  writeFileSync(join(repo, 'pool', 'added.txt'), 'new\n');
  assert.equal((await http('GET', '/pool/added.txt')).body.toString(), 'new\n');
});

test("the host's apt-get downloads packages whose versions hold + through the server, signed-by the repo key", async () => {
  const root = join(work, 'apt-plus');
  makeScratchRoot(root, servedSourcesLine(s.url, suite, join(repo, REPO.keyring)));
  const apt = [...scratchApt(root), '-o', 'APT::Sandbox::User=root'];
  const bounded = { check: false, timeoutMs: 120_000 } as const;
  const up = await exec.run(['apt-get', ...apt, 'update'], bounded);
  assert.equal(up.exitCode, 0, up.all);
  assert.doesNotMatch(up.all, /^(W|E):/m);
  // apt-get download: into the current folder, checked against the signed index.
  const into = join(work, 'downloaded');
  mkdirSync(into);
  const dl = await exec.run(['apt-get', ...apt, 'download', 'kl-serve-plus'], { ...bounded, cwd: into });
  assert.equal(dl.exitCode, 0, dl.all);
  assert.match(
    dl.all,
    /^Get:\d+ http:\/\/127\.0\.0\.1:\d+ trixie\/main amd64 kl-serve-plus amd64 2\.3\.9-0\+deb13u1 /m,
  );
  const got = readdirSync(into);
  assert.equal(got.length, 1, got.join(' '));
  assert.deepEqual(
    readFileSync(join(into, got[0] ?? '')),
    readFileSync(join(repo, poolFile('kl-serve-plus'))),
  );
  // install --download-only: the + version and its epoch-and-+ dependency, from the server.
  const inst = await exec.run(
    ['apt-get', ...apt, '-y', '--download-only', 'install', 'kl-serve-plus'],
    bounded,
  );
  assert.equal(inst.exitCode, 0, inst.all);
  const archives = readdirSync(join(root, 'var/cache/apt/archives')).filter((f) => f.endsWith('.deb'));
  assert.deepEqual(archives.sort(), [
    'kl-serve-plus-data_1%3a1.0+dfsg-2_all.deb',
    'kl-serve-plus_2.3.9-0+deb13u1_amd64.deb',
  ]);
  // A second update asks with If-Modified-Since and gets 304s: nothing changed, nothing fetched.
  const again = await exec.run(['apt-get', ...apt, 'update'], bounded);
  assert.equal(again.exitCode, 0, again.all);
  assert.match(again.all, /^Hit:\d+ .* InRelease/m);
});

test('refused: a non-loopback address without --public, a folder that is not a darksite', async () => {
  await assert.rejects(serveRepo(repo, { host: '0.0.0.0', port: 0 }), (e: unknown) => {
    assert.ok(e instanceof KldloadError);
    assert.equal(e.exitCode, EXIT.badInput);
    assert.match(e.message, /0\.0\.0\.0:0: not a loopback address; add --public/);
    return true;
  });
  await assert.rejects(serveRepo(work, { host: '127.0.0.1', port: 0 }), /not a darksite repository/);
});

test('the CLI prints one JSON line when listening, serves, and stops on SIGTERM', async () => {
  const child = cliSpawn(['darksite', 'serve', repo, '--listen', '127.0.0.1:0', '--json']);
  try {
    const line = await new Promise<string>((ok, fail) => {
      let buf = '';
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (c: string) => {
        buf += c;
        if (buf.includes('\n')) ok(buf.slice(0, buf.indexOf('\n')));
      });
      child.on('exit', (code) => fail(new Error(`serve exited ${code} before listening`)));
      setTimeout(() => fail(new Error('serve did not start in 20 s')), 20_000).unref();
    });
    const info = JSON.parse(line) as { url: string; dir: string };
    assert.deepEqual(Object.keys(info), ['url', 'dir']);
    assert.equal(info.dir, repo);
    const res = await fetch(`${info.url}dists/${suite}/InRelease`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /BEGIN PGP SIGNED MESSAGE/);
    const code = await new Promise<number | null>((ok) => {
      child.on('exit', ok);
      child.kill('SIGTERM');
    });
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
  }
  const pub = cliJson<{ error: string }>(['darksite', 'serve', repo, '--listen', '0.0.0.0:0'], {
    timeout: 20_000,
  });
  assert.equal(pub.code, EXIT.badInput);
  assert.match(pub.json.error, /not a loopback address; add --public/);
});
