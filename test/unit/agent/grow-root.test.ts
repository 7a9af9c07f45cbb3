// Growing the root partition on a real MBR written by sfdisk into a sparse disk image: the plan,
// the 4-byte write, and sfdisk reading the result back. (The device side — partx, resize2fs on
// the mounted root — runs in the image boot test.)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { planRootGrowth, planRootGrowthOn, type RootDevice, writeRootEntrySize } from '../../../src/agent/first-boot/grow-root.js';

const exec = promisify(execFile);
const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;
const MiB = 2048; // sectors

async function sfdisk(disk: string, script?: string): Promise<{ start: number; size: number; type: string }[]> {
  if (script !== undefined) {
    const child = execFile('sfdisk', ['--quiet', disk], { env: { ...process.env, PATH } });
    child.stdin!.end(script);
    await new Promise((resolve, reject) => child.on('close', (c) => (c === 0 ? resolve(null) : reject(new Error(`sfdisk exited ${c}`)))));
  }
  const { stdout } = await exec('sfdisk', ['-J', disk], { env: { ...process.env, PATH } });
  return (JSON.parse(stdout) as { partitiontable: { partitions: { start: number; size: number; type: string }[] } }).partitiontable.partitions;
}

describe('first boot: growing the root partition', () => {
  let dir: string;
  let disk: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'seine-grow-'));
    disk = path.join(dir, 'disk.img');
    await exec('truncate', ['-s', '100M', disk]);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const device = (parts: { start: number; size: number }[], diskSectors: number, number = 2): RootDevice => ({
    disk,
    partition: `${disk}p${number}`,
    number,
    start: parts[number - 1]!.start,
    size: parts[number - 1]!.size,
    diskSectors,
  });

  it('grows the last primary partition to the end of an enlarged disk, as sfdisk reads it back', async () => {
    // The image's layout: FAT boot at 4 MiB, root right after it, both ending well before the disk end.
    const before = await sfdisk(disk, `label: dos\nstart=${4 * MiB}, size=${16 * MiB}, type=c, bootable\nstart=${20 * MiB}, size=${40 * MiB}, type=83\n`);
    await exec('truncate', ['-s', '300M', disk]); // flashed onto a bigger card
    const plan = await planRootGrowthOn(disk, device(before, 300 * MiB));
    assert.ok(plan.grow, JSON.stringify(plan));
    assert.equal(plan.newSize, 280 * MiB);
    assert.equal(plan.addedBytes, 240 * 2 ** 20);
    await writeRootEntrySize(disk, plan);
    const after = await sfdisk(disk);
    assert.deepEqual(after[0], before[0], 'boot partition untouched');
    assert.deepEqual({ start: after[1]!.start, size: after[1]!.size, type: after[1]!.type }, { start: 20 * MiB, size: 280 * MiB, type: '83' });
    // Again: nothing left to do (a second boot, or a power cut after the write).
    const again = await planRootGrowthOn(disk, device(after, 300 * MiB));
    assert.deepEqual(again, { grow: false, reason: 'root already fills the disk', fills: true });
  });

  it('leaves a disk alone when root is not the last partition, the kernel disagrees, or the table is GPT', async () => {
    const parts = await sfdisk(disk, `label: dos\nstart=${4 * MiB}, size=${16 * MiB}, type=c\nstart=${20 * MiB}, size=${20 * MiB}, type=83\nstart=${60 * MiB}, size=${10 * MiB}, type=83\n`);
    const blocked = await planRootGrowthOn(disk, device(parts, 100 * MiB));
    assert.equal(blocked.grow, false);
    assert.match((blocked as { reason: string }).reason, /a partition follows root/);
    const moved = await planRootGrowthOn(disk, { ...device(parts, 100 * MiB), start: 21 * MiB });
    assert.match((moved as { reason: string }).reason, /MBR entry 2 starts at sector 40960, the kernel says 43008/);
    await sfdisk(disk, `label: gpt\nstart=${4 * MiB}, size=${16 * MiB}\nstart=${20 * MiB}, size=${20 * MiB}\n`);
    const gpt = await planRootGrowthOn(disk, device(parts, 100 * MiB));
    assert.match((gpt as { reason: string }).reason, /GPT/);
    assert.match((planRootGrowth(Buffer.alloc(512), device(parts, 100 * MiB)) as { reason: string }).reason, /no MBR partition table/);
  });
});
