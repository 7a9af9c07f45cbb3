// Named build stages with progress lines and timings, and commands whose output goes to the
// stage's log file (the failure message quotes its last lines and names the stage).
import { spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';

export class StageError extends Error {
  constructor(readonly stage: string, message: string, readonly logFile?: string) {
    super(`stage "${stage}" failed: ${message}${logFile ? `\n  full log: ${logFile}` : ''}`);
    this.name = 'StageError';
  }
}

export interface StageTiming {
  stage: string;
  seconds: number;
  note?: string;
}

export class Stages {
  readonly timings: StageTiming[] = [];
  private readonly t0 = Date.now();

  constructor(private readonly logDir: string, private readonly out: (line: string) => void = (l) => process.stderr.write(`${l}\n`)) {}

  async run<T>(name: string, fn: (ctx: StageContext) => Promise<T>): Promise<T> {
    const started = Date.now();
    const index = this.timings.length + 1;
    this.out(`[image] ${index}. ${name} …`);
    const ctx = new StageContext(name, path.join(this.logDir, `${index}-${name}.log`), (l) => this.out(`[image]    ${l}`));
    try {
      const result = await fn(ctx);
      const seconds = (Date.now() - started) / 1000;
      this.timings.push({ stage: name, seconds, ...(ctx.note ? { note: ctx.note } : {}) });
      this.out(`[image] ${index}. ${name} done in ${seconds.toFixed(1)} s${ctx.note ? ` (${ctx.note})` : ''}`);
      return result;
    } catch (err) {
      throw err instanceof StageError ? err : new StageError(name, (err as Error).message, ctx.logFile);
    } finally {
      ctx.close();
    }
  }

  get totalSeconds(): number {
    return (Date.now() - this.t0) / 1000;
  }
}

export class StageContext {
  note: string | undefined;
  private stream: WriteStream | undefined;

  constructor(readonly stage: string, readonly logFile: string, readonly progress: (line: string) => void) {}

  private get log(): WriteStream {
    this.stream ??= createWriteStream(this.logFile, { flags: 'a' });
    return this.stream;
  }

  /** Runs a command, its output to the stage log; rejects with the last lines of it. */
  exec(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; explain?: (log: string) => string | undefined } = {}): Promise<string> {
    this.log.write(`$ ${[cmd, ...args].join(' ')}\n`);
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/sbin:/usr/sbin:/sbin`, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const take = (d: Buffer) => {
        this.log.write(d);
        output += d.toString('utf8');
        if (output.length > 4_000_000) output = output.slice(-2_000_000);
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
      child.on('error', (err: NodeJS.ErrnoException) =>
        reject(new StageError(this.stage, err.code === 'ENOENT' ? `${cmd}: command not found (run images/install-prereqs.sh)` : err.message, this.logFile)),
      );
      child.on('close', (code) => {
        if (code === 0) return resolve(output);
        const why = opts.explain?.(output);
        const tail = output.trim().split('\n').slice(-6).map((l) => `    ${l}`).join('\n');
        reject(new StageError(this.stage, `${why ? `${why}\n` : ''}${cmd} exited ${code}:\n${tail}`, this.logFile));
      });
    });
  }

  close(): void {
    this.stream?.end();
  }
}
