/** The install phase of the VM tests: the ISO installs onto a disk from a seed volume, no network. */
import { constants, copyFileSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Executor } from '../core/exec.ts';
import type { Logger } from '../core/log.ts';
import { SEED_LABEL } from '../layout.ts';
import { driveArgs, targetSerial } from './drives.ts';
import { ovmfArgs, QEMU_BASE, runVm } from './qemu.ts';

export interface InstallOutcome {
  ok: boolean;
  /** The installer refused or failed and said so (KLDLOAD-INSTALL-FAIL). */
  refused: boolean;
  seconds: number;
  detail: string;
  /** The first run died of the emulator and the install ran again (see installPhase). */
  emulatorFault?: string;
  serialLog: string;
}

/**
 * Boots the ISO with a seed volume holding `answersFile` and `disk` (+ `extraDisks`) as the other disks, no NIC,
 * and waits for the installer's verdict (power-off after OK, or its FAIL line). A run the emulator
 * killed (qemu.ts emulatorFault) runs once more on the disk as it was before it, with fresh EFI
 * variables; its serial log stays as `<name>-fault-serial.log`.
 */
export async function installPhase(
  exec: Executor,
  log: Logger,
  o: {
    iso: string;
    workDir: string;
    answersFile: string;
    disk: string;
    /** More disks for the pool (mirror, raidz): serials targetSerial(1), (2), … after `disk`. */
    extraDisks?: string[];
    timeoutSec: number;
    name?: string;
    /** bios: QEMU's default SeaBIOS (legacy boot), as many VM hosts and older servers still start. */
    firmware?: 'uefi' | 'bios';
    /** How the ISO is attached: an AHCI CD (ide-cd, the default) or a virtio-scsi CD. */
    cdrom?: 'ide' | 'scsi';
    /** Stop the machine at the first serial line matching this (bench:live stops at the first step). */
    until?: RegExp;
    /**
     * The web installer: no seed volume (so the live system serves the wizard) and a NIC whose
     * port 80 is forwarded to this port on 127.0.0.1; nothing else of the host is reachable.
     */
    webPort?: number;
    /** Each serial line as it comes (the web test reads the page's address from it). */
    onLine?: (line: string) => void;
    /** Stops the machine when it settles (the web test's browser part failed: no use waiting). */
    stop?: Promise<unknown>;
  },
): Promise<InstallOutcome> {
  const name = o.name ?? 'install';
  // Seed volume: a FAT image labelled KLDLOADSEED, made without mounting anything on the host.
  const seed = join(o.workDir, `${name}-seed.img`);
  await exec.run(['rm', '-f', seed]);
  if (!o.webPort) {
    await exec.run(['mkfs.vfat', '-C', '-n', SEED_LABEL, seed, '8192']);
    await exec.run(['mcopy', '-i', seed, o.answersFile, '::answers.env']);
  }
  const seedDrive = o.webPort
    ? []
    : ['-drive', `file=${seed},if=none,id=s,format=raw`, '-device', 'virtio-blk-pci,drive=s,serial=klseed'];
  const nic = o.webPort
    ? ['-nic', `user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:${o.webPort}-:80`]
    : ['-nic', 'none'];
  const serialLog = join(o.workDir, `${name}-serial.log`);
  const vars = join(o.workDir, `${name}-vars.fd`);
  // The disk before the install (blank, or prepared by a refusal test): small, kept for a second run.
  const all = [o.disk, ...(o.extraDisks ?? [])];
  const before = (i: number) => join(o.workDir, `${name}-before${i ? i + 1 : ''}.qcow2`);
  all.forEach((d, i) => {
    copyFileSync(d, before(i), constants.COPYFILE_FICLONE);
  });
  const cdrom =
    o.cdrom === 'scsi'
      ? ['-device', 'virtio-scsi-pci,id=scsi0', '-device', 'scsi-cd,bus=scsi0.0,drive=cd,bootindex=0']
      : ['-device', 'ide-cd,drive=cd,bootindex=0'];
  const boot = async () => {
    log.info(
      `${name}: booting ${o.iso} (TCG, ${o.webPort ? `web installer on 127.0.0.1:${o.webPort}` : 'no network'}); serial → ${serialLog}`,
    );
    let reached: () => void = () => {};
    const until = new Promise<void>((res) => {
      reached = res;
    });
    let okLine = false;
    const r = await runVm(exec, {
      args: [
        ...QEMU_BASE,
        '-m',
        '3072',
        ...nic,
        '-no-reboot',
        ...(o.firmware === 'bios' ? [] : ovmfArgs(vars)),
        '-drive',
        `file=${resolve(o.iso)},media=cdrom,readonly=on,if=none,id=cd`,
        ...cdrom,
        ...driveArgs(
          [o.disk, ...(o.extraDisks ?? [])].map((file, i) => ({ file, serial: targetSerial(i) })),
          'unsafe',
          ',discard=unmap',
        ),
        ...seedDrive,
      ],
      serialLog,
      timeoutSec: o.timeoutSec,
      ...(o.until || o.stop
        ? { stopWhen: Promise.race([...(o.until ? [until] : []), ...(o.stop ? [o.stop] : [])]) }
        : {}),
      onLine: (l) => {
        o.onLine?.(l);
        if (o.until?.test(l)) reached();
        if (/KLDLOAD-INSTALL-OK/.test(l)) okLine = true;
        if (/==> \[\d+\/\d+\]|KLDLOAD-INSTALL|done in|: KLDLOAD_/.test(l)) log.info(`  guest: ${l.trim()}`);
      },
    });
    return { r, ok: okLine && r.end === 'exit' };
  };
  let { r, ok } = await boot();
  let seconds = r.seconds;
  const fault = ok ? undefined : r.emulatorFault;
  if (fault) {
    log.info(`${name}: ${fault}; installing again on the disk as it was`);
    renameSync(serialLog, join(o.workDir, `${name}-fault-serial.log`));
    all.forEach((d, i) => {
      copyFileSync(before(i), d);
    });
    rmSync(vars, { force: true });
    ({ r, ok } = await boot());
    seconds += r.seconds;
  }
  all.forEach((_, i) => {
    rmSync(before(i), { force: true });
  });
  const refused = r.end === 'fail-pattern' && /KLDLOAD-INSTALL-FAIL/.test(r.pattern ?? '');
  return {
    ok,
    refused,
    seconds,
    detail: `${r.end}${r.pattern ? `: ${r.pattern}` : ''}${fault ? `, again after an emulator fault (${fault})` : ''}`,
    ...(fault ? { emulatorFault: fault } : {}),
    serialLog,
  };
}
