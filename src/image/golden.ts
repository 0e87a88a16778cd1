/**
 * build --golden DIR: the golden image folder `kldload image capture` wrote, checked before it goes on
 * the ISO (MEDIUM.golden): its manifest against the contract, every stream named in SHA256SUMS and
 * present, and (at build, not in a dry run) every stream's hash.
 */
import { EXIT, KldloadError } from '../core/errors.ts';
import type { Executor } from '../core/exec.ts';
import { checkGoldenDir, GOLDEN_FILES, type GoldenManifest } from '../layout-image.ts';

/** The folder's manifest, refused with the reason when anything the installer needs is missing. */
export function readGolden(dir: string): GoldenManifest {
  const r = checkGoldenDir(dir);
  if (!r.ok)
    throw new KldloadError(`--golden ${dir}: ${r.why} (make it with kldload image capture)`, EXIT.badInput);
  return r.manifest;
}

/** Every stream against SHA256SUMS (sha256sum -c): a damaged copy never reaches an ISO. */
export async function verifyGolden(exec: Executor, dir: string): Promise<void> {
  const r = await exec.run(['sha256sum', '--check', '--quiet', '--strict', GOLDEN_FILES.sums], {
    cwd: dir,
    check: false,
  });
  if (r.exitCode !== 0)
    throw new KldloadError(
      `--golden ${dir}: streams do not match ${GOLDEN_FILES.sums}:\n${r.all.trim()}`,
      EXIT.badInput,
    );
}
