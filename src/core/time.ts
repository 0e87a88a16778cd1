/** A compact UTC timestamp for names (snapshots, log files, work folders): 20261122T031800Z. */
export function utcStamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}
