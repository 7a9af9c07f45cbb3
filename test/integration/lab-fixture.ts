// Shared by the integration suites that need a running lab: a private lab dir per suite (its
// own name prefix), traffic checks between pods, and cleanup that proves nothing is left.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import https from 'node:https';
import { parse } from 'yaml';
import { SeinectlConfigSchema } from '../../src/api/config.js';
import { AGENT_API_PORT } from '../../src/lab/agent-process.js';
import { Lab } from '../../src/lab/lab.js';
import { labAdminFile, labNames } from '../../src/lab/names.js';
import { listNetns } from '../../src/lab/netns.js';
import path from 'node:path';
import type { BoxState, LabState, PodState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { distProgram } from '../../src/lib/paths.js';
import { sleep } from '../../src/lib/process.js';
import { spawnCollect, type Collected } from '../helpers/spawn.js';

export async function newLab(tag: string): Promise<Lab> {
  return new Lab(await mkdtemp(`/tmp/sl-${tag}-`));
}

export async function removeLab(lab: Lab): Promise<void> {
  await lab.down();
  assert.deepEqual(await listNetns(`${labNames(lab.dir).prefix}-`), [], 'the lab left network namespaces behind');
  await rm(lab.dir, { recursive: true, force: true }); // the temp dir and what tests wrote into it
}

export const podName = (p: Pick<PodState, 'namespace' | 'name'>) => `${p.namespace}/${p.name}`;

export interface PingResult {
  from: string;
  to: string;
  ok: boolean;
  detail: string;
}

/** One ping; ok only with exactly one reply (a duplicate means a second copy took another path). */
export async function ping(from: PodState, toIP: string, waitS = 2): Promise<{ ok: boolean; detail: string }> {
  const r = await run('ip', ['netns', 'exec', from.netns, 'ping', '-c1', '-W', String(waitS), toIP], { allowFailure: true });
  const ok = r.code === 0 && / 1 received/.test(r.stdout) && !/duplicates/.test(r.stdout);
  return { ok, detail: (r.stdout.split('\n').find((l) => l.includes('transmitted')) ?? r.stderr).trim() };
}

/** One ping, first try: no packet may be lost to a new peer box (the agent resolves tunnel peers first). */
export async function reachable(from: PodState, toIP: string): Promise<boolean> {
  return (await ping(from, toIP)).ok;
}

/** `ping -i 0.05` in the background; resolves with its summary when it ends. */
export function pingFlood(from: PodState, to: string, count: number): Promise<{ sent: number; received: number; text: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', from.netns, 'ping', '-i', '0.05', '-c', String(count), '-W', '1', to]);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', () => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
      if (!m) return reject(new Error(`ping printed no summary: ${out}`));
      resolve({ sent: Number(m[1]), received: Number(m[2]), text: out.split('\n').filter((l) => /transmitted|duplicates/.test(l)).join(' ') });
    });
  });
}

/** Every pod pings every other pod once (no retry); sources run in parallel, each source's pings in sequence. */
export async function pingMatrix(state: LabState): Promise<PingResult[]> {
  const pods = state.pods.filter((p) => p.ip);
  const rows = await Promise.all(pods.map(async (src) => {
    const out: PingResult[] = [];
    for (const dst of pods) {
      if (dst === src) continue;
      // One packet, first try: the agent resolves tunnel peers before pods need them.
      const r = await ping(src, dst.ip!);
      out.push({ from: podName(src), to: podName(dst), ...r });
    }
    return out;
  }));
  return rows.flat();
}

export function assertAllReachable(results: PingResult[], expected: number): void {
  const failed = results.filter((r) => !r.ok);
  assert.equal(results.length, expected, 'number of pod pairs');
  assert.deepEqual(failed.map((f) => `${f.from} -> ${f.to}: ${f.detail}`), [], `${results.length - failed.length}/${results.length} pod pairs reachable`);
}

/**
 * The admin file (seinectl.yaml: URL, token, CA) of the lab controller serving `server`: the
 * labs of these suites live in /tmp/sl-*, each controller writing its own.
 */
export function labAdmin(server: string): { file: string; token: string; ca: Buffer } {
  // The newest file naming the URL: a lab left behind by an earlier run may have had the same port.
  const found = readdirSync('/tmp').filter((e) => e.startsWith('sl-')).map((d) => labAdminFile(path.join('/tmp', d)))
    .filter((f) => existsSync(f)).map((file) => ({ file, admin: SeinectlConfigSchema.parse(parse(readFileSync(file, 'utf8'))), mtime: statSync(file).mtimeMs }))
    .filter((x) => x.admin.server === server).sort((a, b) => b.mtime - a.mtime)[0];
  if (!found) throw new Error(`no lab admin file names ${server}`);
  return { file: found.file, token: found.admin.token!, ca: readFileSync(found.admin.certificateAuthority!) };
}

/** The real seinectl against a lab controller, configured by its admin file (HTTPS, its CA, the admin token). */
export function seinectl(server: string, args: string[]): Promise<Collected> {
  return spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), ...args], { env: { ...process.env, SEINECTL_CONFIG: labAdmin(server).file } });
}

/** A REST call to a lab controller over HTTPS with its CA and admin token; the body parsed as JSON. */
export async function labApi<T = any>(server: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: T }> {
  const admin = labAdmin(server);
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = https.request(`${server}${urlPath}`, { method, ca: admin.ca, headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.token}` } }, (res) => {
      let data = '';
      res.setEncoding('utf8').on('data', (d: string) => (data += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body: data ? JSON.parse(data) : undefined }));
    });
    req.on('error', reject);
    req.end(text);
  });
}

/** Polls a condition (propagation through controller and agents is asynchronous) for up to `ms`. */
export async function eventually(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(200);
  }
}

/** GET from a box's agent API (it listens on the box's loopback), the body as text. */
export async function agentApiGet(box: BoxState, urlPath: string): Promise<string> {
  return (await run('ip', ['netns', 'exec', box.netns, 'python3', '-c',
    `import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:${AGENT_API_PORT}${urlPath}').read().decode())`])).stdout;
}

/** A box's br-int flow table as ovs-ofctl prints it (without counters unless `stats`). */
export async function dumpFlows(box: BoxState, stats = false): Promise<string> {
  const args = ['-O', 'OpenFlow15', 'dump-flows', ...(stats ? [] : ['--no-stats']), `unix:${path.join(box.ovsDir, 'br-int.mgmt')}`];
  return (await run('ovs-ofctl', args, { env: { ...process.env, OVS_RUNDIR: box.ovsDir } })).stdout;
}
