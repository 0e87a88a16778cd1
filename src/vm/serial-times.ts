/**
 * Times read from an install's serial log, whose every line starts with the host's seconds since the
 * emulator started (runVm): the live system's boot, up to the installer's first step, and the
 * installer's own steps. The host clock is used because a TCG guest's clock drifts under load.
 */
export interface LiveBoot {
  /** Kernel start → the live root's /sbin/init is run (firmware excluded): initramfs + live-boot. */
  initramfs: number;
  /** → systemd's first line of its own: loading systemd from the medium's squashfs. */
  initExec: number;
  /** → kldload-installer.service starts: systemd up to basic.target. */
  systemd: number;
  /** → the installer's first step: node starts the bundle and reads the machine's facts. */
  installerStart: number;
  /** Kernel start → first step. */
  total: number;
}

export interface InstallTimes {
  /** The installer's own figure (KLDLOAD-INSTALL-OK seconds=). */
  install: number;
  /** The base-os step: a plain unsquashfs of the target image, the floor install is compared with. */
  unsquashfs: number;
  ratio: number;
  /** Seconds of each installer step (`<step> done in Ns`). */
  steps: Record<string, number>;
  /** Absent when a mark is missing from the log (a log cut short, another kernel's wording). */
  liveBoot?: LiveBoot;
}

const r1 = (x: number) => Math.round(x * 10) / 10;

/** Host seconds of the first line matching RE. */
function mark(lines: string[], re: RegExp): number | undefined {
  for (const line of lines)
    if (re.test(line)) {
      const t = /^\s*(\d+(?:\.\d+)?) /.exec(line)?.[1];
      if (t !== undefined) return Number(t);
    }
  return undefined;
}

export function installTimes(serial: string): InstallTimes {
  const steps: Record<string, number> = {};
  for (const m of serial.matchAll(
    /^\s*[\d.]+ (?:\[[^\]]*\] )?(?:node\[\d+\]: )?\s+(\S+) done in ([\d.]+)s$/gm,
  ))
    if (m[1] && m[2]) steps[m[1]] = Number(m[2]);
  const install = Number(/KLDLOAD-INSTALL-OK .*seconds=(\d+)/.exec(serial)?.[1] ?? Number.NaN);
  const unsquashfs = steps['base-os'] ?? Number.NaN;
  const lines = serial.split('\n');
  const marks = [
    mark(lines, /\] Linux version /),
    // The kernel's line at the exec of the real root's init (Debian kernels build TOMOYO in).
    mark(lines, /Mandatory Access Control|Run \/sbin\/init as init process/),
    mark(lines, /systemd\[1\]: /),
    mark(lines, /Starting .*kldload-installer\.service/),
    mark(lines, /==> \[1\/\d+\]/),
  ];
  const [k, i, s, u, f] = marks;
  const liveBoot =
    k !== undefined && i !== undefined && s !== undefined && u !== undefined && f !== undefined
      ? {
          initramfs: r1(i - k),
          initExec: r1(s - i),
          systemd: r1(u - s),
          installerStart: r1(f - u),
          total: r1(f - k),
        }
      : undefined;
  return {
    install,
    unsquashfs,
    ratio: Math.round((install / unsquashfs) * 100) / 100,
    steps,
    ...(liveBoot ? { liveBoot } : {}),
  };
}

/** One line for logs: where the live system's boot went. */
export function renderLiveBoot(b: LiveBoot): string {
  return (
    `live boot ${b.total}s from kernel start to the installer's first step: initramfs ${b.initramfs}s, ` +
    `systemd loaded from the medium ${b.initExec}s, systemd to the installer ${b.systemd}s, ` +
    `installer start ${b.installerStart}s`
  );
}
