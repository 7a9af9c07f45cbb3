// The lab end to end, through the built CLI (`node dist/cli/seine.js`) as a user runs it, and
// through the module API where that is handier. Each suite has its own SEINE_LAB_DIR, hence
// its own name prefix, and removes its lab in `after` even when a test failed.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from '../../src/lab/lab.js';
import { labNames } from '../../src/lab/names.js';
import { listNetns } from '../../src/lab/netns.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { LabStatus } from '../../src/lab/status.js';
import type { LabState } from '../../src/lab/state.js';
import { isRunning, sleep, type ProcessRef } from '../../src/lib/process.js';
import { requirePrereqs } from '../helpers/prereqs.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(root, 'dist/cli/seine.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the built CLI against a lab dir. */
function seine(dir: string, args: string[], opts: { uid?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [cmd, argv] = opts.uid !== undefined
      ? ['setpriv', [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', process.execPath, CLI, ...args]]
      : [process.execPath, [CLI, ...args]];
    const child = spawn(cmd, argv, { env: { ...process.env, SEINE_LAB_DIR: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** The built seinectl with nothing but the lab dir in its environment (no server, token or CA). */
function seinectlNoFlags(dir: string, args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^SEINE_(SERVER|TOKEN|CA)$|^SEINECTL_CONFIG$/.test(k)));
    const child = spawn(process.execPath, [path.join(root, 'dist/cli/seinectl.js'), ...args], { env: { ...env, SEINE_LAB_DIR: dir, XDG_CONFIG_HOME: path.join(dir, 'no-config') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

async function ok(dir: string, args: string[]): Promise<CliResult> {
  const r = await seine(dir, args);
  assert.equal(r.code, 0, `seine ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

async function status(dir: string): Promise<LabStatus> {
  return JSON.parse((await ok(dir, ['lab', 'status', '--json'])).stdout) as LabStatus;
}

const newLabDir = (tag: string) => mkdtemp(`/tmp/sl-${tag}-`);

/** Live (non-zombie) processes whose command line mentions the lab dir (OVS daemons name their run dir). */
async function processesMentioning(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmdline = await readFile(`/proc/${e}/cmdline`, 'utf8');
      const stat = await readFile(`/proc/${e}/stat`, 'utf8');
      const zombie = stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
      if (cmdline.includes(`${dir}/`) && !zombie) pids.push(Number(e));
    } catch {
      /* gone */
    }
  }
  return pids;
}

const recordedRefs = (s: LabState): ProcessRef[] => [...s.processes, ...s.boxes.flatMap((b) => b.processes)].map(({ pid, start }) => ({ pid, start }));

/** Remove the lab (CLI, then the module API as a fallback) and prove nothing of it is left. */
async function cleanUp(dir: string): Promise<void> {
  const r = await seine(dir, ['lab', 'down']);
  if (r.code !== 0) await new Lab(dir).down();
  const prefix = labNames(dir).prefix;
  assert.deepEqual(await listNetns(`${prefix}-`), [], 'network namespaces left behind');
  assert.deepEqual(await processesMentioning(dir), [], 'processes left behind');
  await rm(dir, { recursive: true, force: true });
}

/** The one-line error contract: non-zero exit, exactly one stderr line, no stack. */
function assertOneLineError(r: CliResult, pattern: RegExp, what: string): void {
  assert.notEqual(r.code, 0, `${what}: exit code`);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  assert.equal(lines.length, 1, `${what}: expected one stderr line, got:\n${r.stderr}`);
  assert.ok(!/^\s+at /m.test(r.stderr), `${what}: stack trace on stderr`);
  assert.match(lines[0], /^seine: /, what);
  assert.match(lines[0], pattern, what);
}

function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  const built = statSync(CLI).mtimeMs;
  const src = ['src/cli/seine.ts', 'src/cli/lab-commands.ts', 'src/lab/lab.ts'].map((f) => statSync(path.join(root, f)).mtimeMs);
  if (src.some((m) => m > built)) throw new Error('dist/ is older than src/lab: run npm run build first');
}

function pingArgs(from: { namespace: string; name: string }, ip: string): string[] {
  return ['lab', 'exec', `${from.namespace}/${from.name}`, '--', 'ping', '-c1', '-W2', ip];
}

describe('seine lab (2 boxes x 2 pods, CLI)', function () {
  this.timeout(120_000);
  let dir = '';
  let upSeconds = 0;
  let upResult: CliResult;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    requireBuiltCli();
    dir = await newLabDir('main');
    const t0 = performance.now();
    upResult = await seine(dir, ['lab', 'up', '--nodes', '2', '--pods-per-node', '2']);
    upSeconds = (performance.now() - t0) / 1000;
  });

  after(async () => {
    if (dir) await cleanUp(dir);
  });

  it('comes up in under 60 s, printing a line per step and what to do next', () => {
    assert.equal(upResult.code, 0, upResult.stderr);
    assert.ok(upSeconds < 60, `lab up took ${upSeconds.toFixed(1)} s`);
    // 11 steps of boxes and pods, and Node-RED (issue 10).
    const steps = upResult.stderr.split('\n').filter((l) => /^\[\d+\/12\] .*\(\d+\.\d\d s\)$/.test(l));
    assert.equal(steps.length, 12, upResult.stderr);
    assert.match(upResult.stderr, /open http:\/\/127\.0\.0\.1:\d+ +# Node-RED with the Seine nodes/);
    assert.match(upResult.stderr, /seine lab status/);
    assert.match(upResult.stderr, /seinectl get nodes +# the controller over HTTPS/);
    assert.match(upResult.stderr, /seine lab exec default\/box1-pod1 -- ping -c1 10\.42\.0\.3/);
    assert.match(upResult.stderr, /seine lab down/);
  });

  it('reports boxes, namespaces and pods in status --json', async () => {
    const st = await status(dir);
    const prefix = labNames(dir).prefix;
    assert.deepEqual(st.boxes.map((b) => [b.name, b.underlayIP, b.podCIDR, b.netns, b.encap]), [
      ['box1', '172.31.250.11', '10.42.0.0/24', `${prefix}-box1`, 'geneve'],
      ['box2', '172.31.250.12', '10.42.1.0/24', `${prefix}-box2`, 'geneve'],
    ]);
    for (const b of st.boxes) {
      assert.deepEqual(Object.keys(b.pids).sort(), ['agent', 'ovs-vswitchd', 'ovsdb-server']);
      assert.ok(b.processes.every((p) => p.running), JSON.stringify(b.processes));
    }
    assert.deepEqual(st.namespaces, [{ name: 'default', labels: { 'kubernetes.io/metadata.name': 'default' } }]);
    assert.equal(st.pods.length, 4);
    for (const p of st.pods) {
      const box = st.boxes.find((b) => b.name === p.box);
      assert.ok(box, p.name);
      assert.equal(p.namespace, 'default');
      assert.deepEqual(p.labels, { app: 'demo' });
      assert.ok(p.ip?.startsWith(box.podCIDR.replace(/0\/24$/, '')), `${p.ip} in ${box.podCIDR}`);
      assert.match(p.mac ?? '', /^0a:58(:[0-9a-f]{2}){4}$/);
      assert.ok(existsSync(`/run/netns/${p.netns}`), p.netns);
    }
    // lab up starts the controller (issue 11) on free 127.0.0.1 ports, with TLS like any controller (issue 16).
    assert.match(st.controller?.url ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(st.controller?.mqttUrl ?? '', /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(st.controller?.adminFile, path.join(dir, 'controller', 'seinectl.yaml'));
    assert.equal(statSync(st.controller!.adminFile!).mode & 0o777, 0o600);
    assert.equal(st.controller?.running, true);
    // seinectl finds the lab's controller and trusts its CA with no flags; the boxes are online over mqtts+unix with node certificates.
    const nodes = await seinectlNoFlags(dir, ['get', 'nodes', '-o', 'json']);
    assert.equal(nodes.code, 0, nodes.stderr);
    assert.deepEqual((JSON.parse(nodes.stdout) as { name: string; online: boolean }[]).map((n) => [n.name, n.online]), [['box1', true], ['box2', true]]);
    // Plain HTTP to the TLS port gets no API.
    await assert.rejects(fetch(st.controller!.url.replace('https:', 'http:') + '/api/v1/nodes'));
    // ... and Node-RED with the Seine nodes (issue 10; test/integration/nodered-lab.test.ts).
    assert.match(st.nodeRed?.url ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(st.nodeRed?.running, true);
    const table = (await ok(dir, ['lab', 'status'])).stdout;
    for (const h of ['BOX', 'NAMESPACE', 'POD', 'default/box2-pod2', '172.31.250.12']) assert.ok(table.includes(h), h);
  });

  it('lets every pair of pods on the same box ping each other', async () => {
    const st = await status(dir);
    const pairs = st.pods.flatMap((a) => st.pods.filter((b) => b !== a && b.box === a.box).map((b) => [a, b] as const));
    assert.equal(pairs.length, 4);
    for (const [a, b] of pairs) {
      const r = await seine(dir, pingArgs(a, b.ip ?? ''));
      assert.equal(r.code, 0, `${a.name} -> ${b.name} (${b.ip}): ${r.stdout}${r.stderr}`);
    }
    const gw = await seine(dir, pingArgs(st.pods[0], st.boxes.find((b) => b.name === st.pods[0].box)?.podCIDR.replace(/0\/24$/, '1') ?? ''));
    assert.equal(gw.code, 0, 'pod -> its gateway');
  });

  it('carries TCP between same-box pods (checksum offload off)', async () => {
    const st = await status(dir);
    const [a, b] = st.pods.filter((p) => p.box === 'box1');
    const server = `require('net').createServer((s) => { let n = 0; s.on('data', (d) => (n += d.length)); s.on('end', () => { console.log(n); process.exit(0); }); }).listen(5001, () => console.log('listening'))`;
    const serverRun = seine(dir, ['lab', 'exec', `default/${b.name}`, '--', process.execPath, '-e', server]);
    const client = `const s = require('net').connect(5001, '${b.ip}', () => s.end(Buffer.alloc(5e6))); s.on('error', (e) => { console.error(e.message); process.exit(1); })`;
    let sent: CliResult | undefined;
    for (let i = 0; i < 50 && sent?.code !== 0; i++) {
      await sleep(100);
      sent = await seine(dir, ['lab', 'exec', `default/${a.name}`, '--', process.execPath, '-e', client]);
    }
    assert.equal(sent?.code, 0, sent?.stderr);
    const received = await serverRun;
    assert.match(received.stdout, /listening\n5000000\n/);
  });

  it('passes the command\'s exit code and output through exec', async () => {
    assert.equal((await seine(dir, ['lab', 'exec', 'default/box1-pod1', '--', 'sh', '-c', 'exit 7'])).code, 7);
    const r = await seine(dir, ['lab', 'exec', 'default/box2-pod1', '--', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /inet 10\.42\.1\.\d+\/24/);
  });

  it('adds and removes namespaces, pods and labels', async () => {
    await ok(dir, ['lab', 'ns', 'add', 'shop', '--labels', 'env=prod,tier=a']);
    const added = await ok(dir, ['lab', 'pod', 'add', 'shop/web', '--box', 'box1', '--labels', 'app=web', '--ports', 'http=80/TCP']);
    assert.match(added.stdout, /shop\/web on box1: 10\.42\.0\.\d+/);
    await ok(dir, ['lab', 'label', 'pod', 'shop/web', 'app-', 'role=frontend']);
    await ok(dir, ['lab', 'label', 'ns', 'shop', 'env=staging', 'tier-']);
    let st = await status(dir);
    assert.deepEqual(st.namespaces.find((n) => n.name === 'shop')?.labels, { env: 'staging', 'kubernetes.io/metadata.name': 'shop' });
    const web = st.pods.find((p) => p.namespace === 'shop' && p.name === 'web');
    assert.deepEqual(web?.labels, { role: 'frontend' });
    assert.deepEqual(web?.ports, [{ name: 'http', port: 80, protocol: 'TCP' }]);
    // The new pod is switched like the others.
    assert.equal((await seine(dir, pingArgs({ namespace: 'shop', name: 'web' }, '10.42.0.2'))).code, 0);
    // Without --box: box1 now has 3 pods, so the next one goes to box2.
    const auto = await ok(dir, ['lab', 'pod', 'add', 'default/auto']);
    assert.match(auto.stdout, /on box2/);
    await ok(dir, ['lab', 'pod', 'del', 'shop/web']);
    await ok(dir, ['lab', 'pod', 'del', 'default/auto']);
    st = await status(dir);
    assert.ok(!st.pods.some((p) => p.name === 'web' || p.name === 'auto'));
    assert.ok(!existsSync(`/run/netns/${web?.netns}`), 'pod netns removed');
  });

  it('serializes concurrent changes (the lab lock)', async () => {
    const names = ['c1', 'c2', 'c3', 'c4'];
    const results = await Promise.all(names.map((n) => seine(dir, ['lab', 'pod', 'add', `default/${n}`, '--box', 'box2'])));
    results.forEach((r) => assert.equal(r.code, 0, r.stderr));
    const st = await status(dir);
    const ips = st.pods.filter((p) => names.includes(p.name)).map((p) => p.ip);
    assert.equal(new Set(ips).size, 4, `distinct IPs: ${ips.join(' ')}`);
    await Promise.all(names.map((n) => ok(dir, ['lab', 'pod', 'del', `default/${n}`])));
  });

  it('rejects misuse against a running lab with one line', async () => {
    const cases: [string[], RegExp][] = [
      [['lab', 'up'], /already up/],
      [['lab', 'exec', 'default/nope', '--', 'true'], /unknown pod default\/nope/],
      [['lab', 'pod', 'add', 'default/x', '--box', 'box9'], /unknown box 'box9'/],
      [['lab', 'pod', 'add', 'nowhere/x'], /unknown namespace 'nowhere'/],
      [['lab', 'pod', 'add', 'default/box1-pod1'], /already exists/],
      [['lab', 'pod', 'del', 'default/nope'], /unknown pod/],
      [['lab', 'label', 'pod', 'default/box1-pod1', 'app'], /bad label 'app'/],
      [['lab', 'label', 'ns', 'default', 'kubernetes.io/metadata.name-'], /cannot be changed/],
      [['lab', 'ns', 'add', 'default'], /already exists/],
    ];
    for (const [args, pattern] of cases) assertOneLineError(await seine(dir, args), pattern, args.join(' '));
    assert.equal((await status(dir)).pods.length, 4, 'nothing changed');
  });
});

describe('seine lab up -f lab.yaml', function () {
  this.timeout(120_000);
  let dir = '';

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    requireBuiltCli();
    dir = await newLabDir('yaml');
  });

  after(async () => {
    if (dir) await cleanUp(dir);
  });

  it('builds the boxes, namespaces and pods of the file', async () => {
    const file = path.join(dir, 'lab.yaml');
    await writeFile(file, readFileSync(path.join(root, 'src/lab/lab.example.yaml')));
    await ok(dir, ['lab', 'up', '-f', file]);
    await rm(file);
    const st = await status(dir);
    assert.deepEqual(st.boxes.map((b) => [b.name, b.encap]), [['edge1', 'geneve'], ['edge2', 'geneve']]);
    assert.deepEqual(st.namespaces.find((n) => n.name === 'shop')?.labels, { env: 'prod', 'kubernetes.io/metadata.name': 'shop' });
    const pod = (name: string) => st.pods.find((p) => p.name === name);
    assert.deepEqual([pod('web')?.box, pod('db')?.box, pod('camera')?.box], ['edge1', 'edge1', 'edge2']);
    assert.deepEqual(pod('db')?.ports, [{ name: 'pg', port: 5432, protocol: 'TCP' }]);
    assert.deepEqual(pod('camera')?.labels, { app: 'camera' });
    assert.equal((await seine(dir, pingArgs({ namespace: 'shop', name: 'web' }, pod('db')?.ip ?? ''))).code, 0);
  });
});

describe('seine lab down after crashes', function () {
  this.timeout(120_000);
  const dirs: string[] = [];

  before(() => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    requireBuiltCli();
  });

  after(async () => {
    for (const d of dirs) await cleanUp(d);
  });

  /** Start `lab up`, kill -9 it when its progress output matches `when`. */
  async function killUpWhen(dir: string, when: RegExp): Promise<void> {
    const child = spawn(process.execPath, [CLI, 'lab', 'up', '--nodes', '3', '--pods-per-node', '3'], {
      env: { ...process.env, SEINE_LAB_DIR: dir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (when.test(stderr)) {
          child.kill('SIGKILL');
          resolve();
        }
      });
      child.on('close', () => reject(new Error(`lab up ended before it could be killed: ${stderr}`)));
    });
    await new Promise((r) => child.once('close', r));
  }

  for (const [what, when] of [
    ['right after the underlay', /underlay ready/],
    ['while starting OVS', /box\d: ovs started/],
    ['while attaching pods', /pod default\/box\d-pod1 attached/],
  ] as const) {
    it(`cleans up after lab up was killed -9 ${what}`, async () => {
      const dir = await newLabDir('kill');
      dirs.push(dir);
      await killUpWhen(dir, when);
      await sleep(50);
      const state = JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8')) as LabState;
      assert.equal(state.phase, 'creating');
      const refs = recordedRefs(state);
      const st = await seine(dir, ['lab', 'status']);
      assertOneLineError(st, /interrupted; run seine lab down/, 'status of a half-built lab');
      const down = await ok(dir, ['lab', 'down']);
      assert.match(down.stdout, /removed/);
      assert.deepEqual(await listNetns(`${state.prefix}-`), []);
      assert.deepEqual(refs.filter(isRunning), [], 'recorded processes still running');
      assert.deepEqual(await processesMentioning(dir), []);
      assert.ok(!existsSync(dir), 'lab dir removed');
    });
  }

  it('cleans up after an ovs-vswitchd was killed -9, and a second down is a no-op', async () => {
    const dir = await newLabDir('ovs');
    dirs.push(dir);
    await ok(dir, ['lab', 'up', '--nodes', '1', '--pods-per-node', '1']);
    const st = await status(dir);
    process.kill(st.boxes[0].pids['ovs-vswitchd'], 'SIGKILL');
    await sleep(100);
    const after = await status(dir);
    assert.deepEqual(after.boxes[0].processes.map((p) => [p.role, p.running]), [['ovsdb-server', true], ['ovs-vswitchd', false], ['agent', true]]);
    assertOneLineError(await seine(dir, ['lab', 'pod', 'add', 'default/late']), /ovs-vswitchd .* not running/, 'pod add on a dead box');
    await ok(dir, ['lab', 'down']);
    assert.deepEqual(await listNetns(`${labNames(dir).prefix}-`), []);
    assert.deepEqual(await processesMentioning(dir), []);
    const again = await ok(dir, ['lab', 'down']);
    assert.match(again.stdout, /no lab running/);
  });
});

describe('seine lab processes (module API)', function () {
  this.timeout(60_000);
  let dir = '';

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    dir = await newLabDir('proc');
  });

  after(async () => {
    if (dir) await cleanUp(dir);
  });

  it('records extra per-box and lab-wide processes and stops them on down', async () => {
    const lab = new Lab(dir);
    await lab.up(specFromFlags(1, 0));
    const agent = await lab.startProcess({ role: 'sidecar', box: 'box1', command: 'sleep', args: ['600'] });
    const controller = await lab.startProcess({ role: 'controller', command: 'sleep', args: ['600'] });
    await lab.setEndpoint('controller', { url: 'http://127.0.0.1:1', process: controller });
    assert.ok(isRunning(agent) && isRunning(controller));
    // The agent lives in its box's network namespace.
    const boxNs = statSync(`/run/netns/${labNames(dir).boxNetns('box1')}`).ino;
    assert.equal(statSync(`/proc/${agent.pid}/ns/net`).ino, boxNs);
    const st = await status(dir);
    assert.equal(st.boxes[0].pids.sidecar, agent.pid);
    assert.ok(isRunning({ pid: st.boxes[0].pids.agent, start: (await lab.current()).boxes[0].processes.find((p) => p.role === 'agent')!.start }), 'the box agent runs');
    assert.deepEqual(st.controller, { url: 'http://127.0.0.1:1', pid: controller.pid, running: true });
    assert.equal(await lab.down(), true);
    assert.ok(!isRunning(agent) && !isRunning(controller));
    assert.equal(await lab.down(), false);
  });

  it('removes everything it created when lab up fails midway', async () => {
    // The failure comes after the first pod was attached: boxes, agents and a pod exist.
    const lab = new Lab(dir);
    const failAfterFirstPod = (e: { message: string }) => {
      if (e.message.includes('attached')) throw new Error('injected failure after a pod');
    };
    await assert.rejects(lab.up(specFromFlags(2, 1), { onProgress: failAfterFirstPod }), /injected failure/);
    assert.equal(await lab.read(), undefined);
    assert.deepEqual(await listNetns(`${labNames(dir).prefix}-`), []);
    assert.deepEqual(await processesMentioning(dir), []);
  });
});

describe('seine lab CLI misuse', function () {
  this.timeout(60_000);
  let dir = '';

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping');
    requireBuiltCli();
    dir = await newLabDir('misuse');
    await writeFile(path.join(dir, 'invalid.yaml'), 'boxes:\n  - name: b1\npods:\n  - name: p\n    box: b9\n');
    await writeFile(path.join(dir, 'broken.yaml'), 'boxes: [\n');
  });

  after(async () => {
    if (dir) await cleanUp(dir);
  });

  it('answers every misuse with one line, no stack, non-zero exit', async () => {
    const cases: [string[], RegExp][] = [
      [['lab', 'up', '--bogus'], /unknown option '--bogus'/],
      [['lab', 'bogus'], /unknown command 'bogus'/],
      [['lab', 'up', '-f', '/nonexistent/lab.yaml'], /\/nonexistent\/lab\.yaml: no such file/],
      [['lab', 'up', '-f', path.join(dir, 'invalid.yaml')], /pods\[0\]\.box: unknown box 'b9'/],
      [['lab', 'up', '-f', path.join(dir, 'broken.yaml')], /not valid YAML/],
      [['lab', 'up', '-f', path.join(dir, 'invalid.yaml'), '--nodes', '3'], /cannot be used with/],
      [['lab', 'up', '--nodes', '0'], /integer from 1/],
      [['lab', 'up', '--encap', 'stt'], /Allowed choices/],
      [['lab', 'exec', 'default/a', 'ls'], /after --/],
      [['lab', 'exec', 'default/a', '--'], /after --/],
      [['lab', 'exec', 'nopod', '--', 'true'], /expected <namespace>\/<pod>/],
      [['lab', 'status'], /no lab running/],
      [['lab', 'pod', 'add', 'default/x'], /no lab running/],
      [['lab', 'pod', 'add', 'default/x', '--labels', 'a b'], /bad label 'a b'/],
      [['lab', 'pod', 'add', 'default/x', '--ports', 'http=99999/TCP'], /1\.\.65535/],
      [['lab', 'label', 'ns', 'default', 'k=v v'], /label value 'v v'/],
      [['lab', 'label', 'pod', 'default/x'], /missing required argument/],
      [['lab', 'ns', 'add', 'Bad_Name'], /not a valid name/],
    ];
    for (const [args, pattern] of cases) assertOneLineError(await seine(dir, args), pattern, args.join(' '));
    assertOneLineError(await seine(dir, ['lab', 'up'], { uid: 65534 }), /seine lab needs root \(network namespaces, OVS\)/, 'not root');
    const down = await ok(dir, ['lab', 'down']);
    assert.match(down.stdout, /no lab running/);
  });
});
