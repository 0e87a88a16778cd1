import type { Command } from 'commander';
import { type ValidateOptions, validateAnswersFile } from '../../answers/validate.ts';
import { EXIT } from '../../core/errors.ts';
import { availableRoles, librarySettings } from '../../image/role-library.ts';
import { payloadSettings } from '../../postinstall/settings.ts';
import { jsonOption, type Run, repeat } from '../options.ts';
import type { CommandResult } from '../output.ts';

/**
 * Which role settings an answers file may carry: those of the roles named (--role, with the
 * payload's own roles); with neither, every library role's.
 */
export function validateOptions(o: { role?: string[]; payload?: string }): ValidateOptions {
  const roles = o.role ?? [];
  if (!roles.length && !o.payload) return { roleSettings: librarySettings() };
  return {
    roleSettings: [...librarySettings(roles), ...(o.payload ? payloadSettings(o.payload) : [])],
    otherSettings: librarySettings(availableRoles().filter((r) => !roles.includes(r))),
  };
}

export async function answersValidate(
  file: string,
  o: { role?: string[]; payload?: string } = {},
): Promise<CommandResult> {
  const v = validateAnswersFile(file, validateOptions(o));
  // Warnings (keys that have no effect here) never fail validation; each names its key and why.
  const warnings = v.warnings.map(({ text: _t, ...w }) => w);
  const warningLines = v.warnings.map((w) => w.text);
  if (v.ok)
    return {
      exitCode: EXIT.ok,
      json: { ok: true, file, warnings },
      text: `${file}: ok${warnings.length ? ` (${warnings.length} warning${warnings.length > 1 ? 's' : ''})` : ''}`,
      warnings: warningLines,
    };
  const errors = v.errors.map(({ text: _t, ...e }) => e);
  return {
    exitCode: EXIT.badInput,
    json: { ok: false, errors, warnings },
    text: v.errors.map((e) => e.text).join('\n'),
    warnings: warningLines,
  };
}

export function answersCommand(program: Command, run: Run) {
  program
    .command('answers')
    .description('Answers files (answers.env)')
    .command('validate <file>')
    .description('Check an answers file; errors name file:line, the key, and what is allowed')
    .option(
      '--role <name>',
      'a role the ISO carries: its settings are allowed (repeatable; default: every library role)',
      repeat,
      [] as string[],
    )
    .option('--payload <dir>', "a payload folder: its roles' settings are allowed")
    .addOption(jsonOption())
    .action((file: string, o: { json?: boolean; role: string[]; payload?: string }) =>
      run(() => answersValidate(file, o), !!o.json),
    );
}
