/** The disks of a test machine: their serials (the guest's by-id names) and QEMU arguments. */
export const TARGET_SERIAL = 'kltarget';
export const TARGET_DISK = `/dev/disk/by-id/virtio-${TARGET_SERIAL}`;
/** Disk i of a test machine (0 = TARGET_SERIAL): the serial QEMU gives it and the guest's by-id name. */
export const targetSerial = (i: number) => (i ? `${TARGET_SERIAL}${i + 1}` : TARGET_SERIAL);
export const targetDisk = (i: number) => `/dev/disk/by-id/virtio-${targetSerial(i)}`;

/** One virtual disk of a machine: its qcow2 file and the serial the guest sees (by-id name). */
export interface Drive {
  file: string;
  serial: string;
}

/** zfs load-key's prompt in the initramfs (keylocation=prompt, no plymouth, no systemd). */
export const PASSPHRASE_PROMPT = /Enter passphrase for '[^']+':/;

/** QEMU arguments for a machine's disks, in order (the firmware tries them in that order). */
export function driveArgs(drives: Drive[], cache: string, extra = ''): string[] {
  return drives.flatMap((d, i) => [
    '-drive',
    `file=${d.file},if=none,id=t${i},format=qcow2,cache=${cache}${extra}`,
    '-device',
    `virtio-blk-pci,drive=t${i},serial=${d.serial}`,
  ]);
}
