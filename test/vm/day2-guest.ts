/**
 * The day-2 VM tests' side of a guest: root scripts that must succeed, the booted root dataset and
 * kernel, snapshots, `kldload … --json`, and a test repository added as an apt source. Shared by the
 * README test command's day-2 scenario (test/vm) and e2e:day2 (test/vm-long).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { aptSourceLine } from '../../src/core/debian.ts';
import { evaluate, GUEST_REPORT, parseReport } from '../../src/vm/checks.ts';
import type { Machine } from '../../src/vm/machine.ts';

/** Root script in the guest that must succeed; returns stdout. */
export async function sh(m: Machine, script: string, timeoutMs = 1_200_000): Promise<string> {
  const r = await m.root(`set -euo pipefail\n${script}`, {}, timeoutMs);
  assert.equal(
    r.exitCode,
    0,
    `guest script failed (${r.exitCode}):\n${script}\n--- output:\n${r.all.slice(-4000)}`,
  );
  return r.stdout;
}

export const rootOf = async (m: Machine) => (await sh(m, 'findmnt -no SOURCE /')).trim();
export const kernelOf = async (m: Machine) => (await sh(m, 'uname -r')).trim();
/**
 * Snapshots of `ds`, oldest first. `prefix` (e.g. kpkg-): only those, as sanoid's autosnaps may
 * appear at any moment on a fresh machine (its first run takes the hourly…monthly ones).
 */
export const snapshotsOf = async (m: Machine, ds: string, prefix = '') =>
  (await sh(m, `zfs list -H -t snapshot -o name -s createtxg -d 1 ${ds}`))
    .split('\n')
    .filter((s) => s.startsWith(`${ds}@${prefix}`));

export async function kldload(m: Machine, args: string): Promise<Record<string, unknown>> {
  const out = await sh(m, `kldload ${args} --json`);
  return JSON.parse(out) as Record<string, unknown>;
}

/**
 * A test repository (a tar of it on the host) as an apt source of the guest, in the root dataset
 * (/opt: what a kupgrade chroot of the BE sees too); only its own lists are refreshed (the guest
 * has no network).
 */
export async function addRepo(m: Machine, tar: string, suite: string): Promise<void> {
  const pushed = await m.push(tar, `${suite}.tar`);
  const line = aptSourceLine({
    uri: `file:/opt/${suite}`,
    suite,
    components: ['main'],
    signedBy: `/opt/${suite}/kldload-darksite.gpg`,
  });
  await sh(
    m,
    `mkdir -p /opt/${suite} && tar -C /opt/${suite} -xf ${pushed}
echo "${line}" > /etc/apt/sources.list.d/${suite}.list
apt-get update -o Dir::Etc::sourcelist=sources.list.d/${suite}.list -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0`,
  );
}

/** A regular expression matching `s` literally. */
export const literally = (s: string) => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));

/** Mounts a BE read-only at /run/<tag>, runs `script` there (cwd = the mount), unmounts. */
export async function inBe(m: Machine, dataset: string, script: string): Promise<string> {
  const dir = `/run/be-${dataset.replace(/[^a-z0-9]/gi, '-')}`;
  return sh(
    m,
    `mkdir -p ${dir} && mount -t zfs -o zfsutil,ro ${dataset} ${dir}
trap 'cd /; umount ${dir}' EXIT
cd ${dir}
${script}`,
  );
}

/**
 * The guest report `kldload test` reads, judged against boot environment `be` (first boot not run
 * again); kept in `file`. Returns the failed checks as "name: detail" (empty: healthy).
 */
export async function failedGuestChecks(
  m: Machine,
  o: { pool: string; be: string; password: string; file: string },
): Promise<string[]> {
  const rep = await m.root(GUEST_REPORT, { POOL: o.pool, EXTRA: "''" });
  writeFileSync(o.file, rep.stdout);
  return evaluate(parseReport(rep.stdout), {
    pool: o.pool,
    be: o.be,
    secrets: [o.password],
    postinstallRuns: 1,
  })
    .filter((c) => !c.ok)
    .map((c) => `${c.name}: ${c.detail}`);
}
