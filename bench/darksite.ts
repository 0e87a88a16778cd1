/**
 * Darksite fetch benchmark, one run, cold caches, same mirror, same package set (the server profile):
 *
 *   (a) ours:     resolveProfile (resolver index build included) + fetchDebs (8 connections, SHA256
 *                 and size checked while streaming) into a fresh, empty KLDLOAD_CACHE;
 *   (b) serial:   the original tool's method, `apt-cache depends --recurse --no-recommends …` for the
 *                 closure, then one `apt-get download <pkg>` per package (apt checks hashes too);
 *   (c) parallel: 8 `curl -s -o` processes (xargs -P8) over exactly the URIs ours fetched, no checks;
 *                 the practical limit of the link and the mirror.
 *
 * apt runs in a throwaway root (its own sources.list, lists, cache, empty dpkg status), never the
 * host's. `apt-get update` there and loadSuiteIndex are timed but not counted in the comparison.
 * The serial method downloads ours' resolved package list (name=version) so all three move the
 * same files; apt-cache's own closure is timed and its difference to ours is reported.
 * Also times the resolver alone on the desktop profile (index build reported separately).
 *
 *   node --import tsx bench/darksite.ts [suite] [mirror]
 *
 * Writes bench/results/darksite-<stamp>.json; downloaded files are deleted afterwards.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';

// Cold: a fresh cache for ours (index, .debs) before any project module can look at the variable.
const work = mkdtempSync(join('/var/tmp', 'kl-bench-darksite-'));
chmodSync(work, 0o755); // apt-get drops to _apt for downloads; let it reach its directories
process.env.KLDLOAD_CACHE = join(work, 'cache');

const { aptSourceLine, DEBIAN_KEYRING } = await import('../src/core/debian.ts');
const { SystemExecutor } = await import('../src/core/exec.ts');
const { utcStamp } = await import('../src/live/facts.ts');
const { profilePackages } = await import('../src/package-sets/package-sets.ts');
const { hostMirror, loadSuiteIndex } = await import('../src/debian/archive.ts');
const { buildIndex } = await import('../src/darksite/resolve-index.ts');
const { resolveProfile } = await import('../src/darksite/resolve.ts');
const { fetchDebs } = await import('../src/darksite/fetch.ts');
const { makeScratchRoot, scratchApt } = await import('../src/darksite/repo.ts');

const suiteName = process.argv[2] ?? 'trixie';
const mirror = (process.argv[3] ?? hostMirror()).replace(/\/$/, '');
const stamp = utcStamp();
const PARALLEL = 8;

const secs = (t0: number) => Math.round((performance.now() - t0) / 10) / 100;
const mb = (b: number) => Math.round(b / 1e5) / 10;
const say = (s: string) => process.stderr.write(`${s}\n`);

/** .deb files and their total size in a directory tree. */
function debsIn(dir: string): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !e.name.endsWith('.deb')) continue;
    count++;
    bytes += statSync(join(e.parentPath, e.name)).size;
  }
  return { count, bytes };
}

function run(cmd: string, args: string[], opts: { cwd?: string; input?: string } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, ...opts });
  if (r.error) throw r.error;
  return { status: r.status ?? 255, stdout: r.stdout, stderr: r.stderr };
}

