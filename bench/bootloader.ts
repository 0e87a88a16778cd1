/**
 * Where the install's `bootloader` step goes (issue 16): in a booted installed machine (TCG, the
 * same guest the installer's chroot runs in), each part of the step timed on its own, the whole
 * `kernel-install add` against its floor (copying kernel + initrd to the FAT ESP, synced).
 * Rows (medians of ROUNDS, timed on the host around one ssh call minus an empty one):
 *   bootctl            bootctl install --esp-path=/boot/efi --no-variables --graceful
 *   kernel-install     kernel-install add VERSION KERNEL INITRD (every plugin)
 *   plugin <name>      KERNEL_INSTALL_PLUGINS=<that plugin> kernel-install add …
 *   lsinitramfs        lsinitramfs INITRD (what the ZFS guard's check reads)
 *   copy-floor         cp KERNEL INITRD to the ESP + sync
 *   node-start         node -e 0 (what the ESP sync plugin starts, several disks only)
 *
 *   node --import tsx bench/bootloader.ts [WORKDIR] [ROUNDS]
 *
 * WORKDIR is a `kldload test` workdir (target.qcow2, id_ed25519); default: the newest under the
 * cache. Its disk after first boot (boot.qcow2), else the installed one, is used through an overlay. Writes bench/results/bootloader-<stamp>.json.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { utcStamp } from '../src/live/facts.ts';
import { renderBoots } from '../src/vm/machine.ts';
import { day2Guest, median, r3 } from './guest.ts';
import { newestRunDir } from './runs.ts';

const src =
  process.argv[2] ??
  newestRunDir('target.qcow2', ['id_ed25519'], { depth: 2, hint: 'run kldload test (or npm test) first' });
const ROUNDS = Number(process.argv[3] ?? 3);
const stamp = utcStamp();
// boot.qcow2 (the disk after its first boot) when there is one: no first boot to sit through.
const base = existsSync(join(src, 'boot.qcow2')) ? 'boot.qcow2' : 'target.qcow2';
const { m, sh, timed, calibrate } = await day2Guest(src, 'bootloader-bench-', stamp, base);
const result: Record<string, unknown> = {
  bench: 'bootloader',
  stamp,
  source: join(src, base),
  rounds: ROUNDS,
};
const out = join('bench/results', `bootloader-${stamp}.json`);
const save = () => {
  mkdirSync('bench/results', { recursive: true });
  writeFileSync(out, `${JSON.stringify({ ...result, boots: renderBoots(m.boots) }, null, 1)}\n`);
};

const V = 'V=$(uname -r); K=/boot/vmlinuz-$V; I=/boot/initrd.img-$V';
let failure: string | undefined;
try {
  await m.mustBeUp(900);
  await m.settled(900);
  result.ssh_floor_s = r3(await calibrate());
  const facts = await sh(`${V}
echo "kernel=$V"
echo "kernel_bytes=$(stat -c %s "$K")"
echo "initrd_bytes=$(stat -c %s "$I")"
echo "initrd_format=$(file -b "$I" | cut -c1-60)"
echo "plugins=$(ls /usr/lib/kernel/install.d /etc/kernel/install.d 2>/dev/null | grep '\\.install$' | sort -u | tr '\\n' ' ')"`);
  result.facts = Object.fromEntries(
    facts
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const plugins = String((result.facts as Record<string, string>).plugins ?? '')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  const rows: Record<string, string> = {
    bootctl: 'bootctl install --esp-path=/boot/efi --no-variables --graceful',
    'kernel-install': `${V}; kernel-install add "$V" "$K" "$I"`,
    lsinitramfs: `${V}; lsinitramfs "$I"`,
    'copy-floor': `${V}; d=/boot/efi/kl-bench; mkdir -p $d; cp "$K" "$I" $d/; sync -f $d; rm -rf $d; sync -f /boot/efi`,
    'node-start': 'node -e 0',
  };
  // One plugin at a time (kernel-install runs only those KERNEL_INSTALL_PLUGINS names); /etc wins.
  for (const p of plugins)
    rows[`plugin ${p}`] =
      `${V}; p=/etc/kernel/install.d/${p}; [ -e $p ] || p=/usr/lib/kernel/install.d/${p}; KERNEL_INSTALL_PLUGINS=$p kernel-install add "$V" "$K" "$I"`;
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(rows).map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++)
    for (const [name, cmd] of Object.entries(rows)) times[name]?.push(await timed(cmd));
  const med = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, r3(median(v))]));
  result.seconds = med;
  result.runs = times;
  const ki = med['kernel-install'] ?? 0;
  const floor = med['copy-floor'] ?? 0;
  result.kernel_install_over_copy_floor = floor ? r3(ki / floor) : null;
  for (const [k, v] of Object.entries(med)) console.log(`${k.padEnd(40)} ${v.toFixed(2)} s`);
  console.log(`kernel-install / copy floor: ${result.kernel_install_over_copy_floor}×`);
} catch (e) {
  failure = e instanceof Error ? e.message : String(e);
  result.error = failure;
} finally {
  save();
  await m.stop();
}
console.log(`results: ${out}`);
if (failure) {
  console.error(failure);
  process.exit(1);
}
