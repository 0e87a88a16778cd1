/**
 * Darksite fetch against its floor, cold, in one run: the server profile's closure, the host's mirror.
 *
 *   floor:  kept-alive curl of exactly the URIs fetchDebs fetches, into an empty directory, two ways:
 *             parallel: one `curl -Z --parallel-max N` over all URIs (N connections, each reused,
 *                       the next URI to whichever connection is free);
 *             split:    N curl processes, each one kept-alive connection over a round-robin share.
 *           The faster of the two (by median) is the floor. Then `sha256sum -c` of those files
 *           against the index: floor + hashing.
 *   ours:   fetchDebs with N connections into an empty KLDLOAD_CACHE (SHA256 and size of every file
 *           checked, atomic renames).
 *
 * Every round starts from empty destinations; rounds alternate which side goes first. Figures are
 * medians of the rounds. The resolve (index load + resolveProfile) is setup, timed on its own.
 *
 * --loopback: the same files, first copied from the mirror (untimed), then served to both sides by
 * bench/sendfile-mirror.py on 127.0.0.1 (HTTP/1.1 keep-alive, sendfile): a mirror with no latency
 * and no bandwidth limit, where the client's own CPU cost is what shows.
 *
 *   node --import tsx bench/fetch.ts [--rounds 3] [--concurrency N[,M…]] [--loopback] [suite] [mirror]
 *
 * Writes bench/results/fetch-<stamp>.json; downloaded files are deleted afterwards.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const work = mkdtempSync(join('/var/tmp', 'kl-bench-fetch-'));
process.env.KLDLOAD_CACHE = join(work, 'cache');

const { SystemExecutor } = await import('../src/core/exec.ts');
const { utcStamp } = await import('../src/live/facts.ts');
const { hostMirror, loadSuiteIndex } = await import('../src/debian/archive.ts');
const { resolveProfile } = await import('../src/darksite/resolve.ts');
const fetchModule = await import('../src/darksite/fetch.ts');
const { fetchDebs } = fetchModule;

const args = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '3' },
    concurrency: { type: 'string' },
    loopback: { type: 'boolean', default: false },
  },
});
const suiteName = args.positionals[0] ?? 'trixie';
const mirror = (args.positionals[1] ?? hostMirror()).replace(/\/$/, '');
const rounds = Number(args.values.rounds);
// The default is fetchDebs' own (exported once the module has one; 8 before).
const ownDefault = (fetchModule as { FETCH_CONCURRENCY?: number }).FETCH_CONCURRENCY ?? 8;
const conc = (args.values.concurrency ?? String(ownDefault)).split(',').map(Number);
const stamp = utcStamp();

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};
const say = (s: string) => process.stderr.write(`${s}\n`);

/** .deb files, their bytes, and leftovers (anything else) under a directory. */
function filesIn(dir: string): { debs: number; bytes: number; other: string[] } {
  let debs = 0;
  let bytes = 0;
  const other: string[] = [];
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    if (!e.name.endsWith('.deb')) other.push(e.name);
    else {
      debs++;
      bytes += statSync(join(e.parentPath, e.name)).size;
    }
  }
  return { debs, bytes, other };
}

