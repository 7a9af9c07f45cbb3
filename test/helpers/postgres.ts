// A real PostgreSQL server for a test: initdb into a temp dir as the unprivileged `postgres`
// user (initdb and postgres refuse to run as root; as non-root we run them as ourselves),
// listening on 127.0.0.1 on a free port with password (scram) authentication; stopped by its
// PID (postmaster.pid) and removed afterwards.
import { execFileSync } from 'node:child_process';
import { chownSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { isRunning, processRef, sleep } from '../../src/lib/process.js';
import { postgresBin, requirePrereqs } from './prereqs.js';
import { freePort } from '../../src/lib/free-port.js';

export interface TestPostgres {
  port: number;
  pid: number;
  /** postgres://seine:…@127.0.0.1:port/<database> */
  url(database: string): string;
  /** A new empty database; returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** A fast restart (every session cut, as an upgrade or a crash recovery cuts them); resolves once it accepts connections. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'seine';

function runAsOwner(bin: string, args: string[]): void {
  const asRoot = process.getuid?.() === 0;
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  execFileSync(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
}

export async function startPostgres(): Promise<TestPostgres> {
  requirePrereqs('postgres');
  const dir = await mkdtemp('/tmp/seine-pg-');
  const data = path.join(dir, 'data');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  await writeFile(path.join(dir, 'pw'), `${password}\n`);
  if (process.getuid?.() === 0) {
    const { uid, gid } = pgUser();
    chownSync(dir, uid, gid);
    chownSync(path.join(dir, 'pw'), uid, gid);
  }
  runAsOwner(postgresBin('initdb')!, ['-D', data, '-U', USER, '--auth=scram-sha-256', `--pwfile=${path.join(dir, 'pw')}`, '-E', 'UTF8', '--locale=C']);
  const port = await freePort();
  const pgCtl = (...args: string[]) => runAsOwner(postgresBin('pg_ctl')!, ['-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '30', '-o', `-p ${port} -h 127.0.0.1 -k ${dir} -c fsync=off`, ...args]);
  pgCtl('start');
  const postmasterPid = () => Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let pid = postmasterPid();
  let ref = processRef(pid);
  const url = (database: string) => `postgres://${USER}:${password}@127.0.0.1:${port}/${database}`;
  return {
    port,
    get pid() {
      return pid;
    },
    url,
    async restart() {
      pgCtl('-m', 'fast', 'restart');
      pid = postmasterPid();
      ref = processRef(pid);
    },
    async createDatabase(name) {
      const c = new pg.Client({ connectionString: url('postgres') });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name}"`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    async stop() {
      if (isRunning(ref)) process.kill(pid, 'SIGINT'); // fast shutdown
      for (let i = 0; isRunning(ref) && i < 200; i++) await sleep(50);
      if (isRunning(ref)) process.kill(pid, 'SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function pgUser(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no postgres user (the Debian postgresql package creates it): apt-get install postgresql');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

