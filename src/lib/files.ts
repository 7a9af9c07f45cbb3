// Reading a file the user named: a missing or unreadable file is a UserError naming it.
import { readFile } from 'node:fs/promises';
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
