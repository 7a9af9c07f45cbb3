// Serializes lab commands that change the lab. The lock is a flock(2) held by a small helper
// process tied to ours by a pipe: if we die (even by kill -9) its stdin closes, it exits and
// the kernel drops the lock, so there is never a stale lock to detect or steal.
// `lab down` deletes the lock file while holding it; a waiter that then wins the lock on the
// deleted file notices (its fd no longer names the path) and starts over.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../lib/errors.js';

const HELPER = `
L="$1"
while :; do
  [ -d "$(dirname "$L")" ] || exit 3
  exec 9>>"$L" || exit 3
  flock -w "$2" 9 || exit 4
  [ /proc/self/fd/9 -ef "$L" ] && break
  exec 9>&-
done
echo locked
exec cat >/dev/null
`;

export class NoLabDir extends Error {}

export interface LabLock {
  release(): Promise<void>;
}

/** Wait for the lab lock. Throws NoLabDir when the lab dir does not exist (or vanished meanwhile). */
export async function acquireLabLock(lockFile: string, waitSeconds = 600): Promise<LabLock> {
  const child = spawn('sh', ['-c', HELPER, 'seine-lab-lock', lockFile, String(waitSeconds)], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => {});
  const outcome = await new Promise<'locked' | number>((resolve, reject) => {
    let out = '';
    child.on('error', reject);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.includes('locked\n')) resolve('locked');
    });
    child.on('exit', (code) => resolve(code ?? 1));
  });
  if (outcome === 'locked') {
    // Don't keep the event loop alive for the helper; it ends with our stdin pipe.
    unrefChild(child);
    return { release: () => releaseHelper(child) };
  }
  if (outcome === 3 || !existsSync(path.dirname(lockFile))) throw new NoLabDir();
  if (outcome === 4) throw new UserError(`another seine lab command has held ${lockFile} for ${waitSeconds} s; try again later`);
  throw new Error(`lab lock helper exited ${outcome}`);
}

function unrefChild(child: ChildProcess): void {
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
}

function releaseHelper(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.ref(); // keep the loop alive until the helper has really let go
    child.once('exit', () => resolve());
    child.stdin?.end();
  });
}
