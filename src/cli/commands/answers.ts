import { payloadSettings } from '../../answers/role-settings.ts';
import { type ValidateOptions, validateAnswersFile } from '../../answers/validate.ts';
import { availableRoles, librarySettings } from '../../build/roles.ts';
import { EXIT } from '../../core/errors.ts';
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
  if (v.ok) return { exitCode: EXIT.ok, json: { ok: true, file }, text: `${file}: ok` };
  const errors = v.errors.map(({ text: _t, ...e }) => e);
  return {
    exitCode: EXIT.badInput,
    json: { ok: false, errors },
    text: v.errors.map((e) => e.text).join('\n'),
  };
}
