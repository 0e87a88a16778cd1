/**
 * kclone against its peers and its floor, in one guest, one run (issue 10's figures):
 * - one kclone of a 1 GiB folder against `cp -a` of it, and against its floor: a plain
 *   `zfs snapshot` + `zfs clone` (what kclone adds is node, reading the facts, the plan and its log);
 * - 100 clones in one kclone against 100 plain `zfs clone`s of one snapshot, and one
 *   `kclone destroy` of the 100 against 100 plain `zfs destroy`s;
 * - where the time of one kclone goes: `node -e 0`, the bundle's start (`kldload --version`), and
 *   `kclone --dry-run` (start + the facts it reads, nothing made); the two node figures again with
 *   `node --jitless`.
 * Single figures are medians of ROUNDS rounds, timed on the host around one ssh call minus the
 * median empty ssh call (a TCG guest's clock drifts under load).
 *
 *   npm run bench:kclone [-- DAY2_WORKDIR] [ROUNDS]
 *   KLDLOAD_BENCH_BASELINE=old-kldload.mjs npm run bench:kclone    # before/after in the same guest
 *
 * With KLDLOAD_BENCH_BASELINE (another build of the bundle, e.g. the previous commit's), its
 * `kclone --dry-run` and one real kclone are timed in the same rounds (baseline_* rows).
 *
 * DAY2_WORKDIR is an `npm run e2e:day2` folder (base.qcow2, id_ed25519); default: the newest under
 * the cache. The base disk is used through an overlay; this tree's bundle (dist/kldload.mjs, run
 * `npm run bundle` first) replaces the guest's. Writes bench/results/kclone-<stamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { utcStamp } from '../src/live/facts.ts';
import { renderBoots } from '../src/vm/machine.ts';
import { day2Guest, median, r3, runBench } from './guest.ts';
import { newestDay2Dir } from './runs.ts';

const POOL = 'rpool';
const SRC = '/srv/klbench';
const DS = `${POOL}/srv/klbench`;
const N = 100;

const src = process.argv[2] ?? newestDay2Dir(['id_ed25519']);
const ROUNDS = Number(process.argv[3] ?? 3);
const stamp = utcStamp();
const { m, sh, timed, calibrate } = await day2Guest(src, 'kclone-bench-', stamp);

const BASELINE = process.env.KLDLOAD_BENCH_BASELINE;
const result: Record<string, unknown> = {
  bench: 'kclone',
  stamp,
  source: src,
  rounds: ROUNDS,
  ...(BASELINE ? { baseline: BASELINE } : {}),
};
const out = join('bench/results', `kclone-${stamp}.json`);
const save = () => {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(out, `${JSON.stringify({ ...result, boots: renderBoots(m.boots) }, null, 1)}\n`);
};
await runBench('kclone', { m, result, save, out }, async () => {
  await m.mustBeUp(900);
  if ((await m.settled(900)) !== 'running') throw new Error('the base did not settle');
  await m.installBundle();
  await sh(`test -e /usr/sbin/kclone || { printf '#!/bin/sh\\nexec /usr/sbin/kldload clone "$@"\\n' > /usr/sbin/kclone; chmod 0755 /usr/sbin/kclone; }
zfs create -o compression=zstd -o recordsize=1M -o mountpoint=${SRC} ${DS}
head -c 1073741824 /dev/urandom > ${SRC}/blob && sync`);
  const base = BASELINE ? await m.push(BASELINE, 'baseline.mjs') : undefined;
  result.ssh_call_s = r3(await calibrate());

  // One clone, ROUNDS times each; everything made is removed untimed before the next round.
  const rows: Record<string, number[]> = {
    node: [],
    // Under TCG every page of JIT-compiled code is translated again: how much does V8 without it save?
    node_jitless: [],
    bundle: [],
    dry_run: [],
    dry_run_jitless: [],
    floor: [],
    kclone: [],
    kclone_destroy: [],
    cp: [],
    ...(base ? { baseline_bundle: [], baseline_dry_run: [], baseline_kclone: [] } : {}),
  };
  for (let i = 1; i <= ROUNDS; i++) {
    rows.node?.push(await timed('node -e 0'));
    rows.node_jitless?.push(await timed('node --jitless -e 0'));
    rows.bundle?.push(await timed('kldload --version'));
    rows.dry_run?.push(await timed(`kclone --dry-run ${SRC} /srv/kb-dry`));
    rows.dry_run_jitless?.push(
      await timed(`node --jitless /usr/lib/kldload/kldload.mjs clone --dry-run ${SRC} /srv/kb-dry`),
    );
    rows.floor?.push(await timed(`zfs snapshot ${DS}@f${i} && zfs clone ${DS}@f${i} ${POOL}/srv/zf${i}`));
    await sh(`zfs destroy -R ${DS}@f${i}`);
    rows.kclone?.push(await timed(`kclone ${SRC} /srv/kb${i}`));
    rows.kclone_destroy?.push(await timed(`kclone destroy /srv/kb${i}`));
    rows.cp?.push(await timed(`cp -a ${SRC} /srv/cp${i} && sync`));
    await sh(`rm -rf /srv/cp${i} && sync`);
    if (base) {
      rows.baseline_bundle?.push(await timed(`node ${base} --version`));
      rows.baseline_dry_run?.push(await timed(`node ${base} clone --dry-run ${SRC} /srv/kb-dry`));
      rows.baseline_kclone?.push(await timed(`node ${base} clone ${SRC} /srv/kbb${i}`));
      await sh(`kclone destroy /srv/kbb${i}`);
    }
    console.log(
      `round ${i}: ${Object.entries(rows)
        .map(([k, v]) => `${k} ${v[i - 1]?.toFixed(2)}s`)
        .join(', ')}`,
    );
  }
  const med = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)])) as Record<
    string,
    number
  >;
  result.one = {
    what: 'one clone of a 1 GiB folder (1 GiB of /dev/urandom, zstd, recordsize 1M)',
    seconds: Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, v.map(r3)])),
    median_s: Object.fromEntries(Object.entries(med).map(([k, v]) => [k, r3(v)])),
    kclone_over_floor: r3((med.kclone ?? 0) / (med.floor ?? 1)),
    kclone_over_cp: r3((med.kclone ?? 0) / (med.cp ?? 1)),
    kclone_minus_bundle_start_s: r3((med.kclone ?? 0) - (med.bundle ?? 0)),
    goal: 'kclone < 1 s',
  };
  save();

  // N clones in one command against N plain zfs clones; one destroy of all against N zfs destroys.
  const dsts = `$(seq -f /srv/kb-%g ${N})`;
  const bulk = await timed(`kclone ${SRC} ${dsts}`);
  const mounted = (await sh(`findmnt -rn -o TARGET | grep -c '^/srv/kb-'`)).trim();
  if (mounted !== String(N)) throw new Error(`${mounted} of ${N} clones mounted`);
  const bulkDestroy = await timed(`kclone destroy ${dsts}`);
  await sh(`zfs snapshot ${DS}@floor`);
  const floor = await timed(
    `for i in $(seq ${N}); do zfs clone ${DS}@floor ${POOL}/srv/zb-$i || exit 1; done`,
  );
  const floorDestroy = await timed(`for i in $(seq ${N}); do zfs destroy ${POOL}/srv/zb-$i || exit 1; done`);
  await sh(`zfs destroy ${DS}@floor`);
  result.hundred = {
    clones: N,
    kclone_s: r3(bulk),
    zfs_clone_loop_s: r3(floor),
    kclone_over_floor: r3(bulk / floor),
    kclone_destroy_s: r3(bulkDestroy),
    zfs_destroy_loop_s: r3(floorDestroy),
    destroy_over_floor: r3(bulkDestroy / floorDestroy),
    goal: `${N} clones < 10 s`,
  };
});
