/**
 * kldload spray against its floors, in one guest, one run (issue 14's "clones in seconds"):
 * - N (100) clones of one snapshot by `kldload spray create` (one node, one python3 process calling
 *   lzc_clone through ctypes from 100 threads), against N plain `zfs clone`s one after another, and against the
 *   same N `zfs clone` processes run 8 at a time (xargs -P 8);
 * - `kldload spray destroy` of the N against N `zfs destroy`s one after another and 8 at a time;
 * - the helper alone (python3 spray-clone.py with the job on stdin: no node start), node's own start
 *   (`node -e 0`), `kldload spray --help` (node and the spray command's modules) and
 *   `spray create --dry-run` (those and the facts, no clone), so what spray adds to the lzc_clone
 *   floor is visible;
 * - spray with --threads 1 (lzc_clone one at a time: what the threads buy).
 * Single figures are medians of ROUNDS rounds by the guest's clock around the command (inside the
 * ssh call: no ssh or sudo in it); the host-side figures (one ssh call minus the median empty one)
 * are kept beside them (`host_seconds`) as a check on the guest's clock.
 * The guest's timers are stopped first (sanoid's 15-minute snapshots, apt, logrotate …): a row
 * must not pay for them. zed stays, with this tree's drop-in (src/day2/zed.ts, which installs write):
 * the spray's own events are part of its cost.
 *
 *   npm run bench:spray [-- WORKDIR] [ROUNDS] [N]
 *
 * WORKDIR holds base.qcow2 and id_ed25519 (an `npm run e2e:day2` folder, default the newest) of an
 * image with python3 and libzfs_core.so.3 (zfsutils-linux brings both; checked first).
 * This tree's bundle (dist/kldload.mjs, `npm run bundle` first), payload/target/lib/spray-clone.py
 * and zed drop-in replace the guest's. Writes bench/results/spray-<stamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ZED_DROPIN, ZED_DROPIN_TEXT } from '../src/day2/zed.ts';
import { TARGET } from '../src/layout.ts';
import { utcStamp } from '../src/live/facts.ts';
import { renderBoots } from '../src/vm/machine.ts';
import { day2Guest, median, r3, runBench } from './guest.ts';
import { newestDay2Dir } from './runs.ts';

const POOL = 'rpool';
const DS = `${POOL}/srv/klspray`;
const SNAP = `${DS}@golden`;
const src = process.argv[2] ?? newestDay2Dir(['id_ed25519']);
const ROUNDS = Number(process.argv[3] ?? 3);
const N = Number(process.argv[4] ?? 100);
const stamp = utcStamp();
const { m, sh, timedBoth, calibrate } = await day2Guest(src, 'spray-bench-', stamp);
/**
 * Every clone and destroy is a ZFS event that zed hands to its zedlets (all-syslog.sh,
 * history_event-zfs-list-cacher.sh: a shell each) after the command returned; in a 2-vCPU TCG guest
 * that tail of forks took more CPU than the next command. Each timed row starts once no zedlet has
 * run for 3 s (at most 2 min), so it pays for its own events, not the previous row's.
 */
const zedQuiet = () =>
  sh(
    'n=0; for i in $(seq 120); do if pgrep -f /zed.d/ >/dev/null; then n=0; else n=$((n + 1)); [ $n -ge 3 ] && exit 0; fi; sleep 1; done',
  );
const rows: Record<string, number[]> = {};
const hostRows: Record<string, number[]> = {};
/** One row's figure: guest seconds in rows, the host's in hostRows. */
const time = async (name: string, command: string) => {
  await zedQuiet();
  const t = await timedBoth(command);
  rows[name] = [...(rows[name] ?? []), t.guest];
  hostRows[name] = [...(hostRows[name] ?? []), t.host];
};

