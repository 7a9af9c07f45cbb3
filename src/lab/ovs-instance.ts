// A private Open vSwitch instance (ovsdb-server + ovs-vswitchd) with its own run directory,
// optionally inside a network namespace: one per simulated box in the lab, and one per
// OVS integration test. Real boxes use the system's OVS instead.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { run } from '../lib/exec.js';
import { processRef, stopProcesses, type ProcessRef } from '../lib/process.js';

export interface OvsInstance {
  /** Run directory holding conf.db, sockets, pidfiles and logs. */
  dir: string;
  netns?: string;
  dbSocket: string;
  /** `unix:<dir>/db.sock`, the OVSDB remote for clients. */
  dbRemote: string;
  vswitchdCtl: string;
  ovsdb: ProcessRef;
  vswitchd: ProcessRef;
  /** Environment that makes ovs-* tools address this instance. */
  env: NodeJS.ProcessEnv;
}

export function ovsEnv(dir: string, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir };
}

/** The OpenFlow management socket of a bridge in this instance. */
export function bridgeMgmt(inst: Pick<OvsInstance, 'dir'>, bridge: string): string {
  return `unix:${path.join(inst.dir, `${bridge}.mgmt`)}`;
}

const schemaPath = '/usr/share/openvswitch/vswitch.ovsschema';

/** `baseEnv` lets a caller mark the daemons (the lab tags everything it starts with its dir). */
export async function startOvsInstance(dir: string, netns?: string, baseEnv: NodeJS.ProcessEnv = process.env): Promise<OvsInstance> {
  await mkdir(dir, { recursive: true });
  const env = ovsEnv(dir, baseEnv);
  const inNs = (cmd: string, args: string[]) => (netns ? run('ip', ['netns', 'exec', netns, cmd, ...args], { env }) : run(cmd, args, { env }));
  const db = path.join(dir, 'conf.db');
  const dbSocket = path.join(dir, 'db.sock');
  if (!existsSync(db)) await run('ovsdb-tool', ['create', db, schemaPath], { env });
  await inNs('ovsdb-server', [
    db, `--remote=punix:${dbSocket}`, `--pidfile=${dir}/ovsdb-server.pid`,
    `--unixctl=${dir}/ovsdb-server.ctl`, '--detach', `--log-file=${dir}/ovsdb-server.log`,
  ]);
  await run('ovs-vsctl', [`--db=unix:${dbSocket}`, '--no-wait', 'init'], { env });
  await inNs('ovs-vswitchd', [
    `unix:${dbSocket}`, `--pidfile=${dir}/ovs-vswitchd.pid`, `--unixctl=${dir}/ovs-vswitchd.ctl`,
    '--detach', `--log-file=${dir}/ovs-vswitchd.log`,
  ]);
  return {
    dir,
    netns,
    dbSocket,
    dbRemote: `unix:${dbSocket}`,
    vswitchdCtl: path.join(dir, 'ovs-vswitchd.ctl'),
    ovsdb: processRef(await readPid(path.join(dir, 'ovsdb-server.pid'))),
    vswitchd: processRef(await readPid(path.join(dir, 'ovs-vswitchd.pid'))),
    env,
  };
}

async function readPid(file: string): Promise<number> {
  const pid = Number((await readFile(file, 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`bad pid in ${file}`);
  return pid;
}

/** Stop the instance's daemons (by the processes recorded at start) and remove its directory. */
export async function stopOvsInstance(inst: Pick<OvsInstance, 'dir' | 'ovsdb' | 'vswitchd'>, removeDir = true): Promise<void> {
  await stopProcesses([inst.vswitchd, inst.ovsdb]);
  if (removeDir) await rm(inst.dir, { recursive: true, force: true });
}
