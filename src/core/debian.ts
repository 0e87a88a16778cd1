/**
 * The Debian choices every layer needs (answers, install plan, build, darksite, CLI) and the one
 * format of an APT source line. Here, not in src/debian, because the answers and the install plan
 * may import only src/core.
 */

/** The Debian suites kldload installs; the first is the default. */
export const SUITES = ['trixie', 'bookworm'] as const;
export type Suite = (typeof SUITES)[number];
export const DEFAULT_SUITE: Suite = 'trixie';

/** The package profiles (profiles/<name>.list); the default is server. */
export const PROFILES = ['core', 'server', 'desktop'] as const;
export type Profile = (typeof PROFILES)[number];
export const DEFAULT_PROFILE: Profile = 'server';

/** `'a', 'b' or 'c'`: a closed list of values for messages. */
export function quotedChoices(values: readonly string[]): string {
  const q = values.map((v) => `'${v}'`);
  return q.length > 1 ? `${q.slice(0, -1).join(', ')} or ${q.at(-1)}` : (q[0] ?? '');
}

/**
 * One-line APT source: `deb [signed-by=KEYRING] URI SUITE COMPONENTS…`. Every source kldload writes
 * is verified by a key, so signed-by is not optional.
 */
export function aptSourceLine(o: {
  uri: string;
  suite: string;
  components: readonly string[];
  signedBy: string;
}): string {
  return `deb [signed-by=${o.signedBy}] ${o.uri} ${o.suite} ${o.components.join(' ')}`;
}

/** Debian's archive keyring (debian-archive-keyring): what every Debian source is signed by. */
export const DEBIAN_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** One deb822 source stanza (a .sources file holds one or more, a blank line between them). */
export function aptSourceStanza(o: {
  uri: string;
  suites: readonly string[];
  components: readonly string[];
  signedBy: string;
}): string {
  return `Types: deb\nURIs: ${o.uri}\nSuites: ${o.suites.join(' ')}\nComponents: ${o.components.join(' ')}\nSigned-By: ${o.signedBy}\n`;
}
