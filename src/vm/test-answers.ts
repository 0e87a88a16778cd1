/** kldload test's answers: the built-in ones fitted to the ISO, and a user's file with the test's own keys set. */
import { formatEnvLine } from '../answers/parse.ts';
import type { AnyImageInfo } from '../layout-image.ts';

export const DEFAULT_TEST_ANSWERS = `# kldload test: answers for the VM proof
KLDLOAD_HOSTNAME=kltest.example.net
KLDLOAD_USERNAME=admin
KLDLOAD_PASSWORD=kl-test-Secret-7
KLDLOAD_ROOT_PASSWORD=kl-root-Secret-9
KLDLOAD_TIMEZONE=Europe/Berlin
KLDLOAD_LOCALE=en_US.UTF-8
KLDLOAD_PROFILE=server
`;

/**
 * The image facts kldload test reads from the ISO (kldload/image.json, written by the build); any
 * kldload version's, so every field may be missing. extraPackages: the names given with build
 * --packages, the only extras the darksite is sure to carry.
 */
export type IsoImage = AnyImageInfo;

/**
 * The built-in test answers, fitted to the ISO under test: extra packages are asked for only when the
 * build put them on the darksite (a plain ISO has none, and asking would fail at step 'packages').
 */
export function testAnswers(image: IsoImage | undefined): string {
  const extras = (image?.extraPackages ?? []).map((p) => p.replace(/\/backports$/, ''));
  return extras.length
    ? `${DEFAULT_TEST_ANSWERS}# Installed at install time from the signed darksite on the ISO (build --packages).\nKLDLOAD_EXTRA_PACKAGES="${extras.join(' ')}"\n`
    : DEFAULT_TEST_ANSWERS;
}

/** Replaces or appends KEY=value lines, leaving the rest of the user's file as written. */
export function overrideAnswers(text: string, set: Record<string, string>): string {
  const lines = text
    .split('\n')
    .filter((l) => !Object.keys(set).some((k) => new RegExp(`^\\s*(export\\s+)?${k}=`).test(l)));
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  return `${lines.join('\n')}\n${Object.entries(set)
    .map(([k, v]) => formatEnvLine(k, v))
    .join('\n')}\n`;
}