/** Runs a bash script; wall seconds and its children's CPU (bash `times`). */
function bash(script: string): { seconds: number; user: number; sys: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync('bash', ['-c', `${script}\ntimes >&2`], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`bash exited ${r.status}:\n${script}\n${r.stderr}`);
  const t = [...r.stderr.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return { seconds, user: t[2] ?? 0, sys: t[3] ?? 0, stdout: r.stdout };
}

let server: ChildProcess | undefined;
try {
  const load0 = loadavg();
  say(`resolve: loadSuiteIndex ${mirror} ${suiteName}, resolveProfile server`);
  let t = performance.now();
  const suite = await loadSuiteIndex(new SystemExecutor(), mirror, suiteName);
  const indexLoadS = (performance.now() - t) / 1000;
  t = performance.now();
  const res = resolveProfile(suite, 'server');
  const resolveS = (performance.now() - t) / 1000;
  if (res.errors.length) throw new Error(res.errors.map((e) => e.message).join('\n'));
  const pk = res.packages;
  const totalBytes = pk.reduce((n, p) => n + p.size, 0);
  const largest = pk.reduce((a, b) => (b.size > a.size ? b : a));
  say(`${pk.length} packages, ${(totalBytes / 1e6).toFixed(1)} MB, largest ${largest.name} ${largest.size}`);

  // The URIs both sides fetch: the mirror's, or the loopback copy's.
  let base = mirror;
  if (args.values.loopback) {
    const root = join(work, 'mirror');
    const cfg = join(work, 'mirror.curl');
    writeFileSync(
      cfg,
      pk.map((p) => `url = "${mirror}/${p.filename}"\noutput = "${join(root, p.filename)}"\n`).join(''),
    );
    say(`loopback: copying the ${pk.length} files from ${mirror} (untimed)`);
    bash(`curl -sSf --no-progress-meter --create-dirs -Z --parallel-max 8 -K ${cfg}`);
    server = spawn('python3', [join(import.meta.dirname, 'sendfile-mirror.py'), root], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const [line] = (await once(server.stdout ?? server, 'data')) as [Buffer];
    base = `http://127.0.0.1:${Number(line.toString().trim())}`;
    say(`loopback: serving ${root} at ${base}`);
  }

  const check = (what: string, dir: string) => {
    const f = filesIn(dir);
    if (f.debs !== pk.length || f.bytes !== totalBytes || f.other.length)
      throw new Error(
        `${what}: ${f.debs}/${pk.length} .debs, ${f.bytes}/${totalBytes} bytes, other: ${f.other}`,
      );
  };
  const curlConfig = (dir: string, list: typeof pk) =>
    list.map((p) => `url = "${base}/${p.filename}"\noutput = "${join(dir, `${p.sha256}.deb`)}"\n`).join('');

  /** One curl, N kept-alive connections; per-transfer time to first byte on stdout. */
  const floorParallel = (n: number, dir: string) => {
    writeFileSync(join(work, 'all.curl'), curlConfig(dir, pk));
    const W = '%{time_starttransfer} %{time_total}\\n';
    return bash(
      `curl -sSf --no-progress-meter -Z --parallel-max ${n} -w '${W}' -K ${join(work, 'all.curl')}`,
    );
  };
  /** N curls, each over its round-robin share on one kept-alive connection. */
  const floorSplit = (n: number, dir: string) => {
    const lines: string[] = [];
    for (let i = 0; i < n; i++) {
      const cfg = join(work, `split-${i}.curl`);
      writeFileSync(
        cfg,
        curlConfig(
          dir,
          pk.filter((_, j) => j % n === i),
        ),
      );
      lines.push(`curl -sSf -K ${cfg} & p${i}=$!`);
    }
    lines.push(
      `for p in ${Array.from({ length: n }, (_, i) => `$p${i}`).join(' ')}; do wait $p || exit 1; done`,
    );
    return bash(lines.join('\n'));
  };
  const sha256sum = (dir: string) => {
    writeFileSync(
      join(work, 'sums'),
      pk.map((p) => `${p.sha256}  ${join(dir, `${p.sha256}.deb`)}\n`).join(''),
    );
    return bash(`sha256sum --quiet -c ${join(work, 'sums')}`);
  };

  type Round = {
    parallel_s: number;
    parallel_cpu_s: number;
    split_s: number;
    split_cpu_s: number;
    sha256sum_s: number;
    ours_s: number;
    ours_cpu_s: number;
    ttfb_median_ms: number;
    ttfb_sum_s: number;
  };
  const byN: Record<string, unknown> = {};
  const summary: string[] = [];
  for (const n of conc) {
    const rows: Round[] = [];
    for (let i = 0; i < rounds; i++) {
      const dir = (what: string) => {
        const d = join(work, `${what}-${n}-${i}`);
        mkdirSync(d, { recursive: true });
        return d;
      };
      const ours = () => {
        const d = dir('ours');
        process.env.KLDLOAD_CACHE = d;
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        return fetchDebs(base, pk, { concurrency: n }).then(() => {
          const seconds = (performance.now() - t0) / 1000;
          const c = process.cpuUsage(c0);
          check('ours', join(d, 'debs'));
          rmSync(d, { recursive: true, force: true });
          return { seconds, cpu: (c.user + c.system) / 1e6 };
        });
      };
      const floors = () => {
        const dp = dir('parallel');
        const par = floorParallel(n, dp);
        check('parallel', dp);
        const sum = sha256sum(dp);
        rmSync(dp, { recursive: true, force: true });
        const ds = dir('split');
        const split = floorSplit(n, ds);
        check('split', ds);
        rmSync(ds, { recursive: true, force: true });
        const ttfb = par.stdout
          .trim()
          .split('\n')
          .map((l) => Number(l.split(' ')[0]));
        return { par, split, sum, ttfb };
      };
      // Alternate which side meets the mirror first.
      let o: Awaited<ReturnType<typeof ours>>;
      let f: ReturnType<typeof floors>;
      if (i % 2) {
        o = await ours();
        f = floors();
      } else {
        f = floors();
        o = await ours();
      }
      const row: Round = {
        parallel_s: r3(f.par.seconds),
        parallel_cpu_s: r3(f.par.user + f.par.sys),
        split_s: r3(f.split.seconds),
        split_cpu_s: r3(f.split.user + f.split.sys),
        sha256sum_s: r3(f.sum.seconds),
        ours_s: r3(o.seconds),
        ours_cpu_s: r3(o.cpu),
        ttfb_median_ms: Math.round(median(f.ttfb) * 1000),
        ttfb_sum_s: r3(f.ttfb.reduce((a, b) => a + b, 0)),
      };
      rows.push(row);
      say(`N=${n} round ${i + 1}/${rounds}: ${JSON.stringify(row)}`);
    }
    const med = (k: keyof Round) => r3(median(rows.map((r) => r[k])));
    const floorWay = med('parallel_s') <= med('split_s') ? 'parallel' : 'split';
    const floorS = floorWay === 'parallel' ? med('parallel_s') : med('split_s');
    const hashS = med('sha256sum_s');
    const oursS = med('ours_s');
    const ratio = Math.round((oursS / floorS) * 100) / 100;
    const ratioHashed = Math.round((oursS / (floorS + hashS)) * 100) / 100;
    byN[n] = {
      rounds: rows,
      median: {
        floor_parallel_s: med('parallel_s'),
        floor_split_s: med('split_s'),
        sha256sum_s: hashS,
        ours_s: oursS,
        ours_cpu_s: med('ours_cpu_s'),
        floor_parallel_cpu_s: med('parallel_cpu_s'),
        floor_split_cpu_s: med('split_cpu_s'),
        ttfb_median_ms: med('ttfb_median_ms'),
        // Time-to-first-byte summed over the transfers and spread over N connections: what the
        // per-request latency alone costs at this concurrency.
        latency_bound_s: r3(med('ttfb_sum_s') / n),
      },
      floor: { way: floorWay, seconds: floorS, with_sha256sum_s: r3(floorS + hashS) },
      ratio_ours_over_floor: ratio,
      ratio_ours_over_floor_with_sha256sum: ratioHashed,
      goal_max: 1.3,
    };
    summary.push(
      `N=${n}: floor (${floorWay}) ${floorS} s, + sha256sum ${r3(floorS + hashS)} s; ours ${oursS} s → ${ratio}× (${ratioHashed}× against floor + sha256sum); goal ≤ 1.3×`,
    );
  }

  const code = spawnSync('git', ['describe', '--always', '--dirty'], { encoding: 'utf8' }).stdout.trim();
  const result = {
    stamp,
    code,
    suite: suiteName,
    mirror,
    served_from: args.values.loopback
      ? `${base} (bench/sendfile-mirror.py, a copy of the mirror's files)`
      : mirror,
    release_date: suite.release.get('Date'),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadavg_start: load0, loadavg_end: loadavg() },
    profile: 'server',
    packages: pk.length,
    bytes: totalBytes,
    largest: { name: largest.name, bytes: largest.size },
    setup: { index_load_s: r3(indexLoadS), resolve_s: r3(resolveS) },
    method: {
      floor_parallel:
        'curl -sSf -Z --parallel-max N -K <url/output list>: one process, N kept-alive connections',
      floor_split: 'N × curl -sSf -K <round-robin share>: one kept-alive connection each',
      sha256sum: 'sha256sum --quiet -c over the floor files (page cache warm), after the download',
      ours: 'fetchDebs(mirror, packages, { concurrency: N }) into an empty KLDLOAD_CACHE',
      rounds,
      order: 'each round from empty destinations; rounds 1, 3, … curl first, rounds 2, 4, … ours first',
      cpu: 'user + system seconds: process.cpuUsage for ours, bash `times` of the curls',
    },
    by_concurrency: byN,
  };
  for (const s of summary) console.log(s);
  mkdirSync('bench/results', { recursive: true });
  const out = join('bench/results', `fetch${args.values.loopback ? '-loopback' : ''}-${stamp}.json`);
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`written ${out}`);
} finally {
  server?.kill();
  rmSync(work, { recursive: true, force: true });
}
