import { validateAnswersFile } from '../../answers/validate.ts';
import { EXIT } from '../../core/errors.ts';
import type { CommandResult } from '../output.ts';

export async function answersValidate(file: string): Promise<CommandResult> {
  const v = validateAnswersFile(file);
  if (v.ok) return { exitCode: EXIT.ok, json: { ok: true, file }, text: `${file}: ok` };
  const errors = v.errors.map(({ text: _t, ...e }) => e);
  return {
    exitCode: EXIT.badInput,
    json: { ok: false, errors },
    text: v.errors.map((e) => e.text).join('\n'),
  };
}
