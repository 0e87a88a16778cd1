import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import type { Executor } from '../core/exec.ts';
import { linkOrCopy, safeRemove } from '../core/fs.ts';
import type { Logger } from '../core/log.ts';
import { cacheDir } from '../core/paths.ts';
import { bundleChunks, MEDIUM } from '../layout.ts';

export interface IsoContent {
  vmlinuz: string;
  initrd: string;
  liveSquashfs: string;
  targetSquashfs: string;
  imageJson: string;
  bundle: string;
  answers?: string;
  payloadDir?: string;
  zbm?: string;
  /** A golden image folder (build --golden), linked in whole. */
  golden?: string;
  /** lib.sh and dispatch.sh for postinstallers, installed to /usr/lib/kldload/postinstall. */
  postinstallLib?: string;
  /** The signed APT repository directory. */
  aptRepo?: string;
}

export function grubConfig(): string {
  const common = 'boot=live components noeject console=tty0 console=ttyS0,115200n8';
  return `# kldload installer medium
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=3
set default=0
menuentry "kldload: install unattended (answers from seed volume, command line or ISO)" {
  linux /live/vmlinuz ${common} kldload.install
  initrd /live/initrd.img
}
menuentry "kldload: live shell (installs nothing)" {
  linux /live/vmlinuz ${common}
  initrd /live/initrd.img
}
menuentry "kldload: install again over a disk this ISO installed (erases it)" {
  linux /live/vmlinuz ${common} kldload.install kldload.reinstall=1
  initrd /live/initrd.img
}
menuentry "kldload: install through the web (a wizard at the address this console shows)" {
  linux /live/vmlinuz ${common} kldload.install kldload.web
  initrd /live/initrd.img
}
`;
}

/** Recreates a directory tree of hard links (staging a 200+ MB repository costs nothing). */
function linkTree(src: string, dst: string): void {
  mkdirSync(dst, { recursive: true });
  for (const e of readdirSync(src, { withFileTypes: true })) {
    if (e.isDirectory()) linkTree(join(src, e.name), join(dst, e.name));
    else linkOrCopy(join(src, e.name), join(dst, e.name));
  }
}

/**
 * grub-mkrescue's command line. `-iso-level 3` lets a file over 4 GiB (a golden image's root stream)
 * in, split in parts: it is a mkisofs option, so it goes before the source folder (grub-mkrescue
 * hands those to `xorriso -as mkisofs`; what follows `--` are native xorriso commands, and xorriso
 * checks each file's size as it adds it).
 */
export const grubMkrescueArgv = (out: string, stage: string) => [
  'grub-mkrescue',
  '-o',
  out,
  '-iso-level',
  '3',
  stage,
  '--',
  '-volid',
  MEDIUM.label,
];

/** Hybrid BIOS+UEFI ISO with Debian's GRUB images and xorriso (via grub-mkrescue). */
export async function writeIso(exec: Executor, log: Logger, c: IsoContent, output: string): Promise<void> {
  mkdirSync(cacheDir('tmp'), { recursive: true });
  const stage = mkdtempSync(join(cacheDir('tmp'), 'iso-'));
  try {
    linkOrCopy(c.vmlinuz, join(stage, 'live/vmlinuz'));
    linkOrCopy(c.initrd, join(stage, 'live/initrd.img'));
    linkOrCopy(c.liveSquashfs, join(stage, 'live/filesystem.squashfs'));
    linkOrCopy(c.targetSquashfs, join(stage, MEDIUM.target));
    linkOrCopy(c.imageJson, join(stage, MEDIUM.image));
    linkOrCopy(c.bundle, join(stage, MEDIUM.bundle));
    if (existsSync(bundleChunks(c.bundle)))
      linkTree(bundleChunks(c.bundle), join(stage, bundleChunks(MEDIUM.bundle)));
    if (c.answers) copyFileSync(c.answers, join(stage, MEDIUM.answers));
    if (c.payloadDir)
      cpSync(c.payloadDir, join(stage, MEDIUM.payload), { recursive: true, dereference: true });
    if (c.zbm) linkOrCopy(c.zbm, join(stage, MEDIUM.zbm));
    if (c.golden) linkTree(c.golden, join(stage, MEDIUM.golden));
    if (c.aptRepo) linkTree(c.aptRepo, join(stage, MEDIUM.apt));
    if (c.postinstallLib) cpSync(c.postinstallLib, join(stage, MEDIUM.postinstallLib), { recursive: true });
    mkdirSync(join(stage, 'boot/grub'), { recursive: true });
    writeFileSync(join(stage, 'boot/grub/grub.cfg'), grubConfig());
    mkdirSync(dirname(output), { recursive: true });
    log.info(`iso: grub-mkrescue + xorriso → ${output}`);
    await exec.run(grubMkrescueArgv(`${output}.tmp`, stage));
    renameSync(`${output}.tmp`, output);
  } finally {
    safeRemove(stage);
  }
}
