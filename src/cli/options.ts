/**
 * Options several commands define the same way, made once: each factory returns a new commander
 * Option (an Option belongs to one command), added with `.addOption(…)`.
 */
import { Option } from 'commander';
import { DEFAULT_PROFILE, DEFAULT_SUITE, PROFILES, SUITES } from '../core/debian.ts';
import { type CommandResult, choice } from './output.ts';

/** How a command hands its handler to main.ts: run it, print the result (text or --json), exit. */
export type Run = (fn: () => Promise<CommandResult>, json: boolean) => void;

/** commander collector for a repeatable option (`--role a --role b` → ['a', 'b']). */
export const repeat = (v: string, acc: string[]): string[] => [...acc, v];

export const jsonOption = (help = 'machine-readable result') => new Option('--json', help);

/** --dry-run of the day-2 commands that apply a plan. */
export const dryRunOption = (help = 'print the plan and change nothing') => new Option('--dry-run', help);

export const profileOption = () =>
  new Option('--profile <name>', `package profile: ${PROFILES.join(', ')}`)
    .argParser(choice(PROFILES))
    .default(DEFAULT_PROFILE);

/** --suite, one of SUITES; `anySuite`: any name is taken (a repository is read, not built). */
export const suiteOption = (help: string, o: { anySuite?: boolean } = {}) => {
  const opt = new Option('--suite <suite>', help).default(DEFAULT_SUITE);
  return o.anySuite ? opt : opt.argParser(choice(SUITES));
};

export const mirrorOption = () =>
  new Option('--mirror <url>', 'Debian mirror (default: the host apt sources)');
