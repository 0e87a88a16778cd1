/**
 * A plan is data: ordered, named steps of actions. Planners are pure (answers + facts → plan), so a
 * plan can be printed (--dry-run), golden-tested, and then applied by the one executor.
 */
export type Action =
  | {
      kind: 'run';
      argv: string[];
      /** Run inside the target root (chroot). */
      chroot?: boolean;
      /** stdin; when secret it is shown as <redacted> and never logged. */
      input?: string;
      secretInput?: boolean;
      /** Skip the command when this probe succeeds (what makes the step idempotent). */
      unless?: string[];
      /** Failure is tolerated (best-effort cleanup). */
      mayFail?: boolean;
      /** A long command: its progress lines reach the console (throttled), not only the log. */
      progress?: boolean;
    }
  /** `from | to` (pipefail): a stream between two commands, e.g. zfs send | zfs receive. */
  | { kind: 'pipe'; from: string[]; to: string[]; progress?: boolean; unless?: string[] }
  | { kind: 'write'; path: string; content: string; mode?: number; secret?: boolean }
  | { kind: 'mkdir'; path: string; mode?: number }
  | { kind: 'copy'; from: string; to: string }
  | { kind: 'check'; check: CheckName; args: Record<string, unknown>; why: string }
  /** Prepend an uncompressed cpio holding `files` (archive path → source file) to an initrd. */
  | { kind: 'initrd-early'; initrd: string; files: Record<string, string> }
  /** Remove the early segment initrd-early put there (this machine's hostid and zpool.cache), if any. */
  | { kind: 'initrd-strip'; initrd: string };

/** Checks are code, not commands: they inspect the live system and refuse with a clear message. */
export type CheckName = 'uefi' | 'disk-safe' | 'zfs-loads';

export interface Step {
  name: string;
  /** One line: what the step achieves, for the plan and the log. */
  title: string;
  actions: Action[];
}

export interface Plan {
  /** Facts the plan was made from (no secrets). */
  facts: Record<string, unknown>;
  steps: Step[];
  /** Run on failure after partitioning began: unmount, release the pool, leave a re-runnable disk. */
  cleanup: Action[];
}

export const run = (
  argv: string[],
  extra: Omit<Extract<Action, { kind: 'run' }>, 'kind' | 'argv'> = {},
): Action => ({
  kind: 'run',
  argv,
  ...extra,
});
export const inTarget = (
  argv: string[],
  extra: Omit<Extract<Action, { kind: 'run' }>, 'kind' | 'argv'> = {},
): Action => run(argv, { chroot: true, ...extra });
export const pipe = (from: string[], to: string[], progress = false): Action => ({
  kind: 'pipe',
  from,
  to,
  ...(progress ? { progress } : {}),
});
export const write = (path: string, content: string, mode?: number): Action => ({
  kind: 'write',
  path,
  content,
  ...(mode !== undefined ? { mode } : {}),
});

/** Human rendering for --dry-run: every command and every file, secrets redacted. */
export function renderPlan(plan: Plan, root: string): string {
  const out: string[] = [];
  plan.steps.forEach((s, i) => {
    out.push(`[${i + 1}/${plan.steps.length}] ${s.name}: ${s.title}`);
    for (const a of s.actions) out.push(`    ${renderAction(a, root)}`);
  });
  out.push('[on failure] cleanup:');
  for (const a of plan.cleanup) out.push(`    ${renderAction(a, root)}`);
  return out.join('\n');
}

export function renderAction(a: Action, root: string): string {
  switch (a.kind) {
    case 'run': {
      const cmd = `${a.chroot ? `chroot ${root} ` : ''}${a.argv.map(shq).join(' ')}`;
      const stdin = a.input === undefined ? '' : a.secretInput ? ' <<< <redacted>' : ` <<< ${shq(a.input)}`;
      const unless = a.unless ? `  # unless: ${a.unless.map(shq).join(' ')}` : '';
      return `$ ${cmd}${stdin}${a.mayFail ? ' || true' : ''}${unless}`;
    }
    case 'write': {
      const body = a.secret ? '<redacted>' : a.content.trimEnd().split('\n').join('\n        | ');
      return `write ${a.path}${a.mode !== undefined ? ` (mode ${a.mode.toString(8)})` : ''}\n        | ${body}`;
    }
    case 'pipe':
      return `$ ${a.from.map(shq).join(' ')} | ${a.to.map(shq).join(' ')}${a.unless ? `  # unless: ${a.unless.map(shq).join(' ')}` : ''}`;
    case 'mkdir':
      return `mkdir -p ${a.path}`;
    case 'copy':
      return `copy ${a.from} → ${a.to}`;
    case 'check':
      return `check ${a.check} ${JSON.stringify(a.args)}: ${a.why}`;
    case 'initrd-early':
      return `prepend early cpio {${Object.entries(a.files)
        .map(([k, v]) => `${k} ← ${v}`)
        .join(', ')}} to ${a.initrd}`;
    case 'initrd-strip':
      return `strip the early hostid/zpool.cache cpio from ${a.initrd}`;
  }
}

export function shq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
