// Reading a file the user named (a missing or unreadable file is a UserError naming it), and
// replacing one atomically.
import { open, readFile, rename } from 'node:fs/promises';
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

/**
 * Replaces `file` atomically and durably: a temp file beside it is written and fsynced, then
 * renamed over (and the directory fsynced), so a crash leaves the old content or the new.
 */
export async function writeFileAtomic(file: string, data: string | Buffer, mode = 0o600): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
