import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KldloadError, tail } from '../core/errors.ts';
import type { Executor, RunResult } from '../core/exec.ts';
import type { Logger } from '../core/log.ts';
import { sleep } from '../core/time.ts';
import { bundleChunks, TARGET } from '../layout.ts';
import { type Drive, driveArgs, PASSPHRASE_PROMPT, TARGET_SERIAL } from './drives.ts';
import { guestRoot, sshOpts, waitForSsh } from './guest-ssh.ts';
import { freePort, ovmfArgs, QEMU_BASE, runVm, type VmOutcome } from './qemu.ts';

export interface MachineOptions {
  /** The installed disk (qcow2); every boot of this machine runs on it. */
  disk: string;
  /** All its disks when it has several (a mirror, a raidz, or one left of a mirror); default: disk alone. */
  drives?: Drive[];
  /** The pool's passphrase, typed at the initramfs prompt over the serial console on every boot. */
  passphrase?: string;
  workDir: string;
  /** Prefix of the serial logs and of the EFI variables file. */
  name: string;
  key: string;
  user: string;
  password: string;
  memoryMiB?: number;
  /**
   * writeback (default): a kill looks like a power cut to the guest without corrupting the image.
   * unsafe: faster, for disks nobody pulls the plug on.
   */
  cache?: 'writeback' | 'unsafe';
  /** Also forward this host port to the guest's port 80. */
  webPort?: number;
  /**
   * Private links to other guests: one NIC each, a QEMU dgram socket on 127.0.0.1 (this guest's
   * UDP port, the peer's). Nothing is routed to the host's network.
   */
  links?: Link[];
  /** Safety net for one QEMU process; the bounded waits below are what normally end a stuck boot. */
  processLimitSec?: number;
  log?: Logger;
}

export interface Link {
  /** The NIC's MAC address (the guest finds its interface by it). */
  mac: string;
  localPort: number;
  remotePort: number;
}

/** QEMU arguments of private links: dgram sockets between two guests through 127.0.0.1. */
export function linkArgs(links: readonly Link[]): string[] {
  return links.flatMap((l, i) => [
    '-netdev',
    `dgram,id=link${i},local.type=inet,local.host=127.0.0.1,local.port=${l.localPort},remote.type=inet,remote.host=127.0.0.1,remote.port=${l.remotePort}`,
    '-device',
    `virtio-net-pci,netdev=link${i},mac=${l.mac}`,
  ]);
}

/** One start of QEMU on the machine's disk, and how the boot before it ended. */
export interface BootRecord {
  n: number;
  /** Why this boot happened: 'first boot', 'reboot check', 'reboot 3', 'power cut'… */
  phase: string;
  serialLog: string;
  /** reboot: seconds from `systemctl reboot` until QEMU exited (the guest shut down). */
  downSec?: number;
  /** Seconds from QEMU's start until ssh answered (undefined: not waited for, or never). */
  upSec?: number;
  /** The guest kernel died of the emulator (qemu.ts emulatorFault) and the boot was started again. */
  emulatorFault?: string;
}

/** A boot that did not come back in its bound: names the phase and the serial log, with its tail. */
export class BootError extends KldloadError {
  constructor(phase: string, what: string, serialLog: string) {
    const last = existsSync(serialLog) ? tail(readFileSync(serialLog, 'utf8'), 15) : '(no serial log)';
    super(`${phase}: ${what}; serial log ${serialLog}, last lines:\n${last}`);
    this.name = 'BootError';
  }
}

/**
 * An installed disk booted under OVMF with ssh forwarded to 127.0.0.1. QEMU runs with -no-reboot:
 * a guest reset ends the process instead of going back through the firmware (under TCG a warm reset
 * was seen to spin in OVMF forever), and `reboot` starts a fresh QEMU on the same disk and the same
 * EFI variables file, where one-shot entries and boot counting live.
 */
export class Machine {
  readonly boots: BootRecord[] = [];
  readonly ssh: string[];
  /** Typed at the next passphrase prompts before the right one (a wrong try), one per prompt. */
  readonly typeFirst: string[] = [];
  private vm: Promise<VmOutcome> | undefined;
  private stopVm: () => void = () => undefined;
  private running = false;

  private constructor(
    private readonly exec: Executor,
    private readonly o: MachineOptions,
    readonly port: number,
  ) {
    this.ssh = sshOpts(o.key, port);
  }

  /** Starts QEMU (does not wait for ssh: call up()). */
  static async start(exec: Executor, o: MachineOptions, phase = 'boot'): Promise<Machine> {
    const m = new Machine(exec, o, await freePort());
    m.launch(phase);
    return m;
  }

  get alive(): boolean {
    return this.running;
  }

  get current(): BootRecord {
    const b = this.boots[this.boots.length - 1];
    if (!b) throw new KldloadError('machine never started');
    return b;
  }

