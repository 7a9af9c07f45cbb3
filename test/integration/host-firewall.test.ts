// Host firewall on a real lab (Antrea's NodeNetworkPolicy): an ACNP with `appliedTo:
// nodeSelector` goes only to the box it selects and lands in that box's iptables. A pod's TCP
// connection to a listener in its own box's host namespace is dropped (a timeout, not a refusal)
// while the policy drops every ingress and egress connection of the host, and allowed again when
// the policy goes. Meanwhile the box stays online: a policy applied after is Realized there, and
// an agent killed and restarted under the drop reconnects to the controller (the exemption) with
// the rules enforced throughout (never flushed at start). The dropped attempts show in
// acnpstats and as np.log lines (NFLOG). The lab's boxes reach their controller over a unix
// socket, so the exemption for the controller's address is tested on two bare namespaces: a new
// TCP connection to it passes a drop-everything egress rule, one to another address does not;
// Reject refuses, Drop times out. On a WireGuard lab the overlay exemption is shown to carry the
// encrypted link through a drop-everything host policy.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { agentFiles } from '../../src/lab/agent-process.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { BoxState, LabState, PodState } from '../../src/lab/state.js';
import type { PolicyStatsObject } from '../../src/api/policy-stats.js';
import { run, runInNetns } from '../../src/lib/exec.js';
import { sleep } from '../../src/lib/process.js';
import { HostFirewall } from '../../src/agent/policy/host-firewall.js';
import type { HostRule } from '../../src/policy/compute/host.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { eventually, newLab, reachable, removeLab, seinectl } from './lab-fixture.js';
import { WIREGUARD_DEFAULT_PORT } from '../../src/api/wireguard.js';
import { Traffic, type Verdict } from './traffic.js';

const PORT = 9999;

const hostDrop = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: host-drop}
spec:
  priority: 5
  tier: securityops
  appliedTo:
    - nodeSelector: {matchLabels: {kubernetes.io/hostname: box1}}
  ingress:
    - name: drop-all-in
      action: Drop
      enableLogging: true
      logLabel: hostfw
  egress:
    - name: drop-all-out
      action: Drop
`;

const hostAllowSsh = (generation: number) => `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: host-ssh}
spec:
  priority: ${generation}
  tier: emergency
  appliedTo:
    - nodeSelector: {matchLabels: {kubernetes.io/hostname: box1}}
  ingress:
    - name: allow-ssh
      action: Allow
      ports: [{protocol: TCP, port: 22}]
