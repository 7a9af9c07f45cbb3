// Runs a program to completion and collects its output (for CLIs whose exit code and stderr
// the test asserts on; src/lib/exec.ts throws on failure instead).
import { spawn, type SpawnOptions } from 'node:child_process';

export interface Collected {
  code: number;
  stdout: string;
  stderr: string;
}

export function spawnCollect(cmd: string, args: string[], opts: SpawnOptions = {}): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}
