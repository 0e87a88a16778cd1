/**
 * Debian version comparison, exactly as Debian policy 5.6.12 and dpkg's verrevcmp() define it:
 * `[epoch:]upstream[-revision]`, epochs compared numerically, then upstream, then revision, each
 * as alternating non-digit / digit runs. In non-digit runs `~` sorts before everything (even the
 * end of the string), then the end of the string, then letters, then all other characters by
 * ASCII. Digit runs compare numerically (any length: no integer overflow, leading zeros ignored).
 */

export type VersionOp = '<<' | '<=' | '=' | '>=' | '>>';

interface Parsed {
  epoch: string;
  upstream: string;
  revision: string;
}

function parse(v: string): Parsed {
  const s = v.trim();
  const colon = s.indexOf(':');
  const epoch = colon >= 0 ? s.slice(0, colon) : '0';
  const rest = colon >= 0 ? s.slice(colon + 1) : s;
  const dash = rest.lastIndexOf('-');
  // No hyphen: no revision, which dpkg compares like an empty string (equal to "0").
  return dash >= 0
    ? { epoch, upstream: rest.slice(0, dash), revision: rest.slice(dash + 1) }
    : { epoch, upstream: rest, revision: '' };
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** dpkg's order(): weight of one character in a non-digit run; NaN (past the end) is 0. */
function order(c: number): number {
  if (Number.isNaN(c) || isDigit(c)) return 0;
  if (isAlpha(c)) return c;
  if (c === 126 /* ~ */) return -1;
  return c + 256;
}

/** Numeric comparison of two digit strings of any length. */
function compareDigits(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length - 1 && a.charCodeAt(i) === 48) i++;
  while (j < b.length - 1 && b.charCodeAt(j) === 48) j++;
  const la = a.length - i;
  const lb = b.length - j;
  if (la !== lb) return la - lb;
  for (; i < a.length; i++, j++) {
    const d = a.charCodeAt(i) - b.charCodeAt(j);
    if (d) return d;
  }
  return 0;
}

/** dpkg's verrevcmp() on one part (upstream or revision). */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // Non-digit prefix, character by character.
    while ((i < a.length && !isDigit(a.charCodeAt(i))) || (j < b.length && !isDigit(b.charCodeAt(j)))) {
      const ac = order(a.charCodeAt(i));
      const bc = order(b.charCodeAt(j));
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    // Digit run, compared as a number (an empty run is 0).
    let ie = i;
    let je = j;
    while (ie < a.length && isDigit(a.charCodeAt(ie))) ie++;
    while (je < b.length && isDigit(b.charCodeAt(je))) je++;
    const d = compareDigits(a.slice(i, ie) || '0', b.slice(j, je) || '0');
    if (d) return d;
    i = ie;
    j = je;
  }
  return 0;
}

/** Negative, zero or positive as a sorts before, equal to, or after b. */
export function compareVersions(a: string, b: string): number {
  if (a === b) return 0;
  const pa = parse(a);
  const pb = parse(b);
  const e = compareDigits(pa.epoch || '0', pb.epoch || '0');
  if (e) return Math.sign(e);
  const u = compareFragment(pa.upstream, pb.upstream);
  if (u) return Math.sign(u);
  return Math.sign(compareFragment(pa.revision, pb.revision));
}

/** Whether `version` satisfies the relation `(op want)`; no op means any version. */
export function satisfies(version: string, op: VersionOp | undefined, want: string | undefined): boolean {
  if (!op || want === undefined) return true;
  const c = compareVersions(version, want);
  switch (op) {
    case '<<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '=':
      return c === 0;
    case '>=':
      return c >= 0;
    case '>>':
      return c > 0;
  }
}