  private launch(phase: string): void {
    const n = this.boots.length + 1;
    const serialLog = join(this.o.workDir, `${this.o.name}-${n}-serial.log`);
    this.boots.push({ n, phase, serialLog });
    const stopped = new Promise<void>((r) => {
      this.stopVm = r;
    });
    this.running = true;
    const fwd = `hostfwd=tcp:127.0.0.1:${this.port}-:22${this.o.webPort ? `,hostfwd=tcp:127.0.0.1:${this.o.webPort}-:80` : ''}`;
    this.o.log?.info(
      `${phase}: booting ${this.o.disk}; ssh on 127.0.0.1:${this.port}; serial → ${serialLog}`,
    );
    this.vm = runVm(this.exec, {
      args: [
        ...QEMU_BASE,
        '-m',
        String(this.o.memoryMiB ?? 2048),
        '-no-reboot',
        ...ovmfArgs(join(this.o.workDir, `${this.o.name}-vars.fd`)),
        ...driveArgs(
          this.o.drives ?? [{ file: this.o.disk, serial: TARGET_SERIAL }],
          this.o.cache ?? 'writeback',
        ),
        '-nic',
        `user,model=virtio-net-pci,${fwd}`,
        ...linkArgs(this.o.links ?? []),
      ],
      serialLog,
      timeoutSec: this.o.processLimitSec ?? 4 * 3600,
      stopWhen: stopped,
      ...(this.o.passphrase !== undefined
        ? {
            prompts: [
              { pattern: PASSPHRASE_PROMPT, reply: () => this.typeFirst.shift() ?? this.o.passphrase },
            ],
          }
        : {}),
    }).finally(() => {
      this.running = false;
    });
  }

  /** Waits until ssh answers, at most timeoutSec; false if QEMU ended or the time ran out. */
  async up(timeoutSec: number): Promise<boolean> {
    const t0 = Date.now();
    const ok = await waitForSsh(this.exec, this.ssh, this.o.user, t0 + timeoutSec * 1000, () => this.running);
    if (ok && this.current.upSec === undefined) this.current.upSec = (Date.now() - t0) / 1000;
    return ok;
  }

  /**
   * Like up(), but a boot that does not come back is killed and reported with its serial log.
   * `resets`: how many times the guest may reset itself on the way (a failed boot that falls back,
   * e.g. panic= in the initramfs); QEMU ends on a reset (-no-reboot) and is started again, as the
   * machine's own firmware would. All of it within timeoutSec.
   */
  async mustBeUp(timeoutSec: number, resets = 0): Promise<void> {
    const until = Date.now() + timeoutSec * 1000;
    let left = resets;
    // One boot killed by the emulator (not the guest's software) is started again, and said so.
    let faults = 1;
    for (;;) {
      if (await this.up(Math.max(1, (until - Date.now()) / 1000))) return;
      if (!this.running && Date.now() < until) {
        const end = await this.vm;
        if (end?.end === 'exit' && left > 0) {
          left--;
          this.launch(`${this.current.phase}, after the guest reset itself`);
          continue;
        }
        if (end?.emulatorFault && faults > 0) {
          faults--;
          this.current.emulatorFault = end.emulatorFault;
          this.o.log?.info(`${this.current.phase}: ${end.emulatorFault}; starting the boot again`);
          this.launch(`${this.current.phase}, again after an emulator fault`);
          continue;
        }
      }
      break;
    }
    const why = this.running ? `no ssh within ${timeoutSec}s` : 'QEMU ended before ssh answered';
    const end = await this.stop();
    throw new BootError(
      this.current.phase,
      `${why}${end.end === 'fail-pattern' ? ` (${end.pattern})` : ''}`,
      this.current.serialLog,
    );
  }

  /** Root shell in the guest: stdout, stderr and exit code of a bash script. */
  root(script: string, env: Record<string, string> = {}, timeoutMs?: number): Promise<RunResult> {
    return guestRoot(this.exec, this.ssh, this.o.user, this.o.password, script, env, timeoutMs);
  }

  /**
   * Waits for the end of boot (first-boot service included) in short ssh calls: one long `--wait`
   * would outlive guestRoot's own timeout on a slow first boot. Returns the last state seen.
   */
  async settled(timeoutSec: number): Promise<string> {
    const until = Date.now() + timeoutSec * 1000;
    let state = '';
    while (Date.now() < until && this.running) {
      const st = await this.root('timeout 60 systemctl is-system-running --wait', {}, 90_000);
      state = st.stdout.trim();
      if (!/^(starting|initializing)?$/.test(state)) break;
      await sleep(10_000);
    }
    return state;
  }

