import { validateAnswersFile } from '../../answers/validate.ts';
import { EXIT } from '../../core/errors.ts';
import type { CommandResult } from '../output.ts';

export async function answersValidate(file: string): Promise<CommandResult> {
  const v = validateAnswersFile(file);
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
