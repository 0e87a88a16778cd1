/** Partition device path for a disk path, following the kernel's and udev's naming rules. */
export function partition(disk: string, n: number): string {
  if (disk.startsWith('/dev/disk/by-')) return `${disk}-part${n}`;
  return /\d$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}