try {
  const load0 = loadavg();
  const server = profilePackages('server').map((p) => p.name);

  // Throwaway apt root for trixie on whatever the host runs; update is setup, timed on its own.
  const aptRoot = join(work, 'apt');
  makeScratchRoot(
    aptRoot,
    aptSourceLine({
      uri: mirror,
      suite: suiteName,
      components: ['main', 'contrib'],
      signedBy: DEBIAN_KEYRING,
    }),
  );
  const apt = scratchApt(aptRoot);
  say(`apt-get update (${mirror} ${suiteName} main contrib) in ${aptRoot}`);
  let t = performance.now();
  const up = run('apt-get', [...apt, '-q', 'update']);
  const aptUpdateS = secs(t);
  if (up.status !== 0 || /^E: /m.test(up.stderr)) throw new Error(`apt-get update:\n${up.stderr}`);
  if (up.stderr.trim()) say(up.stderr.trim());

  // Ours, setup: signed index into the fresh cache (InRelease + gpgv + Packages.gz + parse).
  say('ours: loadSuiteIndex');
  t = performance.now();
  const suite = await loadSuiteIndex(new SystemExecutor(), mirror, suiteName);
  const indexLoadS = secs(t);

  // (a) ours: resolve (builds the resolver index on first use) + verified parallel fetch.
  say('ours: resolveProfile server');
  t = performance.now();
  const res = resolveProfile(suite, 'server');
  const oursResolveS = secs(t);
  if (res.errors.length) throw new Error(res.errors.map((e) => e.message).join('\n'));
  say(`ours: fetchDebs ${res.packages.length} packages, ${mb(res.totals.bytes)} MB, ${PARALLEL} connections`);
  t = performance.now();
  const paths = await fetchDebs(mirror, res.packages, { concurrency: PARALLEL });
  const oursFetchS = secs(t);
  const oursOnDisk = debsIn(join(work, 'cache', 'debs'));
  if (paths.size !== res.packages.length || oursOnDisk.count !== res.packages.length)
    throw new Error(`ours: ${oursOnDisk.count} files for ${res.packages.length} packages`);
  rmSync(join(work, 'cache', 'debs'), { recursive: true, force: true });

  // (c) plain parallel: the same URIs, 8 curls at a time, one curl process (and connection) per file,
  // no verification. curl -w reports each transfer's connect time, to see connection-setup stalls.
  const W = '%{time_connect} %{time_total}\\n';
  const stalls = (out: string) => {
    const rows = out
      .trim()
      .split('\n')
      .map((l) => l.split(' ').map(Number));
    const slow = rows.filter(([c]) => (c ?? 0) > 0.5);
    return {
      transfers: rows.length,
      connect_over_0_5s: slow.length,
      connect_wait_s: Math.round(slow.reduce((n, [c]) => n + (c ?? 0), 0) * 10) / 10,
    };
  };
  const curl = (what: string, args: string[], line: (dst: string, uri: string) => string) => {
    const dir = join(work, what);
    mkdirSync(dir);
    const input = res.packages.map((p) => line(join(dir, `${p.sha256}.deb`), `${mirror}/${p.filename}`));
    say(`${what}: xargs ${args.join(' ')} over ${input.length} URIs`);
    const t0 = performance.now();
    const r = run('xargs', args, { input: `${input.join('\n')}\n` });
    const seconds = secs(t0);
    const onDisk = debsIn(dir);
    rmSync(dir, { recursive: true, force: true });
    if (r.status !== 0 || onDisk.count !== res.packages.length)
      throw new Error(`${what}: exit ${r.status}, ${onDisk.count}/${res.packages.length} files\n${r.stderr}`);
    return { ...onDisk, total_s: seconds, ...stalls(r.stdout) };
  };
  const plain = curl(
    'parallel',
    [`-P${PARALLEL}`, '-n2', 'curl', '-sf', '-w', W, '-o'],
    (d, u) => `${d} ${u}`,
  );
  const curlS = plain.total_s;
  // (c') the same, but each of the 8 curls takes 1/8 of the URIs and reuses its connection, as
  // fetchDebs does; shows what connection setup costs on this link.
  const per = Math.ceil(res.packages.length / PARALLEL);
  const reuse = curl(
    'parallel-reuse',
    [`-P${PARALLEL}`, `-n${3 * per}`, 'curl', '-sf', '-w', W],
    (d, u) => `-o ${d} ${u}`,
  );

  // (b) serial, step 1: apt-cache's own closure of the same request list.
  say('serial: apt-cache depends --recurse');
  t = performance.now();
  const dep = run('apt-cache', [
    ...apt,
    'depends',
    '--recurse',
    '--no-recommends',
    '--no-suggests',
    '--no-conflicts',
    '--no-breaks',
    '--no-replaces',
    '--no-enhances',
    ...server,
  ]);
  const aptCacheS = secs(t);
  if (dep.status !== 0) throw new Error(`apt-cache depends:\n${dep.stderr}`);
  // Top-level lines are the closure; `<name>` lines are virtual packages (nothing to download).
  const aptCacheNames = [...new Set(dep.stdout.split('\n').filter((l) => /^[a-z0-9]/.test(l)))].sort();
  const oursNames = new Set(res.packages.map((p) => p.name));
  const aptSet = new Set(aptCacheNames);
  const onlyAptCache = aptCacheNames.filter((n) => !oursNames.has(n));
  const onlyOurs = [...oursNames].filter((n) => !aptSet.has(n));

  // (b) serial, step 2: one apt-get download per package, over ours' list so the files are the same.
  const serialDir = join(work, 'serial');
  mkdirSync(serialDir);
  chmodSync(serialDir, 0o777);
  const failed: string[] = [];
  say(`serial: apt-get download × ${res.packages.length}`);
  t = performance.now();
  for (const [i, p] of res.packages.entries()) {
    const r = run('apt-get', [...apt, '-qq', 'download', `${p.name}=${p.version}`], { cwd: serialDir });
    if (r.status !== 0) failed.push(`${p.name}: ${r.stderr.trim().split('\n').pop()}`);
    if (i === 0 && failed.length) throw new Error(`apt-get download: ${failed[0]}`);
    if ((i + 1) % 50 === 0) say(`  ${i + 1}/${res.packages.length} after ${secs(t)} s`);
  }
  const serialDownloadS = secs(t);
  const serialOnDisk = debsIn(serialDir);
  rmSync(serialDir, { recursive: true, force: true });

  // Resolver alone on the desktop profile: index build, first (cold) resolve, median of 5 warm.
  t = performance.now();
  const index = buildIndex(suite.packages);
  const indexBuildS = secs(t);
  t = performance.now();
  const desktop = resolveProfile(index, 'desktop');
  const desktopResolveS = secs(t);
  const warm = Array.from({ length: 5 }, () => {
    const t1 = performance.now();
    resolveProfile(index, 'desktop');
    return secs(t1);
  }).sort((a, b) => a - b);

  const oursS = Math.round((oursResolveS + oursFetchS) * 100) / 100;
  const serialS = Math.round((aptCacheS + serialDownloadS) * 100) / 100;
  const result = {
    stamp,
    suite: suiteName,
    mirror,
    release_date: suite.release.get('Date'),
    cache: 'cold: fresh KLDLOAD_CACHE for ours, fresh empty directories for apt-get download and curl',
    machine: { cpus: cpus().length, loadavg_start: load0, loadavg_end: loadavg() },
    order:
      'apt-get update, ours (index load, resolve, fetch), curl per file, curl kept-alive, apt-cache depends, apt-get download',
    profile: 'server',
    requested: server.length,
    setup: { apt_get_update_s: aptUpdateS, ours_index_load_s: indexLoadS },
    ours: {
      packages: res.packages.length,
      bytes: res.totals.bytes,
      resolve_s: oursResolveS,
      fetch_s: oursFetchS,
      total_s: oursS,
      concurrency: PARALLEL,
      verification: 'SHA256 + size of every .deb against the gpgv-verified index',
    },
    serial: {
      method:
        'apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances, then apt-get download per package',
      download_list: "ours' resolved list (name=version), so the files are identical to (a) and (c)",
      apt_cache_resolve_s: aptCacheS,
      apt_cache_packages: aptCacheNames.length,
      apt_cache_only: onlyAptCache,
      ours_only: onlyOurs,
      packages: serialOnDisk.count,
      bytes: serialOnDisk.bytes,
      failed,
      download_s: serialDownloadS,
      total_s: serialS,
    },
    parallel: {
      method: `xargs -P${PARALLEL} -n2 curl -sf -o <file> <uri>: one process and connection per file, the URIs ours fetched, no verification`,
      ...plain,
    },
    parallel_reuse: {
      method: `xargs -P${PARALLEL} -n${3 * per} curl -sf -o <file> <uri> …: 8 processes, ${per} files each over one kept-alive connection, no verification`,
      ...reuse,
    },
    desktop_resolver: {
      stanzas: suite.packages.length,
      index_build_s: indexBuildS,
      resolve_cold_s: desktopResolveS,
      resolve_warm_median_s: warm[2],
      packages: desktop.totals.count,
      errors: desktop.errors.length,
      goal_s: 1,
    },
    ratios: {
      serial_over_ours: Math.round((serialS / oursS) * 10) / 10,
      ours_over_parallel: Math.round((oursS / curlS) * 100) / 100,
      ours_fetch_only_over_parallel: Math.round((oursFetchS / curlS) * 100) / 100,
      ours_over_parallel_reuse: Math.round((oursS / reuse.total_s) * 100) / 100,
      ours_fetch_only_over_parallel_reuse: Math.round((oursFetchS / reuse.total_s) * 100) / 100,
      serial_download_only_over_ours_fetch: Math.round((serialDownloadS / oursFetchS) * 10) / 10,
    },
    goals: { serial_over_ours_min: 20, ours_over_parallel_max: 1.5, desktop_resolve_max_s: 1 },
  };

  const rows = [
    ['method', 'packages', 'MB', 'seconds'],
    ['(a) ours: resolve + verified fetch', res.packages.length, mb(res.totals.bytes), oursS],
    ['      resolve (index build incl.)', '', '', oursResolveS],
    ['      fetchDebs ×8, SHA256', '', '', oursFetchS],
    ['(b) serial: apt-cache + apt-get download', serialOnDisk.count, mb(serialOnDisk.bytes), serialS],
    ['      apt-cache depends --recurse', aptCacheNames.length, '', aptCacheS],
    ['      apt-get download, one by one', serialOnDisk.count, '', serialDownloadS],
    ['(c) parallel: 8 × curl per file, no checks', plain.count, mb(plain.bytes), curlS],
    ['      connects > 0.5 s (summed wait)', plain.connect_over_0_5s, '', plain.connect_wait_s],
    ["(c') 8 curls, kept-alive, no checks", reuse.count, mb(reuse.bytes), reuse.total_s],
    ['      connects > 0.5 s (summed wait)', reuse.connect_over_0_5s, '', reuse.connect_wait_s],
    ['setup: apt-get update', '', '', aptUpdateS],
    ['setup: loadSuiteIndex', suite.packages.length, '', indexLoadS],
    ['desktop: buildIndex', '', '', indexBuildS],
    ['desktop: resolve (cold / warm median)', desktop.totals.count, '', `${desktopResolveS} / ${warm[2]}`],
  ].map((r) => r.map(String));
  const w = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  for (const r of rows)
    console.log(r.map((c, i) => (i === 0 ? c.padEnd(w[i] ?? 0) : c.padStart(w[i] ?? 0))).join('  '));
  console.log(
    `serial / ours = ${result.ratios.serial_over_ours}× (goal ≥ 20×); ours / parallel = ${result.ratios.ours_over_parallel}× (goal ≤ 1.5×; fetch only ${result.ratios.ours_fetch_only_over_parallel}×); ours / kept-alive curls = ${result.ratios.ours_over_parallel_reuse}× (fetch only ${result.ratios.ours_fetch_only_over_parallel_reuse}×)`,
  );
  console.log(
    `apt-cache closure: ${aptCacheNames.length} packages, ${onlyAptCache.length} not in ours (${onlyAptCache.slice(0, 12).join(' ')}${onlyAptCache.length > 12 ? ' …' : ''}); ${onlyOurs.length} in ours only`,
  );
  if (failed.length) console.log(`apt-get download failures: ${failed.length}\n  ${failed.join('\n  ')}`);

  mkdirSync('bench/results', { recursive: true });
  const out = join('bench/results', `darksite-${stamp}.json`);
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written ${out}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
