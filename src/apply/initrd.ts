import { readFileSync, renameSync, writeFileSync } from 'node:fs';

/**
 * Early initramfs segment: an uncompressed newc cpio placed in front of the distribution's initrd.
 * The kernel unpacks concatenated archives in order (buffer-format.rst), and unmkinitramfs reads
 * leading uncompressed segments the same way microcode is shipped.
 *
 * Why: update-initramfs costs ~3 minutes under TCG, ~10 s on hardware. The image's initrd is built
 * once at build time without any hostid; the install adds this machine's /etc/hostid and
 * zpool.cache in front. The next kernel update regenerates the initrd the stock way.
 */
const MAGIC = '070701';

function header(name: string, mode: number, size: number, ino: number): Buffer {
  const f = (n: number) => n.toString(16).padStart(8, '0');
  const fields = [ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, name.length + 1, 0];
  return Buffer.from(MAGIC + fields.map(f).join(''), 'ascii');
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

function entry(name: string, mode: number, data: Buffer, ino: number): Buffer {
  const h = header(name, mode, data.length, ino);
  const nameBuf = Buffer.from(`${name}\0`, 'utf8');
  return Buffer.concat([
    h,
    nameBuf,
    Buffer.alloc(pad4(h.length + nameBuf.length)),
    data,
    Buffer.alloc(pad4(data.length)),
  ]);
}

/** newc archive of the given files (path inside the archive → content), parents created as dirs. */
export function newcArchive(files: Record<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  let ino = 1;
  for (const path of Object.keys(files).sort()) {
    const segs = path.split('/');
    for (let i = 1; i < segs.length; i++) {
      const d = segs.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        parts.push(entry(d, 0o040755, Buffer.alloc(0), ino++));
      }
    }
    parts.push(entry(path, 0o100644, files[path] as Buffer, ino++));
  }
  parts.push(entry('TRAILER!!!', 0, Buffer.alloc(0), 0));
  const body = Buffer.concat(parts);
  // Pad to 512 bytes like early microcode archives, so the next segment starts cleanly.
  return Buffer.concat([body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

/** Names in a leading newc segment and where it ends (including zero padding); undefined if none. */
export function leadingSegment(buf: Buffer): { names: string[]; end: number } | undefined {
  let off = 0;
  const names: string[] = [];
  if (buf.subarray(0, 6).toString('ascii') !== MAGIC) return undefined;
  for (;;) {
    if (buf.subarray(off, off + 6).toString('ascii') !== MAGIC) return undefined;
    const field = (i: number) =>
      Number.parseInt(buf.subarray(off + 6 + i * 8, off + 14 + i * 8).toString('ascii'), 16);
    const size = field(6);
    const nameSize = field(11);
    const name = buf.subarray(off + 110, off + 110 + nameSize - 1).toString('utf8');
    off += 110 + nameSize;
    off += pad4(off);
    off += size + pad4(size);
    if (name === 'TRAILER!!!') break;
    names.push(name);
  }
  while (off < buf.length && buf[off] === 0) off++;
  return { names, end: off };
}

/**
 * Puts `files` in an early segment in front of `initrd`. Idempotent: an early segment this function
 * wrote before (it carries etc/hostid) is replaced, not stacked.
 */
export function prependEarly(initrd: string, files: Record<string, Buffer>): void {
  let rest = readFileSync(initrd);
  const lead = leadingSegment(rest);
  if (lead?.names.includes('etc/hostid')) rest = rest.subarray(lead.end);
  writeFileSync(`${initrd}.new`, Buffer.concat([newcArchive(files), rest]));
  renameSync(`${initrd}.new`, initrd);
}

/**
 * The inverse of prependEarly: drops a leading segment that carries etc/hostid (this machine's
 * identity), so a copy of the system boots with none. True when something was removed.
 */
export function stripEarly(initrd: string): boolean {
  const buf = readFileSync(initrd);
  const lead = leadingSegment(buf);
  if (!lead?.names.includes('etc/hostid')) return false;
  writeFileSync(`${initrd}.new`, buf.subarray(lead.end));
  renameSync(`${initrd}.new`, initrd);
  return true;
}