const result: Record<string, unknown> = { bench: 'spray', stamp, source: src, rounds: ROUNDS, clones: N };
const out = join('bench/results', `spray-${stamp}.json`);
const save = () => {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(out, `${JSON.stringify({ ...result, boots: renderBoots(m.boots) }, null, 1)}\n`);
};
/** The plain zfs floors: N names under a mountpoint=none parent, so nothing mounts (as spray's clones). */
const names = (p: string) => `$(seq -f ${POOL}/srv/${p}/c-%g ${N})`;
const floorParent = (p: string) => `zfs create -o canmount=off -o mountpoint=none ${POOL}/srv/${p}`;
await runBench('spray', { m, result, save, out }, async () => {
  await m.mustBeUp(900);
  if ((await m.settled(900)) !== 'running') throw new Error('the base did not settle');
  const has = await sh(
    `python3 -I -S -c 'import ctypes; ctypes.CDLL("libzfs_core.so.3")' 2>&1 && echo yes || true`,
  );
  if (!has.includes('yes'))
    throw new Error(`python3 or libzfs_core.so.3 is missing in the guest: ${has.trim()}`);
  await m.installBundle();
  const h = await m.push('payload/target/lib/spray-clone.py', 'spray-clone.py');
  await sh(`mkdir -p ${dirname(ZED_DROPIN)}
cat > ${ZED_DROPIN} <<'DROPIN'
${ZED_DROPIN_TEXT}DROPIN
systemctl daemon-reload
systemctl restart zfs-zed`);
  await sh(`install -m 0755 ${h} ${TARGET.sprayHelper}
zfs create -o mountpoint=/srv/klspray ${DS}
head -c 268435456 /dev/urandom > /srv/klspray/blob && sync
zfs snapshot ${SNAP}`);
  // No timer fires during a row (a sanoid run in progress is stopped too).
  await sh(
    `systemctl stop $(systemctl list-units --type=timer --plain --no-legend | awk '{print $1}') || true
systemctl stop sanoid.service 2>/dev/null || true`,
  );
  result.ssh_call_s = r3(await calibrate());
  for (let i = 1; i <= ROUNDS; i++) {
    await time('node_e0', 'node -e 0');
    await time('spray_help', 'kldload spray --help');
    // node, the spray command's modules and its facts (zfs list beside the identity mount): no clone.
    await time('spray_dry_run', `kldload spray create dr${i} ${N} --from ${SNAP} --dry-run`);
    await time('spray', `kldload spray create sp${i} ${N} --from ${SNAP}`);
    const made = (await sh(`zfs list -H -o name -r -d 1 ${POOL}/spray/sp${i} | grep -c '/sp${i}-'`)).trim();
    if (made !== String(N)) throw new Error(`spray made ${made} of ${N} clones`);
    // The container the helper made (lzc_create) has its properties, the clones inherit them (none
    // mounted), and spray list finds it by its property.
    const props = await sh(
      `zfs get -H -o value canmount,mountpoint,org.kldload:spray ${POOL}/spray/sp${i}
zfs get -H -o value mountpoint,mounted ${POOL}/spray/sp${i}/sp${i}-${N}
kldload spray list --json | grep -c '"${POOL}/spray/sp${i}"'`,
    );
    const want = `off\nnone\n${SNAP}\nnone\nno\n1\n`;
    if (props !== want)
      throw new Error(
        `spray sp${i}: container/clone properties ${JSON.stringify(props)}, want ${JSON.stringify(want)}`,
      );
    await time('spray_destroy', `kldload spray destroy sp${i}`);
    await time('spray_threads_1', `kldload spray create one${i} ${N} --from ${SNAP} --threads 1`);
    await sh(`kldload spray destroy one${i}`);
    // The helper alone: what lzc_clone from 100 threads costs without node and the facts.
    await sh(`zfs create -o canmount=off -o mountpoint=none ${POOL}/srv/h${i}`);
    const job = JSON.stringify({
      op: 'clone',
      origin: SNAP,
      names: Array.from({ length: N }, (_, k) => `${POOL}/srv/h${i}/c-${k + 1}`),
      threads: 100,
    });
    await sh(`cat > /run/spray-job.json <<'JOB'\n${job}\nJOB`);
    await time('helper_only', `python3 -I -S ${TARGET.sprayHelper} < /run/spray-job.json`);
    await sh(`zfs destroy -r ${POOL}/srv/h${i}`);
    await sh(floorParent(`zl${i}`));
    await time('zfs_clone_loop', `for n in ${names(`zl${i}`)}; do zfs clone ${SNAP} $n || exit 1; done`);
    await time('zfs_destroy_loop', `for n in ${names(`zl${i}`)}; do zfs destroy $n || exit 1; done`);
    await sh(`zfs destroy -r ${POOL}/srv/zl${i}\n${floorParent(`zp${i}`)}`);
    await time('zfs_clone_p8', `printf '%s\\n' ${names(`zp${i}`)} | xargs -P 8 -I{} zfs clone ${SNAP} {}`);
    await time('zfs_destroy_p8', `printf '%s\\n' ${names(`zp${i}`)} | xargs -P 8 -I{} zfs destroy {}`);
    await sh(`zfs destroy -r ${POOL}/srv/zp${i}`);
    console.log(
      `round ${i}: ${Object.entries(rows)
        .map(([k, v]) => `${k} ${v[i - 1]?.toFixed(2)}s`)
        .join(', ')}`,
    );
    result.seconds = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, v.map(r3)]));
    result.host_seconds = Object.fromEntries(Object.entries(hostRows).map(([k, v]) => [k, v.map(r3)]));
    save();
  }
  const med = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, r3(median(v))])) as Record<
    string,
    number
  >;
  result.median_s = med;
  result.host_median_s = Object.fromEntries(Object.entries(hostRows).map(([k, v]) => [k, r3(median(v))]));
  result.spray_over_zfs_loop = r3((med.spray ?? 0) / (med.zfs_clone_loop ?? 1));
  result.spray_over_zfs_p8 = r3((med.spray ?? 0) / (med.zfs_clone_p8 ?? 1));
  result.goal = `${N} clones < 10 s (spray)`;
  result.goal_met = (med.spray ?? Number.POSITIVE_INFINITY) < 10;
});
