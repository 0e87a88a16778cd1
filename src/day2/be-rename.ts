/** kbe rename: a BE's dataset, its identity inside it, its entries on the ESP and the loader's variables. */
import { EXIT, KldloadError } from '../core/errors.ts';
import { type Action, type Plan, run, type Step, write } from '../core/plan.ts';
import { zfs } from '../zfs/zfs.ts';
import { beMountDir, cleanupMount, entriesOf, existingBe } from './be.ts';
import { type BootFacts, beDataset, checkBeName, idOf } from './be-entry.ts';
import { type MountFact, mountsOf } from './be-mount.ts';
import { bootEspSync } from './esp.ts';

/** LoaderEntryDefault / LoaderEntryOneShot as the loader has them (entry ids). */
export interface LoaderVars {
  default?: string;
  oneshot?: string;
}

/** `kldload-OLD<rest>` (kbe's entry, or kernel-install's with the BE's entry token) → `kldload-NEW<rest>`. */
function renamedFile(file: string, from: string, to: string): string {
  const p = `kldload-${from}`;
  return file.startsWith(p) && /^[+.-]/.test(file.slice(p.length))
    ? `kldload-${to}${file.slice(p.length)}`
    : file;
}

/** An entry of the renamed BE: root=ZFS= of its options, its kernel-install folder, kbe's title. */
export function renameEntry(text: string, f: BootFacts, from: string, to: string): string {
  const [oldDs, newDs] = [beDataset(f, from), beDataset(f, to)];
  return text
    .split('\n')
    .map((line) => {
      const m = /^(\s*)(\w+)(\s+)(.*)$/.exec(line);
      if (!m) return line;
      const [, indent = '', key = '', gap = '', value = ''] = m;
      const put = (v: string) => `${indent}${key}${gap}${v}`;
      if (key === 'options')
        return put(
          value
            .split(/(\s+)/)
            .map((w) => (w === `root=ZFS=${oldDs}` ? `root=ZFS=${newDs}` : w))
            .join(''),
        );
      if ((key === 'linux' || key === 'initrd') && value.startsWith(`/kldload-${from}/`))
        return put(`/kldload-${to}/${value.slice(`/kldload-${from}/`.length)}`);
      if (key === 'title' && value.endsWith(`(BE ${from})`))
        return put(`${value.slice(0, -`(BE ${from})`.length)}(BE ${to})`);
      return line;
    })
    .join('\n');
}

/**
 * kbe rename OLD NEW: never the running BE, nor a mounted one (zfs rename would remount it at its
 * mountpoint, /). The dataset is renamed (the pool's bootfs follows by itself: zfs keeps it as an
 * object number, not a name); inside it, root=ZFS= of /etc/kernel/cmdline and, for a BE kbe made,
 * /etc/kernel/entry-token, so later kernel updates there write entries for NEW; on the ESP its entries
 * (kldload-OLD… → kldload-NEW…, root=ZFS=) and its kernel-install folder; then the loader's default
 * and one-shot entry when they named it.
 */
export function planBeRename(
  f: BootFacts,
  mounts: readonly MountFact[],
  loader: LoaderVars,
  from: string,
  to: string,
): Plan {
  const oldDs = existingBe(f, from);
  checkBeName(to);
  const newDs = beDataset(f, to);
  if (from === to) throw new KldloadError(`${from} → ${to}: the same name`, EXIT.badInput);
  if (oldDs === f.booted)
    throw new KldloadError(
      `${from} is the running boot environment; boot another one (kbe activate --once NAME, reboot) to rename it`,
      EXIT.badInput,
    );
  if (f.bes.includes(newDs))
    throw new KldloadError(`boot environment ${to} exists (${newDs}); choose another name`, EXIT.badInput);
  const at = mountsOf(mounts, oldDs);
  if (at.length)
    throw new KldloadError(`${from} is mounted at ${at.join(', ')}; kbe umount ${from} first`, EXIT.badInput);
  const entries = entriesOf(f, from);
  const renamed = entries.map((e) => {
    if (e.text === undefined)
      throw new KldloadError(`boot entry ${e.file}: its text was not read; cannot rewrite it`, EXIT.failed);
    return { old: e, file: renamedFile(e.file, from, to), text: renameEntry(e.text, f, from, to) };
  });
  // kbe made it (its entry is kldload-OLD…) and gave it an entry token; the installer's BE has none
  // (kernel-install then uses the machine id) and keeps it that way.
  const kbeMade = entries.some((e) => renamedFile(e.file, from, to) !== e.file);
  const ownDir = entries.some((e) => e.files.some((p) => p.startsWith(`/kldload-${from}/`)));
  const mnt = beMountDir(to);
  const espPath = f.esp.path;
  const ids = new Map(renamed.map((r) => [r.old.id, idOf(r.file)]));
  const loaderActions: Action[] = [];
  const moved = (id?: string) => (id && ids.get(id) !== id ? ids.get(id) : undefined);
  const dflt = moved(loader.default);
  const once = moved(loader.oneshot);
  if (dflt) loaderActions.push(run(['bootctl', `--esp-path=${espPath}`, 'set-default', dflt]));
  if (once) loaderActions.push(run(['bootctl', `--esp-path=${espPath}`, 'set-oneshot', once]));
  const steps: Step[] = [
    {
      name: 'rename',
      title: `${oldDs} → ${newDs} (the pool's bootfs follows by itself)`,
      actions: [run(zfs.rename(oldDs, newDs))],
    },
    {
      name: 'identity',
      title: `root=ZFS=${newDs}${kbeMade ? ` and entry token kldload-${to}` : ''} inside it, so kernel updates there write entries for ${to}`,
      actions: [
        { kind: 'mkdir', path: mnt },
        run(zfs.mountAt(newDs, mnt)),
        // Only the root= word changes: the rest of the BE's own command line is kept as it is.
        run([
          'sed',
          '-i',
          '-E',
          `s#(^|[[:space:]])root=ZFS=[^[:space:]]+#\\1root=ZFS=${newDs}#`,
          `${mnt}/etc/kernel/cmdline`,
        ]),
        ...(kbeMade ? [write(`${mnt}/etc/kernel/entry-token`, `kldload-${to}\n`)] : []),
        run(['umount', mnt]),
        run(['rmdir', mnt]),
      ],
    },
    {
      name: 'entries',
      title: renamed.length
        ? `${renamed.length} boot entr${renamed.length === 1 ? 'y' : 'ies'} of ${from} → ${to} (root=ZFS=${newDs})`
        : `${from} has no boot entry on ${espPath}; nothing to rewrite`,
      actions: [
        ...(ownDir ? [run(['mv', '-T', `${espPath}/kldload-${from}`, `${espPath}/kldload-${to}`])] : []),
        ...renamed.map((r) => write(`${espPath}/loader/entries/${r.file}`, r.text)),
        ...renamed
          .filter((r) => r.file !== r.old.file)
          .map((r) => run(['rm', '-f', `${espPath}/loader/entries/${r.old.file}`])),
      ],
    },
  ];
  if (loaderActions.length)
    steps.push({
      name: 'loader',
      title: `the loader's ${[dflt ? `default (${dflt})` : '', once ? `next boot (${once})` : ''].filter(Boolean).join(' and ')} follows the new name`,
      actions: loaderActions,
    });
  steps.push(...bootEspSync(f.esp));
  return {
    facts: { pool: f.pool, from: oldDs, to: newDs, entries: renamed.map((r) => r.file) },
    steps,
    cleanup: cleanupMount(mnt),
  };
}
