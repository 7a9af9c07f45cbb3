// FQDN egress peers end to end on a 1-box lab with the lab's DNS server (dnsmasq on the outside
// host: allowed.seine.test → .11, denied.seine.test → .12, TTL 4 s). An ACNP on box1-pod1 allows
// DNS to the server, TCP 8080 to `allowed.seine.test` (logged), rejects `*DENIED.seine.test` and
// drops the rest. The pod resolves through the lab DNS with its own resolver (Node's, pointed at
// the server) and connects to what it got, in one process: the first connection right after
// the answer must pass at once (under the 1 s SYN retransmit: no retry hides a lost first SYN).
// Then: the other name's address is dropped, the wildcard Reject refuses, status, np.log,
// stats, Traceflow and `seinectl --local get fqdncache` name the rule and the names, and a changed
// answer is followed: the old address stays allowed within its TTL, then is dropped.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import { setOutsideName } from '../../src/lab/outside-dns.js';
import type { BoxState, LabState, PodState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { distProgram } from '../../src/lib/paths.js';
import type { PolicyStatsObject } from '../../src/api/policy-stats.js';
import type { TraceflowView } from '../../src/controller/client/traceflow-print.js';
import type { FqdnCacheRow } from '../../src/agent/api-server.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { spawnCollect } from '../helpers/spawn.js';
import { eventually, newLab, removeLab, seinectl } from './lab-fixture.js';

const POLICY = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: fqdn-client}
spec:
  priority: 5
  tier: application
  appliedTo:
    - podSelector: {matchLabels: {role: fqdn-client}}
  egress:
    - action: Allow
      name: allow-dns
      to: [{ipBlock: {cidr: 172.31.254.10/32}}]
      ports: [{protocol: UDP, port: 53}]
    - action: Allow
      name: allow-allowed
      enableLogging: true
      to: [{fqdn: allowed.seine.test}]
      ports: [{protocol: TCP, port: 8080}]
    - action: Reject
      name: reject-denied
      to: [{fqdn: "*DENIED.seine.test"}]
    - action: Drop
      name: drop-rest
