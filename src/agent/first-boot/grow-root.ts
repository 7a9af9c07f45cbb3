// First boot grows the root partition and its ext4 file system to the end of the SD card: the
// image is 2.3 GB whatever card it is flashed to. The image's partition table is MBR (boards'
// boot ROMs read it), which systemd-repart does not handle, and the image carries no sfdisk or
// parted: the one field that changes — the root entry's sector count — is written here, the
// kernel is told with `partx -u` (BLKPG, works on a mounted disk), and `resize2fs` grows the
// mounted file system online. Idempotent: a root that already ends at the disk's end is left
// alone, so a power cut half-way is finished on the next boot.
import { open, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../lib/exec.js';

const SECTOR = 512;
const MBR_TABLE = 0x1be;
const MBR_ENTRY = 16;

export interface RootDevice {
  /** /dev/<disk>, e.g. /dev/mmcblk0 */
  disk: string;
  /** /dev/<partition>, e.g. /dev/mmcblk0p2 */
  partition: string;
  /** 1-based partition number. */
  number: number;
  /** In 512-byte sectors, as sysfs gives them. */
  start: number;
  size: number;
  diskSectors: number;
}

export type GrowthPlan =
  | { grow: false; reason: string; /** root already ends at the disk's end (its file system may not yet) */ fills?: true }
  | { grow: true; entryOffset: number; newSize: number; addedBytes: number };

/** Decides from the disk's first sector and sysfs what to write: nothing, or the root entry's new size. */
export function planRootGrowth(mbr: Buffer, dev: RootDevice): GrowthPlan {
  if (mbr.length < SECTOR || mbr.readUInt16LE(510) !== 0xaa55) return { grow: false, reason: `${dev.disk} has no MBR partition table` };
  const entries = [0, 1, 2, 3].map((i) => {
    const at = MBR_TABLE + i * MBR_ENTRY;
    return { at, type: mbr[at + 4]!, start: mbr.readUInt32LE(at + 8), size: mbr.readUInt32LE(at + 12) };
  });
  if (entries.some((e) => e.type === 0xee)) return { grow: false, reason: `${dev.disk} has a GPT partition table (protective MBR)` };
  if (dev.number > 4) return { grow: false, reason: `root is logical partition ${dev.number}; only a primary partition is grown` };
  const entry = entries[dev.number - 1]!;
  if (entry.start !== dev.start) return { grow: false, reason: `MBR entry ${dev.number} starts at sector ${entry.start}, the kernel says ${dev.start}` };
  if (entries.some((e) => e.type !== 0 && e.start > entry.start)) return { grow: false, reason: `a partition follows root on ${dev.disk}` };
  // MBR counts sectors in 32 bits: 2 TiB is as far as it reaches.
  const newSize = Math.min(dev.diskSectors - entry.start, 0xffffffff);
  // Less than 1 MiB to gain (alignment slack) is not worth a table write.
  if (newSize - entry.size < 2048) return { grow: false, reason: 'root already fills the disk', fills: true };
  return { grow: true, entryOffset: entry.at + 12, newSize, addedBytes: (newSize - entry.size) * SECTOR };
}

/** The block device mounted at /, its disk and geometry, from /proc and /sys. */
export async function findRootDevice(): Promise<RootDevice> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const line = mountinfo.split('\n').find((l) => l.split(' ')[4] === '/');
  const majmin = line?.split(' ')[2];
  if (!majmin) throw new Error('no root mount in /proc/self/mountinfo');
  // /sys/dev/block/<maj:min> → …/block/<disk>/<partition>
  const sysPart = path.resolve('/sys/dev/block', await readlink(`/sys/dev/block/${majmin}`));
  const partName = path.basename(sysPart);
  const sysDisk = path.dirname(sysPart);
  const num = async (f: string) => Number((await readFile(f, 'utf8')).trim());
  const number = await num(path.join(sysPart, 'partition')).catch(() => {
    throw new Error(`root (${partName}) is not a partition`);
  });
  return {
    disk: `/dev/${path.basename(sysDisk)}`,
    partition: `/dev/${partName}`,
    number,
    start: await num(path.join(sysPart, 'start')),
    size: await num(path.join(sysPart, 'size')),
    diskSectors: await num(path.join(sysDisk, 'size')),
  };
}

export type GrowthResult = { grown: false; reason: string } | { grown: true; device: string; addedBytes: number };

/** Reads the first sector of a disk (or a disk image) and plans the root growth on it. */
export async function planRootGrowthOn(disk: string, dev: RootDevice): Promise<GrowthPlan> {
  const fh = await open(disk, 'r');
  try {
    const mbr = Buffer.alloc(SECTOR);
    await fh.read(mbr, 0, SECTOR, 0);
    return planRootGrowth(mbr, dev);
  } finally {
    await fh.close();
  }
}

/** Writes the planned sector count into the root's MBR entry (4 bytes of sector 0) and syncs. */
export async function writeRootEntrySize(disk: string, plan: Extract<GrowthPlan, { grow: true }>): Promise<void> {
  const fh = await open(disk, 'r+');
  try {
    const field = Buffer.alloc(4);
    field.writeUInt32LE(plan.newSize);
    await fh.write(field, 0, 4, plan.entryOffset);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function growRoot(dev?: RootDevice): Promise<GrowthResult> {
  const root = dev ?? (await findRootDevice());
  const plan = await planRootGrowthOn(root.disk, root);
  if (!plan.grow) {
    // A power cut between the table write and resize2fs leaves a full partition with a small
    // file system: resize2fs again (a no-op when the file system already fills it).
    if (plan.fills) await run('resize2fs', [root.partition], { timeoutMs: 10 * 60_000 });
    return { grown: false, reason: plan.reason };
  }
  await writeRootEntrySize(root.disk, plan);
  await run('partx', ['-u', '--nr', String(root.number), root.disk]);
  await run('resize2fs', [root.partition], { timeoutMs: 10 * 60_000 });
  const grownTo = Number((await readFile(`/sys/class/block/${path.basename(root.partition)}/size`, 'utf8')).trim());
  return { grown: true, device: root.partition, addedBytes: (grownTo - root.size) * SECTOR };
}