  /**
   * Reboots the guest and waits for ssh. The guest's reset ends QEMU (-no-reboot); a guest that does
   * not go down within downSec is killed, one that does not come back within upSec too, and either
   * failure names the phase and the serial log. Returns the record of the new boot.
   */
  async reboot(
    phase: string,
    o: { downSec?: number; upSec: number; command?: string; resets?: number },
  ): Promise<BootRecord> {
    await this.down(o.command ?? 'systemctl reboot', o.downSec ?? 300);
    const before = this.current;
    this.launch(phase);
    await this.mustBeUp(o.upSec, o.resets);
    const b = this.current;
    this.o.log?.info(
      `${phase}: down in ${before.downSec?.toFixed(1)}s, ssh after ${b.upSec?.toFixed(1)}s (${b.serialLog})`,
    );
    return b;
  }

  /** Shuts the guest down cleanly (QEMU exits); a guest that does not go down in time is killed and named. */
  async powerOff(downSec = 300): Promise<void> {
    await this.down('systemctl poweroff', downSec);
  }

  /**
   * Runs `command` (a reboot or power-off) as root and waits for QEMU to exit: with -no-reboot a
   * reset ends the process too. Records how long the guest took to go down.
   */
  private async down(command: string, downSec: number): Promise<void> {
    const t0 = Date.now();
    const before = this.current;
    // ssh may be cut by the shutdown itself: its exit code says nothing.
    await this.root(command, {}, 60_000);
    const exited = await within(this.vm, downSec);
    if (!exited) {
      await this.stop();
      throw new BootError(
        before.phase,
        `the guest did not go down within ${downSec}s of '${command}'`,
        before.serialLog,
      );
    }
    before.downSec = (Date.now() - t0) / 1000;
  }

  /** Copies a host file into the guest user's home (scp with the machine's key), returns the guest path. */
  async push(local: string, name: string): Promise<string> {
    await this.exec.run([
      'scp',
      ...this.ssh.map((x) => (x === '-p' ? '-P' : x)),
      local,
      `${this.o.user}@127.0.0.1:${name}`,
    ]);
    return `/home/${this.o.user}/${name}`;
  }

  /**
   * Replaces the guest's kldload bundle (TARGET.bundle and its chunks) with a built one: `dist`'s
   * kldload.mjs and chunks/ (scripts/bundle.mjs), as one tar through scp. The old chunks go first.
   */
  async installBundle(dist = 'dist'): Promise<void> {
    const tar = join(this.o.workDir, 'kldload-bundle.tar');
    await this.exec.run(['tar', '-C', dist, '-cf', tar, 'kldload.mjs', 'chunks']);
    const remote = await this.push(tar, 'kldload-bundle.tar');
    const r = await this.root(
      `set -e; rm -rf ${bundleChunks(TARGET.bundle)}; tar -C ${TARGET.libDir} --no-same-owner -xf ${remote}; chmod -R u=rwX,go=rX ${TARGET.bundle} ${bundleChunks(TARGET.bundle)}; rm -f ${remote}`,
    );
    if (r.exitCode !== 0)
      throw new KldloadError(`installing the bundle in the guest failed: ${tail(r.all, 10)}`);
  }

  /** Copies a guest file (readable by the guest user) to the host (scp with the machine's key). */
  async pull(remote: string, local: string): Promise<void> {
    await this.exec.run([
      'scp',
      ...this.ssh.map((x) => (x === '-p' ? '-P' : x)),
      `${this.o.user}@127.0.0.1:${remote}`,
      local,
    ]);
  }

  /** Pulls the plug (QEMU killed: unflushed guest writes are lost) and powers on again. */
  async powerCut(phase: string): Promise<BootRecord> {
    await this.stop();
    this.launch(phase);
    return this.current;
  }

  /** Stops QEMU (killed); resolves with how the last run ended. */
  async stop(): Promise<VmOutcome> {
    this.stopVm();
    const vm = this.vm;
    if (!vm) throw new KldloadError('machine never started');
    return vm;
  }
}

/** true if `p` settled within `sec` seconds; the timer is cleared either way (no lingering wait). */
async function within(p: Promise<unknown> | undefined, sec: number): Promise<boolean> {
  const ac = new AbortController();
  try {
    return await Promise.race([
      (p ?? Promise.resolve()).then(() => true),
      sleep(sec * 1000, ac.signal).then(() => false),
    ]);
  } finally {
    ac.abort();
  }
}

/** One line per boot for test logs: which reboot took how long. */
export function renderBoots(boots: BootRecord[]): string[] {
  return boots.map(
    (b) =>
      `boot ${b.n} (${b.phase}): ${b.upSec === undefined ? 'no ssh' : `ssh after ${b.upSec.toFixed(0)}s`}${b.downSec === undefined ? '' : `, then down in ${b.downSec.toFixed(0)}s`}${b.emulatorFault ? `, ${b.emulatorFault}` : ''} — ${b.serialLog}`,
  );
}
