// Reading a file the user named (a missing or unreadable file is a UserError naming it), and
// writing a file so that a power cut leaves either the old or the new content, never a torn or
// empty one: write a temp file, fsync it, rename it over the target, fsync the directory (the
// rename is only durable once the directory is).
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from './errors.js';

export async function readUserFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new UserError(`cannot read ${file}: ${why}`);
  }
}

/** write-temp → fsync → rename → fsync(dir). The directory is created when missing. */
export async function writeFileDurable(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeSynced(tmp, data, mode);
  try {
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

/** Writes a file and fsyncs it (the content is on disk before a rename makes it visible). */
export async function writeSynced(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const fh = await open(file, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Removes a file durably (the directory entry is gone after a power cut too). */
export async function removeFileDurable(file: string): Promise<void> {
  await rm(file, { force: true });
  await fsyncDir(path.dirname(file)).catch(() => {}); // no directory: nothing to make durable
}

/** Makes renames, links and removals in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    // A file system without directory fsync (EINVAL): its renames are as durable as it makes them.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL') throw err;
  } finally {
    await fh.close();
  }
}
