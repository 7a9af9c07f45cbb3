// Reads a built image without mounting it: the partition table with sfdisk, the FAT boot
// partition with mtools (at its byte offset), the ext4 root with debugfs (on a sparse copy of
// the partition). Used by test/image/inspect.test.ts and the boot smoke test.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const PATH = `${process.env.PATH ?? ''}:/usr/sbin:/sbin`;
const sh = async (cmd: string, args: string[]) => (await exec(cmd, args, { env: { ...process.env, PATH }, maxBuffer: 64 << 20, encoding: 'utf8' })).stdout;

export interface Partition {
  node: string;
  /** Bytes. */
  start: number;
  size: number;
  type: string;
  bootable: boolean;
}

/** The image's partition table (sfdisk -J), offsets and sizes in bytes. */
export async function readPartitions(image: string): Promise<Partition[]> {
  const table = JSON.parse(await sh('sfdisk', ['-J', image])) as {
    partitiontable: { label: string; sectorsize?: number; partitions: { node: string; start: number; size: number; type: string; bootable?: boolean }[] };
  };
  const sector = table.partitiontable.sectorsize ?? 512;
  return table.partitiontable.partitions.map((p) => ({ node: p.node, start: p.start * sector, size: p.size * sector, type: p.type, bootable: p.bootable === true }));
}

export class ImageReader {
  private constructor(readonly image: string, readonly partitions: Partition[], private readonly tmp: string, private readonly rootFs: string) {}

  static async open(image: string): Promise<ImageReader> {
    const partitions = await readPartitions(image);
    const tmp = await mkdtemp(path.join(tmpdir(), 'seine-inspect-'));
    const root = partitions[1];
    if (!root) throw new Error(`${image}: expected 2 partitions, found ${partitions.length}`);
    // debugfs reads a file system image, not an offset in a disk: a sparse copy of partition 2.
    const rootFs = path.join(tmp, 'root.ext4');
    await sh('dd', [`if=${image}`, `of=${rootFs}`, 'bs=4M', `skip=${root.start}`, `count=${root.size}`, 'iflag=skip_bytes,count_bytes', 'conv=sparse', 'status=none']);
    return new ImageReader(image, partitions, tmp, rootFs);
  }

  async close(): Promise<void> {
    await rm(this.tmp, { recursive: true, force: true });
  }

  private get bootImage(): string {
    return `${this.image}@@${this.partitions[0]!.start}`;
  }

  /** Names in a directory of the FAT boot partition (directories end in /). */
  async bootFiles(dir = ''): Promise<string[]> {
    const at = `::/${dir ? `${dir}/` : ''}`;
    const out = await sh('mdir', ['-b', '-i', this.bootImage, at]);
    return out.split('\n').filter(Boolean).map((l) => l.slice(at.length)).sort();
  }

  async bootFile(name: string): Promise<string> {
    return sh('mtype', ['-i', this.bootImage, `::/${name}`]);
  }

  async bootLabel(): Promise<string> {
    return (await sh('mlabel', ['-s', '-i', this.bootImage, '::'])).replace(/^\s*Volume label is\s*/, '').trim();
  }

  private async debugfs(request: string): Promise<string> {
    const { stdout } = await exec('debugfs', ['-R', request, this.rootFs], { env: { ...process.env, PATH }, maxBuffer: 64 << 20, encoding: 'utf8' });
    return stdout;
  }

  /** `stat` of a path in the root file system (not following a final symlink); undefined when absent. */
  async stat(p: string): Promise<{ type: string; mode: number; size: number; linkTarget?: string } | undefined> {
    const out = await this.debugfs(`stat ${p}`);
    const m = out.match(/Type: (\w+)\s+Mode:\s+(\d+)/);
    if (!m) return undefined;
    const size = Number(out.match(/Size: (\d+)/)?.[1] ?? 0);
    const link = out.match(/Fast link dest: "(.*)"/)?.[1];
    return { type: m[1]!, mode: parseInt(m[2]!, 8), size, ...(link !== undefined ? { linkTarget: link } : {}) };
  }

  /** A symlink's target, including one stored in a data block (slow symlink). */
  async readlink(p: string): Promise<string | undefined> {
    const st = await this.stat(p);
    if (st?.type !== 'symlink') return undefined;
    if (st.linkTarget !== undefined) return st.linkTarget;
    return (await this.cat(p)).replace(/\0+$/, '');
  }

  /** The ext4 superblock (block count, block size, label, features) by `dumpe2fs -h`, which
   *  also reads a file system whose box lost power (debugfs refuses its stale bitmaps). */
  async fsStats(): Promise<string> {
    return sh('dumpe2fs', ['-h', this.rootFs]);
  }

  async cat(p: string): Promise<string> {
    return this.debugfs(`cat ${p}`);
  }

  async readBytes(p: string): Promise<Buffer> {
    const out = path.join(this.tmp, `dump-${Math.random().toString(36).slice(2)}`);
    await this.debugfs(`dump ${p} ${out}`);
    const b = await readFile(out);
    await rm(out, { force: true });
    return b;
  }

  /** Names in a directory (without . and ..). */
  async ls(dir: string): Promise<string[]> {
    const out = await this.debugfs(`ls -p ${dir}`);
    // -p: /inode/mode/uid/gid/name/size/
    return out
      .split('\n')
      .map((l) => l.split('/')[5])
      .filter((n): n is string => n !== undefined && n !== '' && n !== '.' && n !== '..')
      .sort();
  }

  /** Copies a directory tree out of the image (for content scans). */
  async rdump(dir: string): Promise<string> {
    const out = path.join(this.tmp, `rdump-${Math.random().toString(36).slice(2)}`);
    await sh('mkdir', ['-p', out]);
    await this.debugfs(`rdump ${dir} ${out}`);
    return path.join(out, path.basename(dir));
  }
}