`;

interface Got { metadata: { generation: number }; status?: { phase: string; observedGeneration: number; currentNodesRealized: number; desiredNodesRealized: number } }

describe('host firewall: a nodeSelector ACNP in the box\'s iptables (lab)', function () {
  this.timeout(300_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  let traffic: Traffic;
  const box = (name: string) => state.boxes.find((b) => b.name === name)!;
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;
  /** One TCP connection attempt from a pod to its own box's host (the gateway address). */
  const toHost = async (from: PodState, b: BoxState): Promise<Verdict> => {
    const r = await run('ip', ['netns', 'exec', from.netns, '/usr/bin/python3', path.join(lab!.dir, 'probe.py'), 'tcp', b.gatewayIP, String(PORT), '1'], { allowFailure: true });
    return (r.stdout.trim().split(' ')[0] || `error ${r.stderr}`) as Verdict;
  };
  const get = async (name: string): Promise<Got> => {
    const r = await seinectl(server, ['get', 'acnp', name, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Got;
  };
  const realized = (name: string, generation: number) => eventually(`${name} generation ${generation} Realized 1/1`, async () => {
    const s = (await get(name)).status;
    return s?.phase === 'Realized' && s.observedGeneration === generation && s.currentNodesRealized === 1 && s.desiredNodesRealized === 1;
  }, 30_000);
  const online = async (node: string) => {
    const r = await seinectl(server, ['get', 'nodes', '-o', 'json']);
    const nodes = JSON.parse(r.stdout) as { name: string; online: boolean }[] | { items: { name: string; online: boolean }[] };
    return (Array.isArray(nodes) ? nodes : nodes.items).some((n) => n.name === node && n.online);
  };
  const apply = async (file: string, text: string) => {
    await writeFile(path.join(lab!.dir, file), text);
    const r = await seinectl(server, ['apply', '-f', path.join(lab!.dir, file)]);
    assert.equal(r.code, 0, r.stderr);
  };
  const ruleStats = async (rule: string) => {
    const r = await seinectl(server, ['get', 'acnpstats', 'host-drop', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as PolicyStatsObject).ruleTrafficStats?.find((x) => x.name === rule)?.trafficStats ?? { packets: 0, bytes: 0, sessions: 0 };
  };
  const npLog = async (b: BoxState) => (await readFile(path.join(agentFiles(b).stateDir, 'networkpolicy', 'np.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const iptablesSave = async (b: BoxState) => (await run('ip', ['netns', 'exec', b.netns, 'iptables-save', '-t', 'filter'])).stdout;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping', 'iptables', 'native');
    lab = await newLab('hostfw');
    await lab.up(specFromFlags(2, 1));
    state = await lab.current();
    server = state.controller!.url;
    traffic = new Traffic(lab);
    await traffic.install();
    // A listener in each box's host namespace (a lab process: lab down stops it).
    for (const b of state.boxes) {
      await lab.startProcess({ role: 'host-listener', box: b.name, command: '/usr/bin/python3', args: ['-u', path.join(lab.dir, 'echo-server.py'), String(PORT), ''] });
    }
    await eventually('host listeners answer', async () => (await toHost(pod('box1-pod1'), box('box1'))) === 'allowed' && (await toHost(pod('box2-pod1'), box('box2'))) === 'allowed');
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('drops a pod\'s connection to its own box\'s host on the selected box only; Realized 1/1 (desired: the box the nodeSelector picks)', async () => {
    await apply('host-drop.yaml', hostDrop);
    await eventually('box1-pod1 → box1 host dropped', async () => (await toHost(pod('box1-pod1'), box('box1'))) === 'dropped', 20_000);
    assert.equal(await toHost(pod('box2-pod1'), box('box2')), 'allowed', 'box2 is not selected');
    await realized('host-drop', 1);
    const rules = await iptablesSave(box('box1'));
    assert.match(rules, /^-A INPUT -j SEINE-HOST-INPUT$/m);
    assert.match(rules, /^-A SEINE-POL-INGRESS-RULES -m comment --comment "seine-[0-9a-f]{12} acnp:host-drop ingress\[0\]" -j DROP$/m);
    assert.doesNotMatch(await iptablesSave(box('box2')), /SEINE-POL/, 'nothing on box2');
  });

  it('keeps the box online under a drop-everything rule: a policy applied after is Realized there', async () => {
    assert.ok(await online('box1'), 'box1 online');
    await apply('host-ssh.yaml', hostAllowSsh(1));
    await realized('host-ssh', 1);
    assert.equal(await toHost(pod('box1-pod1'), box('box1')), 'dropped', 'port 9999 still dropped');
  });

  it('counts the dropped attempts in acnpstats and logs them in np.log (NFLOG)', async () => {
    const before = await ruleStats('drop-all-in');
    const logBefore = (await npLog(box('box1'))).length;
    const attempts = 3;
    for (let i = 0; i < attempts; i++) assert.equal(await toHost(pod('box1-pod1'), box('box1')), 'dropped');
    // Each attempt is a SYN and its retransmissions, every one a new connection's packet.
    await eventually(`acnpstats drop-all-in grows by >= ${attempts} sessions`, async () => (await ruleStats('drop-all-in')).sessions - before.sessions >= attempts, 15_000);
    const after = await ruleStats('drop-all-in');
    assert.equal(after.sessions, after.packets, 'sessions = packets for a host rule');
    assert.ok(after.bytes >= after.packets * 40, `bytes ${after.bytes} for ${after.packets} packets`);
    await eventually('np.log lines for the attempts', async () => (await npLog(box('box1'))).length > logBefore, 10_000);
    const lines = (await npLog(box('box1'))).slice(logBefore);
    const re = new RegExp(`^\\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{6} SEINE-POL-INGRESS-RULES AntreaClusterNetworkPolicy:host-drop drop-all-in Ingress Drop <nil> box1 ${pod('box1-pod1').ip!.replace(/\./g, '\\.')} \\d+ ${box('box1').gatewayIP.replace(/\./g, '\\.')} ${PORT} TCP 60 hostfw`);
    assert.ok(lines.some((l) => re.test(l)), lines.join('\n'));
  });

  it('a killed agent restarts under the drop: enforced while it is down, reconnects to the controller, takes a new change', async () => {
    let whileDown: Verdict | undefined;
    await lab!.restartAgent('box1', { crash: true, whileDown: async () => void (whileDown = await toHost(pod('box1-pod1'), box('box1'))) });
    assert.equal(whileDown, 'dropped', 'enforced with no agent running');
    assert.equal(await toHost(pod('box1-pod1'), box('box1')), 'dropped', 'enforced after the restart');
    await apply('host-ssh.yaml', hostAllowSsh(2));
    await realized('host-ssh', 2);
    assert.ok(await online('box1'), 'box1 online');
  });

  it('allows the connection again when the policy goes; the chains stay, empty of rules', async () => {
    for (const name of ['host-drop', 'host-ssh']) {
      const r = await seinectl(server, ['delete', 'acnp', name]);
      assert.equal(r.code, 0, r.stderr);
    }
    await eventually('box1-pod1 → box1 host allowed again', async () => (await toHost(pod('box1-pod1'), box('box1'))) === 'allowed', 20_000);
    assert.doesNotMatch(await iptablesSave(box('box1')), /acnp:host-/);
  });
});

/** One TCP connect from a namespace: allowed (connected), rejected (refused) or dropped (timeout). */
const PROBE = `
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print('allowed')
except socket.timeout: print('dropped')
except OSError as e: print('rejected', e.errno)
`;
const LISTEN = `
import socket, sys, threading
def serve(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', port)); s.listen(16)
    while True:
        c, _ = s.accept(); c.close()
for p in sys.argv[1:]: threading.Thread(target=serve, args=(int(p),), daemon=True).start()
print('listening', flush=True)
threading.Event().wait()
`;

describe('host firewall: the controller exemption, Reject and Drop on bare namespaces', function () {
  this.timeout(60_000);
  const tag = `hfw${process.pid}`;
  const box = `${tag}-box`;
  const peer = `${tag}-peer`;
  const children: ChildProcess[] = [];
  let dir = '';
  const inNs = (ns: string, cmd: string, args: string[]) => run('ip', ['netns', 'exec', ns, cmd, ...args], { allowFailure: true });
  const connect = async (ns: string, ip: string, port: number) => (await inNs(ns, '/usr/bin/python3', ['-c', PROBE, ip, String(port)])).stdout.trim().split(' ')[0];
  const listen = async (ns: string, ports: number[]) => {
    const child = spawn('ip', ['netns', 'exec', ns, '/usr/bin/python3', '-u', '-c', LISTEN, ...ports.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`listener in ${ns} exited ${code}`)));
    });
  };
  const rule = (over: Partial<HostRule>): HostRule => ({
    id: 'r', policy: { kind: 'AntreaClusterNetworkPolicy', name: 'bare', uid: 'ClusterNetworkPolicy.crd.antrea.io//bare' }, ruleName: 'r', direction: 'ingress', ruleIndex: 0,
    action: 'Drop', baseline: false, tier: 'application', order: { tierPriority: 250, policyPriority: 1, ruleIndex: 0 }, enableLogging: false, ...over,
  });
  let fw: HostFirewall;

  before(async () => {
    requirePrereqs('root', 'ip', 'iptables');
    dir = await mkdtemp(`/tmp/sl-${tag}-`);
    await run('ip', ['netns', 'add', box]);
    await run('ip', ['netns', 'add', peer]);
    await run('ip', ['-n', box, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'b0', 'netns', peer]);
    await run('ip', ['-n', box, 'addr', 'add', '10.99.0.1/24', 'dev', 'a0']);
    await run('ip', ['-n', peer, 'addr', 'add', '10.99.0.2/24', 'dev', 'b0']);
    await run('ip', ['-n', peer, 'addr', 'add', '10.99.0.3/24', 'dev', 'b0']);
    for (const [ns, dev] of [[box, 'a0'], [peer, 'b0']] as const) {
      await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await listen(peer, [7000]);
    await listen(box, [7001, 7002, 7003]);
    fw = new HostFirewall({ exemptions: async () => [{ ip: '10.99.0.2', what: 'controller' }], exec: (cmd, args, opts) => runInNetns(box, cmd, args, opts) });
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await sleep(100);
    await run('ip', ['netns', 'del', box], { allowFailure: true });
    await run('ip', ['netns', 'del', peer], { allowFailure: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a drop-everything egress rule leaves new connections to the controller\'s address open, and only those', async () => {
    assert.equal(await connect(box, '10.99.0.3', 7000), 'allowed', 'open before any rule');
    await fw.apply([rule({ direction: 'egress', ruleName: 'drop-all-out' })]);
    assert.equal(await connect(box, '10.99.0.2', 7000), 'allowed', 'the controller\'s address');
    assert.equal(await connect(box, '10.99.0.3', 7000), 'dropped', 'any other address');
    assert.equal(await connect(peer, '10.99.0.1', 7001), 'allowed', 'ingress untouched; the replies are established');
  });

  it('Reject refuses, Drop times out, other ports pass; the counters count the attempts', async () => {
    await fw.apply([
      rule({ id: 'rej', ruleName: 'reject-7001', action: 'Reject', services: [{ protocol: 'TCP', port: 7001 }] }),
      rule({ id: 'drop', ruleName: 'drop-7002', ruleIndex: 1, services: [{ protocol: 'TCP', port: 7002 }], cidrs: ['10.99.0.0/24'] }),
    ]);
    assert.equal(await connect(peer, '10.99.0.1', 7001), 'rejected');
    assert.equal(await connect(peer, '10.99.0.1', 7002), 'dropped');
    assert.equal(await connect(peer, '10.99.0.1', 7003), 'allowed');
    assert.equal(await connect(box, '10.99.0.3', 7000), 'allowed', 'the egress rule is gone');
    const stats = new Map((await fw.stats()).map((s) => [s.ruleName, s]));
    assert.equal(stats.get('reject-7001')?.packets, 1, 'one SYN, answered by a RST');
    assert.ok((stats.get('drop-7002')?.packets ?? 0) >= 1, 'the SYN and its retransmissions');
  });
});

// The overlay exemption on a WireGuard lab: WireGuard's UDP passes the box's INPUT and OUTPUT
// (wireguard-go's socket, as a kernel device's would), so without the exemption a drop-all host
// policy would cut the box's pods off the other box once conntrack forgets the session.
describe('host firewall: the overlay stays open under a drop-everything host policy (WireGuard lab)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  const box = (name: string) => state.boxes.find((b) => b.name === name)!;
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping', 'iptables', 'native', 'wireguard', 'conntrack');
    lab = await newLab('hfwwg');
    state = await lab.up(specFromFlags(2, 1, 'geneve', false, 'direct', 'wireguard'));
    server = state.controller!.url;
    await eventually('box2-pod1 reaches box1-pod1 over WireGuard', () => reachable(pod('box2-pod1'), pod('box1-pod1').ip!), 20_000);
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('pods on both boxes keep reaching each other with box1 dropping every new host connection; the exemption lines carry WireGuard', async () => {
    await writeFile(path.join(lab!.dir, 'host-drop.yaml'), hostDrop);
    const r = await seinectl(server, ['apply', '-f', path.join(lab!.dir, 'host-drop.yaml')]);
    assert.equal(r.code, 0, r.stderr);
    await eventually('host-drop Realized on box1', async () => {
      const got = await seinectl(server, ['get', 'acnp', 'host-drop', '-o', 'json']);
      const s = (JSON.parse(got.stdout) as Got).status;
      return s?.phase === 'Realized' && s.currentNodesRealized === 1;
    }, 30_000);
    const save = async () => (await run('ip', ['netns', 'exec', box('box1').netns, 'iptables-save', '-c', '-t', 'filter'])).stdout;
    assert.match(await save(), /-A SEINE-POL-INGRESS-RULES .*acnp:host-drop ingress\[0\]" -j DROP/);
    // Forget box1's WireGuard session in conntrack: its next packet is a new connection, which
    // only the exemption lets through (without it, it meets the drop-all rules).
    // Forgotten before each direction, so the first packet of each is new on box1: coming in, then going out.
    const forget = () => run('ip', ['netns', 'exec', box('box1').netns, 'conntrack', '-D', '-p', 'udp', '--orig-port-dst', String(WIREGUARD_DEFAULT_PORT)], { allowFailure: true });
    await forget();
    assert.ok(await reachable(pod('box2-pod1'), pod('box1-pod1').ip!), 'box2-pod1 → box1-pod1 across the encrypted link');
    await forget();
    assert.ok(await reachable(pod('box1-pod1'), pod('box2-pod1').ip!), 'box1-pod1 → box2-pod1 across the encrypted link');
    const saved = await save();
    const counted = (chain: string) => Number(new RegExp(`^\\[(\\d+):\\d+\\] -A ${chain} -p udp -m udp --dport ${WIREGUARD_DEFAULT_PORT} -m comment --comment "seine: wireguard" -j ACCEPT$`, 'm').exec(saved)?.[1] ?? -1);
    assert.ok(counted('SEINE-HOST-INPUT') > 0, `no WireGuard packet counted in by the exemption:\n${saved}`);
    assert.ok(counted('SEINE-HOST-OUTPUT') > 0, `no WireGuard packet counted out by the exemption:\n${saved}`);
  });
});
