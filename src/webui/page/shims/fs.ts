/** node:fs for the page's bundle: the page validates text, never a file (validateAnswersFile is server-side). */
export function existsSync(): boolean {
  return false;
}
export function readFileSync(): never {
  throw new Error('no file system in the browser');
}