`;

const A = '172.31.254.11';
const B = '172.31.254.12';
const C = '172.31.254.13';

type Step =
  | { resolve: string }
  | { connect: string; port: number; timeoutMs?: number } // '@': the first address of the last answer
  | { waitFile: string }
  | { sleepUntilMs: number }; // since the first step
interface StepResult { step: Step; atMs: number; ms: number; addresses?: string[]; ttl?: number; error?: string; result?: string }

// One Node process in the pod's namespace runs the steps in order and prints what each did.
const CLIENT = String.raw`
const dns = require('dns'), net = require('net'), fs = require('fs');
const [server, steps] = [process.argv[1], JSON.parse(process.argv[2])];
const r = new dns.promises.Resolver({ timeout: 2000, tries: 1 });
r.setServers([server]);
const out = [], t0 = performance.now();
(async () => {
  let last = [];
  for (const step of steps) {
    const s = performance.now(), o = { step, atMs: s - t0 };
    if (step.resolve) {
      try { const a = await r.resolve4(step.resolve, { ttl: true }); last = a.map((x) => x.address); o.addresses = last; o.ttl = a[0] && a[0].ttl; }
      catch (e) { last = []; o.error = e.code; }
    } else if (step.connect) {
      const host = step.connect === '@' ? last[0] : step.connect;
      o.result = host ? await new Promise((res) => {
        const c = net.connect({ host, port: step.port });
        const done = (x) => { c.destroy(); res(x); };
        c.setTimeout(step.timeoutMs || 1500, () => done('timeout'));
        c.on('connect', () => done('connected')); c.on('error', (e) => done(e.code));
      }) : 'no address';
      o.step = { ...step, connect: host };
    } else if (step.waitFile) {
      while (!fs.existsSync(step.waitFile)) await new Promise((r) => setTimeout(r, 10));
    } else if (step.sleepUntilMs) {
      await new Promise((r) => setTimeout(r, Math.max(0, step.sleepUntilMs - (performance.now() - t0))));
    }
    o.ms = performance.now() - s;
    out.push(o);
  }
  console.log(JSON.stringify(out));
})();
`;

describe('fqdn egress peers (1 box, lab DNS)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  const pod = (name: string): PodState => state.pods.find((p) => p.name === name)!;
  const box1 = (): BoxState => state.boxes[0]!;
  const dnsIP = () => state.outside!.dns!.ip;
  let plainLookupMs = NaN;

  const client = async (p: PodState, steps: Step[]): Promise<StepResult[]> => {
    const r = await run('ip', ['netns', 'exec', p.netns, process.execPath, '-e', CLIENT, dnsIP(), JSON.stringify(steps)], { allowFailure: true });
    assert.ok(r.stdout.trim().startsWith('['), `client printed no result: ${r.stdout} ${r.stderr}`);
    return JSON.parse(r.stdout) as StepResult[];
  };
  const show = (rs: StepResult[]) => rs.map((x) => `${JSON.stringify(x.step)} @${Math.round(x.atMs)}ms → ${x.addresses ? x.addresses.join(',') : x.result ?? x.error ?? 'ok'} (${Math.round(x.ms)} ms)`).join('\n');
  const npLog = async () => (await readFile(path.join(box1().ovsDir, 'agent', 'networkpolicy', 'np.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const localSeinectl = (args: string[]) => spawnCollect(process.execPath, [distProgram('cli/seinectl.js'), '--local', '--agent-socket', path.join(box1().ovsDir, 'agent-api.sock'), ...args]);
  const cache = async (): Promise<FqdnCacheRow[]> => {
    const r = await localSeinectl(['get', 'fqdncache', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as FqdnCacheRow[];
  };

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'iptables', 'dnsmasq');
    lab = await newLab('fqdn');
    await lab.up(specFromFlags(1, 2));
    await lab.labelPod({ namespace: 'default', name: 'box1-pod1' }, [{ key: 'role', value: 'fqdn-client' }]);
    state = await lab.current();
    server = state.controller!.url;
    assert.ok(state.outside?.dns, 'the lab has its DNS server');
    const file = path.join(lab.dir, 'fqdn.yaml');
    await writeFile(file, POLICY);
    const r = await seinectl(server, ['apply', '-f', file]);
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('is Realized 1/1 (fqdn peers are no longer refused)', async () => {
    await eventually('fqdn-client Realized 1/1', async () => {
      const r = await seinectl(server, ['get', 'acnp', 'fqdn-client', '-o', 'json']);
      const s = r.code === 0 ? (JSON.parse(r.stdout) as { status?: { phase: string; currentNodesRealized: number; desiredNodesRealized: number } }).status : undefined;
      return s?.phase === 'Realized' && s.currentNodesRealized === 1 && s.desiredNodesRealized === 1;
    }, 30_000);
  });

  it('seine lab outside dns lists the names the lab DNS server answers', async () => {
    const r = await spawnCollect(process.execPath, [distProgram('cli/seine.js'), 'lab', 'outside', 'dns'], { env: { ...process.env, SEINE_LAB_DIR: lab!.dir } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `dns 172.31.254.10:53, TTL 4 s:\nallowed.seine.test  ${A}\ndenied.seine.test  ${B}\n`);
  });

  it('before the pod resolved a name, its address is dropped; another pod resolving it teaches the box nothing', async () => {
    const other = await client(pod('box1-pod2'), [{ resolve: 'allowed.seine.test' }, { connect: '@', port: 8080 }]);
    assert.deepEqual(other.map((x) => x.addresses ?? x.result), [[A], 'connected'], `box1-pod2 (no policy):\n${show(other)}`);
    plainLookupMs = other[0]!.ms;
    const rs = await client(pod('box1-pod1'), [{ connect: A, port: 8080 }]);
    assert.equal(rs[0]!.result, 'timeout', show(rs));
  });

  it('a resolved name is allowed at once: the first connection right after the answer passes without a SYN retransmit, to that address only', async () => {
    const rs = await client(pod('box1-pod1'), [{ resolve: 'allowed.seine.test' }, { connect: '@', port: 8080 }, { connect: B, port: 8080 }]);
    assert.deepEqual(rs[0]!.addresses, [A], show(rs));
    assert.ok(rs[0]!.ttl! <= 4, `TTL ${rs[0]!.ttl}`);
    // What holding the answer until the flows are in costs the pod's lookup.
    console.log(`      lookup with a new address held until the flows are in: ${rs[0]!.ms.toFixed(1)} ms (box1-pod2, no fqdn rule: ${plainLookupMs.toFixed(1)} ms); first connect ${rs[1]!.ms.toFixed(1)} ms`);
    assert.equal(rs[1]!.result, 'connected', show(rs));
    assert.ok(rs[1]!.ms < 900, `the first connection took ${Math.round(rs[1]!.ms)} ms: its first SYN was lost (the kernel retransmits after 1 s)\n${show(rs)}`);
    assert.equal(rs[2]!.result, 'timeout', `the other name's address, not resolved: dropped\n${show(rs)}`);
  });

  it('a wildcard Reject rule matches names case-insensitively: the resolved address is refused at once', async () => {
    const rs = await client(pod('box1-pod1'), [{ resolve: 'DENIED.Seine.Test' }, { connect: '@', port: 8080 }]);
    assert.deepEqual(rs[0]!.addresses, [B], show(rs));
    assert.equal(rs[1]!.result, 'ECONNREFUSED', show(rs));
  });

  it('seinectl --local get fqdncache shows the learned names → addresses with their expiry (antctl get fqdncache)', async () => {
    const rs = await client(pod('box1-pod1'), [{ resolve: 'allowed.seine.test' }]);
    const now = Date.now();
    const rows = await cache();
    const row = rows.find((r) => r.fqdnName === 'allowed.seine.test');
    assert.equal(row?.ipAddress, A, `${JSON.stringify(rows)}\n${show(rs)}`);
    const left = Date.parse(row.expirationTime) - now;
    assert.ok(left > 0 && left <= 4000 + 500, `expires in ${left} ms (TTL 4 s)`);
    const table = await localSeinectl(['get', 'fqdncache', '*.seine.test']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^FQDN\s+ADDRESS\s+EXPIRATION TIME\n/);
    assert.match(table.stdout, /allowed\.seine\.test\s+172\.31\.254\.11\s+\d{4}-/);
    const remote = await seinectl(server, ['get', 'fqdncache']);
    assert.notEqual(remote.code, 0);
    assert.match(remote.stderr, /seinectl --local get fqdncache/);
  });

  it('np.log and the rule stats name the fqdn rule', async () => {
    const re = new RegExp(`AntreaPolicyEgressRule AntreaClusterNetworkPolicy:fqdn-client allow-allowed Egress Allow \\d+ default/box1-pod1 ${pod('box1-pod1').ip!.replace(/\./g, '\\.')} \\d+ ${A.replace(/\./g, '\\.')} 8080 TCP`);
    assert.ok((await npLog()).some((l) => re.test(l)), (await npLog()).join('\n'));
    const stats = async (rule: string) => {
      const r = await seinectl(server, ['get', 'acnpstats', 'fqdn-client', '-o', 'json']);
      return r.code === 0 ? (JSON.parse(r.stdout) as PolicyStatsObject).ruleTrafficStats?.find((x) => x.name === rule)?.trafficStats : undefined;
    };
    await eventually('allow-allowed and reject-denied counted', async () => ((await stats('allow-allowed'))?.sessions ?? 0) >= 1 && ((await stats('reject-denied'))?.packets ?? 0) >= 1, 15_000);
  });

  it('Traceflow to the resolved address names the fqdn rule', async () => {
    // The pod keeps resolving the name while the trace runs: its address stays within its TTL.
    const keep = spawn('ip', ['netns', 'exec', pod('box1-pod1').netns, process.execPath, '-e', CLIENT, dnsIP(),
      JSON.stringify(Array.from({ length: 30 }, (_, i) => [{ resolve: 'denied.seine.test' }, { sleepUntilMs: (i + 1) * 500 }]).flat())], { stdio: 'ignore' });
    try {
      await eventually('denied.seine.test in the cache', async () => (await cache()).some((r) => r.fqdnName === 'denied.seine.test'), 5000);
      const r = await seinectl(server, ['traceflow', '--source', 'default/box1-pod1', '--destination', B, '--protocol', 'tcp', '--port', '8080', '-o', 'json']);
      const tf = JSON.parse(r.stdout) as TraceflowView;
      const o = tf.status!.results!.at(-1)!.observations.at(-1)!;
      assert.deepEqual([o.component, o.action, o.networkPolicy, o.networkPolicyRule], ['NetworkPolicy', 'Rejected', 'AntreaClusterNetworkPolicy:fqdn-client', 'reject-denied'], JSON.stringify(tf.status));
    } finally {
      keep.kill();
    }
  });

  it('an agent restart keeps what the pods resolved: the cache is saved, read back and in the flows before the first sync', async () => {
    const file = path.join(box1().ovsDir, 'agent', 'fqdn-cache.json');
    await client(pod('box1-pod1'), [{ resolve: 'allowed.seine.test' }]);
    let saved: { version: number; entries: { fqdn: string; address: string; expiresAt: number }[] } | undefined;
    await eventually('the agent saved allowed.seine.test', async () => {
      saved = JSON.parse(await readFile(file, 'utf8').catch(() => '{"entries":[]}')) as typeof saved;
      return !!saved?.entries.some((e) => e.fqdn === 'allowed.seine.test' && e.address === A);
    }, 5000);
    // The restart takes longer than the lab's 4 s TTL: the entry is given two minutes while the
    // agent is down, as fqdnCacheMinTTL would have.
    await lab!.restartAgent('box1', {
      crash: true,
      whileDown: async () => {
        const entries = saved!.entries.filter((e) => e.fqdn === 'allowed.seine.test').map((e) => ({ ...e, expiresAt: Date.now() + 120_000 }));
        await writeFile(file, JSON.stringify({ version: 1, entries }));
      },
    });
    state = await lab!.current();
    const rs = await client(pod('box1-pod1'), [{ connect: A, port: 8080 }]);
    assert.equal(rs[0]!.result, 'connected', `no new lookup after the restart\n${show(rs)}`);
    assert.deepEqual((await cache()).filter((r) => r.fqdnName === 'allowed.seine.test').map((r) => r.ipAddress), [A]);
    // Back to the lab's TTL for what follows: a restart with the saved cache emptied while down.
    await lab!.restartAgent('box1', { whileDown: () => writeFile(file, JSON.stringify({ version: 1, entries: [] })) });
    state = await lab!.current();
  });

  it('follows a changed answer: the new address is allowed at once, the old one until its TTL, then dropped', async () => {
    const go = path.join(lab!.dir, 'fqdn-changed');
    const TTL_MS = state.outside!.dns!.ttl * 1000;
    const steps: Step[] = [
      { resolve: 'allowed.seine.test' }, { connect: '@', port: 8080 }, // t0: A
      { waitFile: go }, // the test points the name at C
      { resolve: 'allowed.seine.test' }, { connect: '@', port: 8080 }, // C, first try
      { connect: A, port: 8080 }, // A: still within the TTL of the first answer
      { sleepUntilMs: TTL_MS + 1500 }, // A's TTL is over (C was answered later)
      { connect: A, port: 8080 }, // dropped now
      { resolve: 'allowed.seine.test' }, { connect: '@', port: 8080 }, // C again
    ];
    const result = client(pod('box1-pod1'), steps);
    try {
      await eventually('the first answer is in the cache', async () => (await cache()).some((r) => r.fqdnName === 'allowed.seine.test' && r.ipAddress === A), 5000);
      await setOutsideName(state, 'allowed.seine.test', C);
      await writeFile(go, '');
      const rs = await result;
      const text = show(rs);
      assert.deepEqual(rs[0]!.addresses, [A], text);
      assert.deepEqual(rs[3]!.addresses, [C], text);
      assert.equal(rs[4]!.result, 'connected', text);
      assert.ok(rs[4]!.ms < 900, `first connection to the new address took ${Math.round(rs[4]!.ms)} ms\n${text}`);
      assert.ok(rs[5]!.atMs < TTL_MS, `the check of the old address came after its TTL (load?)\n${text}`);
      assert.equal(rs[5]!.result, 'connected', `the old address within its TTL\n${text}`);
      assert.equal(rs[7]!.result, 'timeout', `the old address after its TTL\n${text}`);
      assert.deepEqual(rs[8]!.addresses, [C], text);
      assert.equal(rs[9]!.result, 'connected', text);
      assert.deepEqual((await cache()).filter((r) => r.fqdnName === 'allowed.seine.test').map((r) => r.ipAddress), [C]);
    } finally {
      if (existsSync(go)) await setOutsideName(state, 'allowed.seine.test', A);
      else await writeFile(go, '');
      await result.catch(() => undefined);
    }
  });
});
