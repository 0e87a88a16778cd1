/**
 * Day 2, measured against its peers in one run on one machine (issue 15's ratios):
 * - kpkg install vs plain apt-get install of the same package (goal ≤ 1.05× plus the snapshot). The
 *   floor is apt-get with the snapshot hook off (KLDLOAD_KPKG=1: the hook's shell test starts no
 *   node); plain apt-get as shipped (hook on) is measured too. Each round installs and removes the
 *   package; medians of ROUNDS rounds. Times are host-side minus an empty ssh call (see timed()).
 * - rollback-to-healthy-boot: `ksnap rollback` + reboot until systemd reports running, against a
 *   plain reboot of the same machine until running.
 * - kupgrade (new BE ready: clone, chroot, apt, initramfs, entry) vs an in-place
 *   `apt-get full-upgrade` of the same change (kl-probe 1.0 → 2.0) on the running system.
 *
 *   npm run bench:day2 [-- DAY2_WORKDIR] [ROUNDS]
 *
 * DAY2_WORKDIR is an `npm run e2e:day2` folder (base.qcow2, id_ed25519, kltest.tar, kltest2.tar);
 * default: the newest under the cache. The base disk is used through an overlay; this tree's
 * bundle (dist/kldload.mjs) replaces the guest's. Writes bench/results/day2-bench-<stamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aptSourceLine } from '../src/core/debian.ts';
import { utcStamp } from '../src/live/facts.ts';
import { renderBoots } from '../src/vm/machine.ts';
import { day2Guest, median, r3, runBench } from './guest.ts';
import { newestDay2Dir } from './runs.ts';

const POOL = 'rpool';

const src = process.argv[2] ?? newestDay2Dir(['id_ed25519', 'kltest.tar', 'kltest2.tar']);
const ROUNDS = Number(process.argv[3] ?? 5);
const stamp = utcStamp();
const { m, sh, timed, calibrate } = await day2Guest(src, 'day2-bench-', stamp);

/** Host-side seconds from the reboot command until `systemctl is-system-running` says running. */
async function rebootToRunning(phase: string, command = 'systemctl reboot'): Promise<number> {
  const t0 = Date.now();
  await m.reboot(phase, { upSec: 900, command });
  const state = await m.settled(900);
  if (state !== 'running') throw new Error(`${phase}: system ${state}`);
  return (Date.now() - t0) / 1000;
}

