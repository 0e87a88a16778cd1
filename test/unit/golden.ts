/**
 * Golden files (plans of every planner): the text must equal the file; KLDLOAD_UPDATE_GOLDEN=1
 * rewrites it instead, and the diff is then reviewed like code.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function matchesGolden(file: string, text: string): void {
  if (process.env.KLDLOAD_UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  assert.ok(existsSync(file), `${file} missing (KLDLOAD_UPDATE_GOLDEN=1 to create)`);
  assert.equal(
    text,
    readFileSync(file, 'utf8'),
    `plan differs from ${file} (KLDLOAD_UPDATE_GOLDEN=1 to accept)`,
  );
}