const result: Record<string, unknown> = { bench: 'day2', stamp, source: src, rounds: ROUNDS };
const out = join('bench/results', `day2-bench-${stamp}.json`);
const save = () => {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(out, `${JSON.stringify({ ...result, boots: renderBoots(m.boots) }, null, 1)}\n`);
};
await runBench('day2', { m, result, save, out }, async () => {
  await m.mustBeUp(900);
  if ((await m.settled(900)) !== 'running') throw new Error('the base did not settle');
  await m.installBundle();
  // Repositories: kltest (kl-probe 1.0) only as files for dpkg -i, kltest2 (kl-probe 2.0) as the
  // one added apt source, so an upgrade changes that one package and nothing else (no kernel).
  for (const suite of ['kltest', 'kltest2']) {
    const tar = await m.push(join(src, `${suite}.tar`), `${suite}.tar`);
    await sh(`mkdir -p /opt/${suite} && tar -C /opt/${suite} -xf ${tar}`);
  }
  result.ssh_call_s = r3(await calibrate());
  const line = aptSourceLine({
    uri: 'file:/opt/kltest2',
    suite: 'kltest2',
    components: ['main'],
    signedBy: '/opt/kltest2/kldload-darksite.gpg',
  });
  await sh(`echo "${line}" > /etc/apt/sources.list.d/kltest2.list
apt-get update -o Dir::Etc::sourcelist=sources.list.d/kltest2.list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0`);

  // 1. kpkg vs apt-get: the same install of kl-probe (2.0, one small .deb), removed after each.
  const rows: { floor: number[]; hook: number[]; kpkg: number[]; snapshot: number[] } = {
    floor: [],
    hook: [],
    kpkg: [],
    snapshot: [],
  };
  const rm = 'KLDLOAD_KPKG=1 apt-get remove -y kl-probe';
  for (let i = 0; i < ROUNDS; i++) {
    rows.floor.push(await timed('KLDLOAD_KPKG=1 apt-get install -y kl-probe'));
    await timed(rm);
    rows.hook.push(await timed('apt-get install -y kl-probe'));
    await timed(rm);
    rows.kpkg.push(await timed('kpkg install kl-probe'));
    await timed(rm);
    rows.snapshot.push(await timed(`zfs snapshot ${POOL}/ROOT/default@bench-${i}`));
    await sh(`zfs destroy ${POOL}/ROOT/default@bench-${i}`);
    console.log(
      `round ${i + 1}: apt-get (no hook) ${rows.floor[i]?.toFixed(2)}s, apt-get ${rows.hook[i]?.toFixed(2)}s, kpkg ${rows.kpkg[i]?.toFixed(2)}s, zfs snapshot ${rows.snapshot[i]?.toFixed(2)}s`,
    );
  }
  const floor = median(rows.floor);
  const snap = median(rows.snapshot);
  result.pkg = {
    package: 'kl-probe 2.0 (one small .deb from a local signed repository)',
    seconds: Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, v.map(r3)])),
    median_s: Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, r3(median(v))])),
    kpkg_over_apt: r3(median(rows.kpkg) / floor),
    kpkg_minus_snapshot_over_apt: r3((median(rows.kpkg) - snap) / floor),
    apt_with_hook_over_apt: r3(median(rows.hook) / floor),
    goal: 'kpkg_minus_snapshot_over_apt ≤ 1.05',
  };
  save();

  // 2. Rollback to a healthy boot vs a plain reboot, both until systemd reports running.
  const plain = await rebootToRunning('bench: plain reboot');
  const snapName = (
    await sh(
      `zfs list -H -t snapshot -o name -s createtxg -d 1 ${POOL}/ROOT/default | grep @kpkg- | tail -n1`,
    )
  ).trim();
  const t0 = Date.now();
  await sh(`ksnap rollback ${snapName} --name bench-rb >/dev/null`);
  const rollbackCmd = (Date.now() - t0) / 1000;
  const rb = rollbackCmd + (await rebootToRunning('bench: after ksnap rollback'));
  const root = (await sh('findmnt -no SOURCE /')).trim();
  if (root !== `${POOL}/ROOT/bench-rb`) throw new Error(`after rollback the root is ${root}`);
  result.rollback = {
    snapshot: snapName,
    plain_reboot_to_running_s: r3(plain),
    ksnap_rollback_command_s: r3(rollbackCmd),
    rollback_to_running_s: r3(rb),
    rollback_over_reboot: r3(rb / plain),
  };
  save();

  // 3. kupgrade (new BE ready to boot) vs the same upgrade in place.
  await sh(
    `KLDLOAD_KPKG=1 dpkg -i $(find /opt/kltest -name kl-probe_1.0_all.deb) >/dev/null && dpkg-query -W -f '\${Version}' kl-probe | grep -qx 1.0`,
  );
  const up = await timed('kupgrade --name bench-up');
  const inPlace = await timed('apt-get full-upgrade -y');
  const v = (await sh(`dpkg-query -W -f '\${Version}' kl-probe`)).trim();
  if (v !== '2.0') throw new Error(`in-place full-upgrade left kl-probe ${v}`);
  result.upgrade = {
    change: 'kl-probe 1.0 → 2.0',
    kupgrade_s: r3(up),
    in_place_full_upgrade_s: r3(inPlace),
    kupgrade_over_in_place: r3(up / inPlace),
  };
});
