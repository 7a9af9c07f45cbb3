// WireGuard between boxes (issue 21) on a real lab: wireguard-go per box, the agents' keys on
// their Node annotations, pod traffic routed into the device. Proves: a box added later joins
// without touching the others; every pod pair reaches each other; the underlay carries only
// WireGuard UDP (a 1 MB marker sent between pods never appears in a capture of the underlay
// bridge, taken with dumpcap, tshark's capture engine); the flow exporter records that connection
// on both boxes with its pods; Traceflow's WireGuard hop; a Service and a NetworkPolicy across the
// link; a pod egressing through an Egress IP box2 holds, the hop to box2 encrypted; the agent
// starting wireguard-go itself (by PID, adopted after a kill -9); an agent kill -9 loses no packet and keeps the key; an
// agent with encryption turned off leaves nothing of WireGuard on its box.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WIREGUARD_DEFAULT_PORT } from '../../src/api/wireguard.js';
import { privateKeyFile } from '../../src/agent/wireguard/keys.js';
import { uapiSocket } from '../../src/agent/wireguard/uapi.js';
import { runningUserspace } from '../../src/agent/wireguard/userspace.js';
import { FlowStore } from '../../src/agent/flows/store.js';
import { FlowRecordSchema, type FlowRecord } from '../../src/api/flow-record.js';
import { WIREGUARD_ROLE } from '../../src/lab/wireguard.js';
import { PREF_POD, WG_EGRESS_DEV, WG_EGRESS_PORT } from '../../src/agent/egress/wireguard-path.js';
import { SEINE_ROUTE_PROTO } from '../../src/agent/route/node-routes.js';
import { parse, stringify } from 'yaml';
import { seenFromOutside } from './outside-client.js';
import { agentFiles, waitAgentReady } from '../../src/lab/agent-process.js';
import { spawnDetached } from '../../src/lab/lab-processes.js';
import { distProgram } from '../../src/lib/paths.js';
import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { BoxState, LabState, PodState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { sleep, stopProcesses } from '../../src/lib/process.js';
import { existsSync, statSync } from 'node:fs';
import { requirePrereqs } from '../helpers/prereqs.js';
import { captureIn, countFrames, stopAfterSentinel } from '../helpers/tshark.js';
import type { TraceflowView } from '../../src/controller/client/traceflow-print.js';
import { assertAllReachable, eventually, newLab, pingFlood, pingMatrix, reachable, removeLab, seinectl } from './lab-fixture.js';

/** The device's peers as `wg` shows them: public key → endpoint and allowed IPs. */
async function wgPeers(box: BoxState): Promise<Map<string, { endpoint: string; allowedIPs: string }>> {
  const out = (await run('ip', ['netns', 'exec', box.netns, 'wg', 'show', box.wireGuardDevice!, 'dump'])).stdout.trim().split('\n').slice(1);
  return new Map(out.filter(Boolean).map((l) => l.split('\t')).map((f) => [f[0]!, { endpoint: f[2]!, allowedIPs: f[3]! }]));
}

const MARKER = 'SEINE-WIREGUARD-MARKER-7f3a9c';
const EGRESS_IP = '172.31.250.220';
const EGRESS_MANIFESTS = `apiVersion: crd.antrea.io/v1beta1
kind: ExternalIPPool
metadata: {name: wg-pool}
spec:
  ipRanges: [{start: ${EGRESS_IP}, end: ${EGRESS_IP}}]
  nodeSelector: {matchLabels: {kubernetes.io/hostname: box2}}
---
apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: {name: wg-egress}
spec:
  appliedTo: {podSelector: {matchLabels: {egress: "yes"}}}
  externalIPPool: wg-pool
`;
const MB = 1 << 20;

/** Receives until EOF; prints the byte count and how many markers arrived intact. */
const SINK_PY = String.raw`
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(1)
print('listening', flush=True)
c, _ = s.accept(); data = bytearray()
while True:
    d = c.recv(65536)
    if not d: break
    data += d
print(len(data), data.count(sys.argv[2].encode()), flush=True)
`;
const SOURCE_PY = String.raw`
import socket, sys
m = sys.argv[3].encode(); n = int(sys.argv[4])
payload = (m * (n // len(m) + 1))[:n]
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20); s.sendall(payload); s.close()
`;

const SENTINEL = 'SEINE-SENTINEL';
const SENTINEL_FILTER = `icmp && frame contains "${SENTINEL}"`;
/** One ping between two boxes' underlay addresses, carrying the sentinel: it ends a capture (stopAfterSentinel). */
const sentinel = (from: BoxState, to: BoxState) =>
  run('ip', ['netns', 'exec', from.netns, 'ping', '-n', '-c', '1', '-W', '1', '-p', Buffer.from(SENTINEL).toString('hex'), to.underlayIP], { allowFailure: true });

/** A counter of the TCP stack in a network namespace (/proc/net/snmp's "Tcp:" lines are per namespace). */
async function tcpCounter(netns: string, name: string): Promise<number> {
  const [names, values] = (await run('ip', ['netns', 'exec', netns, 'cat', '/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Tcp:')).map((l) => l.split(/\s+/));
  const at = names?.indexOf(name) ?? -1;
  if (at < 1 || !values?.[at]) throw new Error(`${netns}: no Tcp ${name} in /proc/net/snmp`);
  return Number(values[at]);
}

/**
 * Sends `bytes` of the marker from one pod to another over TCP; resolves with what the sink counted
 * and how many segments the sender retransmitted (wireguard-go drops packets on a loaded machine,
 * and the sender's conntrack counts every retransmission it sends).
 */
async function sendMarker(from: PodState, to: PodState, bytes: number, port = 5201): Promise<{ received: number; markers: number; retransmitted: number }> {
  const retransBefore = await tcpCounter(from.netns, 'RetransSegs');
  const sink = spawn('ip', ['netns', 'exec', to.netns, 'python3', '-c', SINK_PY, String(port), MARKER]);
  let out = '';
  const done = new Promise<void>((resolve) => sink.on('close', () => resolve()));
  sink.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  try {
    await eventually('the sink listens', async () => out.includes('listening'), 10_000);
    await run('ip', ['netns', 'exec', from.netns, 'python3', '-c', SOURCE_PY, to.ip!, String(port), MARKER, String(bytes)], { timeoutMs: 60_000 });
    await Promise.race([done, sleep(20_000)]);
  } finally {
    sink.kill();
  }
  const m = /(\d+) (\d+)\n/.exec(out);
  if (!m) throw new Error(`the sink printed ${JSON.stringify(out)}`);
  return { received: Number(m[1]), markers: Number(m[2]), retransmitted: (await tcpCounter(from.netns, 'RetransSegs')) - retransBefore };
}

describe('WireGuard between boxes (lab --encryption wireguard)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  /** Segments the sender retransmitted while the marker crossed: the flow-record test allows for them. */
  let markerRetransmitted = 0;
  const box = (name: string) => state.boxes.find((b) => b.name === name)!;
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping', 'iptables', 'arping', 'wireguard', 'dumpcap', 'tshark', 'python3');
    lab = await newLab('wg');
    state = await lab.up(specFromFlags(2, 1, 'geneve', false, 'direct', 'wireguard'));
  });

  after(async () => {
    const devices = state?.boxes.map((b) => b.wireGuardDevice!) ?? [];
    if (lab) await removeLab(lab);
    // wireguard-go removes its socket when it stops: lab down stopped every one of them.
    for (const d of devices) assert.equal(existsSync(uapiSocket(d)), false, `${d}: wireguard-go still running after lab down`);
  });

  it('each box has its own key (0600), published on its Node; each agent configured the others as peers', async () => {
    for (const b of state.boxes) {
      assert.match(b.wireGuardPublicKey ?? '', /^[A-Za-z0-9+/]{43}=$/, `${b.name}: key on its Node`);
      assert.equal(statSync(privateKeyFile(agentFiles(b).stateDir)).mode & 0o777, 0o600);
    }
    const peers = await wgPeers(box('box1'));
    assert.deepEqual(peers.get(box('box2').wireGuardPublicKey!), { endpoint: `${box('box2').underlayIP}:${WIREGUARD_DEFAULT_PORT}`, allowedIPs: box('box2').podCIDR });
  });

  it('a box added later joins the mesh; the other boxes\' config and agents are not touched', async () => {
    const before = await Promise.all(state.boxes.map(async (b) => ({ config: await readFile(agentFiles(b).config, 'utf8'), pids: b.processes.map((p) => p.pid).sort() })));
    await lab!.addBox('box3');
    await lab!.addPod({ namespace: 'default', name: 'box3-pod1', box: 'box3' });
    state = await lab!.current();
    const key3 = box('box3').wireGuardPublicKey!;
    for (const b of ['box1', 'box2']) await eventually(`${b} has box3 as a peer`, async () => (await wgPeers(box(b))).get(key3)?.allowedIPs === box('box3').podCIDR, 15_000);
    const after = await Promise.all(['box1', 'box2'].map(async (n) => ({ config: await readFile(agentFiles(box(n)).config, 'utf8'), pids: box(n).processes.map((p) => p.pid).sort() })));
    assert.deepEqual(after, before);
    assert.equal((await wgPeers(box('box3'))).size, 2, 'box3 knows both others');
  });

  it('every pod pair reaches each other, routed into the WireGuard device, with the pod MTU reduced by 60', async () => {
    await eventually('box1 reaches box3', () => reachable(pod('box1-pod1'), pod('box3-pod1').ip!), 15_000);
    assertAllReachable(await pingMatrix(state), 6);
    const routes = (await run('ip', ['-n', box('box1').netns, 'route', 'show', box('box3').podCIDR])).stdout;
    assert.match(routes, new RegExp(`dev ${box('box1').wireGuardDevice}`));
    const mtu = (await run('ip', ['netns', 'exec', pod('box1-pod1').netns, 'cat', '/sys/class/net/eth0/mtu'])).stdout.trim();
    assert.equal(mtu, '1440');
  });

  it('the underlay carries WireGuard UDP only: a 1 MB marker between pods never appears in a capture', async () => {
    const cap = await captureIn(lab!.names.underlayNetns, lab!.names.underlayBridge, path.join(lab!.dir, 'underlay.pcap'));
    try {
      const r = await sendMarker(pod('box1-pod1'), pod('box2-pod1'), MB);
      markerRetransmitted = r.retransmitted;
      assert.equal(r.received, MB, 'the sink got the whole megabyte');
      assert.ok(r.markers > 30_000, `markers intact at the sink: ${r.markers}`);
    } finally {
      await stopAfterSentinel(cap, () => sentinel(box('box1'), box('box2')), SENTINEL_FILTER);
    }
    const raw = await readFile(cap.file);
    assert.equal(raw.indexOf(MARKER), -1, 'the marker crossed the underlay in the clear');
    const count = (filter: string) => countFrames(cap.file, filter);
    const wg = await count(`udp.port == ${WIREGUARD_DEFAULT_PORT}`);
    assert.ok(wg > MB / 1500, `WireGuard UDP packets on the underlay: ${wg}`);
    assert.equal(await count('ip.addr == 10.42.0.0/16'), 0, 'pod addresses on the underlay');
    assert.equal(await count('geneve || tcp'), 0, 'tunnelled or plain TCP on the underlay');
  });

  it('flow records: the marker connection is recorded on both boxes, with both pods and nodes, as inter-node', async () => {
    const [src, dst] = [pod('box1-pod1'), pod('box2-pod1')];
    const mine = (recs: FlowRecord[]) => recs.filter((r) => r.destinationTransportPort === 5201 && r.sourceIPv4Address === src.ip && r.destinationIPv4Address === dst.ip);
    const recorded = async (b: string) => {
      const store = await FlowStore.open(path.join(agentFiles(box(b)).stateDir, 'flows.db'));
      try {
        return mine(await store.query({ limit: 10_000 }));
      } finally {
        await store.close();
      }
    };
    // The poll (5 s) plus OVS's stats push: the full count shows within a few polls.
    await eventually('the connection on both boxes with its megabyte', async () => {
      for (const b of ['box1', 'box2']) if (!(await recorded(b)).some((r) => r.octetTotalCount >= MB)) return false;
      return true;
    }, 30_000);
    for (const b of ['box1', 'box2']) {
      const [r] = (await recorded(b)).filter((x) => x.octetTotalCount >= MB);
      assert.ok(r, b);
      assert.equal(FlowRecordSchema.safeParse(r).success, true, `${b}: a valid FlowRecord`);
      assert.deepEqual([r.sourcePodNamespace, r.sourcePodName, r.sourceNodeName], ['default', 'box1-pod1', 'box1'], b);
      assert.deepEqual([r.destinationPodNamespace, r.destinationPodName, r.destinationNodeName], ['default', 'box2-pod1', 'box2'], b);
      assert.equal(r.flowType, 2, `${b}: inter-node`);
      assert.equal(r.protocolIdentifier, 6);
      // Pod to pod, not the WireGuard UDP that carried it: the octets are the TCP connection's own,
      // headers and the sender's retransmissions (each at most one underlay MTU) included.
      const bound = MB * 1.1 + markerRetransmitted * 1500;
      assert.ok(r.octetTotalCount < bound, `${b}: ${r.octetTotalCount} octets for 1 MB (${markerRetransmitted} segments retransmitted)`);
    }
  });

  it('Traceflow shows the WireGuard hop (to the peer\'s underlay address) instead of a tunnel hop', async () => {
    const r = await seinectl(state.controller!.url, ['traceflow', '--source', 'default/box1-pod1', '--destination', 'default/box2-pod1', '-o', 'json']);
    const tf = JSON.parse(r.stdout) as TraceflowView;
    assert.equal(tf.status?.phase, 'Succeeded', r.stdout + r.stderr);
    const [sender, receiver] = tf.status!.results!;
    const hop = sender!.observations.at(-1)!;
    assert.deepEqual([hop.component, hop.componentInfo, hop.action, hop.tunnelDstIP], ['Forwarding', 'WireGuard', 'Forwarded', box('box2').underlayIP]);
    assert.deepEqual([receiver!.node, receiver!.observations[0]!.componentInfo, receiver!.observations[0]!.action], ['box2', 'WireGuard', 'Received']);
    assert.deepEqual([receiver!.observations.at(-1)!.action, receiver!.observations.at(-1)!.pod], ['Delivered', 'default/box2-pod1']);
  });

  it('a NetworkPolicy and a ClusterIP Service keep working across the encrypted link', async () => {
    const server = state.controller!.url;
    const [client, web] = [pod('box1-pod1'), pod('box2-pod1')];
    // Service: box2-pod1 behind a ClusterIP; box1-pod1 connects through it (DNAT in box1's OVS, then WireGuard).
    await lab!.labelPod({ namespace: 'default', name: web.name }, [{ key: 'app', value: 'wg-web' }]);
    const svc = await lab!.addService({ namespace: 'default', name: 'wg-web', type: 'ClusterIP', selector: { app: 'wg-web' }, ports: [{ name: '', port: 80, targetPort: 8080, protocol: 'TCP' }], trafficPolicy: 'Cluster' });
    const listener = spawn('ip', ['netns', 'exec', web.netns, 'python3', '-c', 'import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(("0.0.0.0",8080));s.listen(8)\nwhile True: s.accept()[0].close()'], { stdio: 'ignore' });
    const closed = new Promise((r) => listener.once('close', r));
    try {
      const connects = () => run('ip', ['netns', 'exec', client.netns, 'nc', '-z', '-w', '2', svc.clusterIP, '80'], { allowFailure: true }).then((r) => r.code === 0);
      await eventually(`box1-pod1 connects to ${svc.clusterIP}:80 (box2-pod1:8080)`, connects, 15_000);
    } finally {
      listener.kill();
      await closed;
    }
    // Policy: deny all ingress in default isolates box2-pod1 from box1-pod1 across the link, and lifting it restores it.
    const file = path.join(lab!.dir, 'deny.yaml');
    await writeFile(file, 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all-ingress, namespace: default}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n');
    assert.equal((await seinectl(server, ['apply', '-f', file])).code, 0);
    await eventually('cross-box ping dropped by the policy', async () => !(await reachable(client, web.ip!)), 20_000);
    assert.equal((await seinectl(server, ['delete', '-f', file])).code, 0);
    await eventually('cross-box ping allowed again', () => reachable(client, web.ip!), 20_000);
  });

  it('Egress through an IP held by box2: box1\'s pod is seen outside as the Egress IP, the hop to box2 inside WireGuard', async () => {
    const server = state.controller!.url;
    const src = pod('box1-pod1');
    await lab!.labelPod({ namespace: 'default', name: src.name }, [{ key: 'egress', value: 'yes' }]);
    const file = path.join(lab!.dir, 'egress.yaml');
    await writeFile(file, EGRESS_MANIFESTS);
    assert.equal((await seinectl(server, ['apply', '-f', file])).code, 0);
    const egressStatus = async () => (JSON.parse((await seinectl(server, ['get', 'egress', 'wg-egress', '-o', 'json'])).stdout) as { status?: { egressNode?: string; egressIP?: string } }).status;
    await eventually('wg-egress assigned to box2', async () => (await egressStatus())?.egressNode === 'box2', 20_000);
    assert.equal((await egressStatus())?.egressIP, EGRESS_IP);
    // box1 has realized it (its per-pod rule) before the capture starts: no attempt leaves the old way meanwhile.
    const podRule = async () => (await run('ip', ['-n', box('box1').netns, 'rule', 'show', 'pref', String(PREF_POD)])).stdout;
    await eventually('box1 routes box1-pod1 to box2', async () => (await podRule()).includes(`from ${src.ip} lookup`), 20_000);
    // box1's uplink port on the underlay bridge, captured while the pod connects out: what box1 sends toward box2.
    const cap = await captureIn(lab!.names.underlayNetns, box('box1').underlayPort, path.join(lab!.dir, 'box1-uplink.pcap'));
    try {
      await eventually(`the outside sees ${EGRESS_IP} from box1-pod1`, async () => (await seenFromOutside(src.netns, state.outside!)) === EGRESS_IP, 20_000);
      assert.equal(await seenFromOutside(src.netns, state.outside!, 'udp'), EGRESS_IP, 'udp');
    } finally {
      await stopAfterSentinel(cap, () => sentinel(box('box1'), box('box2')), SENTINEL_FILTER);
    }
    const count = (filter: string) => countFrames(cap.file, filter);
    assert.ok((await count(`udp.port == ${WIREGUARD_DEFAULT_PORT}`)) > 0, 'WireGuard UDP from box1');
    assert.equal(await count(`tcp || vxlan || udp.port == ${WG_EGRESS_PORT} || ip.addr == ${state.outside!.ip} || ip.addr == 10.42.0.0/16`), 0, 'the egress hop left box1 in the clear');
    // The pods it does not select, and cluster traffic of the one it does, are not rerouted.
    assert.equal(await seenFromOutside(pod('box2-pod1').netns, state.outside!), box('box2').underlayIP, 'box2-pod1 (not selected)');
    assert.equal(await seenFromOutside(pod('box3-pod1').netns, state.outside!), box('box3').underlayIP, 'box3-pod1 (not selected)');
    for (const to of ['box2-pod1', 'box3-pod1']) assert.ok(await reachable(src, pod(to).ip!), `box1-pod1 reaches ${to}`);
    // Deleted: the pod leaves with its own box's IP again, and box1's per-pod rule is gone.
    assert.equal((await seinectl(server, ['delete', '-f', file])).code, 0);
    await eventually('box1-pod1 leaves with box1\'s IP again', async () => (await seenFromOutside(src.netns, state.outside!)) === box('box1').underlayIP, 20_000);
    assert.equal((await podRule()).trim(), '');
  });

  it('without a device the agent starts wireguard-go itself, recorded by PID; it forwards through an agent kill -9 and the next agent adopts it', async () => {
    const b2 = box('box2');
    const stateDir = agentFiles(b2).stateDir;
    const labWg = b2.processes.find((p) => p.role === WIREGUARD_ROLE)!;
    const devExists = async () => (await run('ip', ['-n', b2.netns, 'link', 'show', b2.wireGuardDevice!], { allowFailure: true })).code === 0;
    assert.equal(runningUserspace(stateDir), undefined, 'the lab started box2\'s wireguard-go, not the agent');
    // While the agent is down the lab's wireguard-go goes, and its device with it: a box without kernel WireGuard at boot.
    await lab!.restartAgent('box2', {
      whileDown: async () => {
        await stopProcesses([labWg]);
        assert.equal(await devExists(), false, 'the device went with the lab\'s wireguard-go');
      },
    });
    const rec = runningUserspace(stateDir);
    assert.ok(rec, 'the agent recorded the wireguard-go it started');
    assert.notEqual(rec.pid, labWg.pid);
    const cmdline = (await readFile(`/proc/${rec.pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
    assert.deepEqual(cmdline.slice(-2), ['-f', b2.wireGuardDevice], cmdline.join(' '));
    assert.match(cmdline[0]!, /wireguard-go$/);
    assert.equal((await run('ip', ['netns', 'identify', String(rec.pid)])).stdout.trim(), b2.netns, 'in the box\'s namespace');
    assert.ok(await devExists());
    // The agent configured the new device: its key, its port and both peers.
    assert.equal((await wgPeers(b2)).size, 2);
    await eventually('box1-pod1 reaches box2-pod1 through the agent\'s wireguard-go', () => reachable(pod('box1-pod1'), pod('box2-pod1').ip!), 20_000);
    const flood = pingFlood(pod('box1-pod1'), pod('box2-pod1').ip!, 120);
    await sleep(1000);
    await lab!.restartAgent('box2', { crash: true });
    const result = await flood;
    assert.equal(result.received, result.sent, `packets lost across the agent restart: ${result.text}`);
    assert.deepEqual(runningUserspace(stateDir), rec, 'the same wireguard-go, adopted by the next agent');
    // lab down stops it by that PID (the after hook checks its socket is gone).
  });

  it('loses no packet across an agent kill -9 under ping -i 0.05, and keeps its key and peers', async () => {
    const b1 = box('box1');
    const keyBefore = await readFile(privateKeyFile(agentFiles(b1).stateDir), 'utf8');
    const peersBefore = await wgPeers(b1);
    const src = pod('box1-pod1');
    const dst = pod('box2-pod1');
    assert.ok(await reachable(src, dst.ip!));
    const flood = pingFlood(src, dst.ip!, 120); // 6 s
    await sleep(1000);
    await lab!.restartAgent('box1', { crash: true });
    const result = await flood;
    assert.equal(result.received, result.sent, `packets lost across the agent restart: ${result.text}`);
    assert.equal(await readFile(privateKeyFile(agentFiles(b1).stateDir), 'utf8'), keyBefore, 'the private key changed');
    state = await lab!.current();
    assert.equal(box('box1').wireGuardPublicKey, b1.wireGuardPublicKey);
    assert.deepEqual(await wgPeers(box('box1')), peersBefore);
  });

  it('an agent started with trafficEncryptionMode none removes what WireGuard left on its box; turned on again, the box rejoins with its key', async () => {
    const b2 = box('box2');
    const f = agentFiles(b2);
    const key = await readFile(privateKeyFile(f.stateDir), 'utf8');
    const inBox = (args: string[]) => run('ip', ['netns', 'exec', b2.netns, ...args], { allowFailure: true });
    const leftovers = async () => ({
      egressDevice: (await inBox(['ip', 'link', 'show', WG_EGRESS_DEV])).code === 0,
      wireGuardDevice: (await inBox(['ip', 'link', 'show', b2.wireGuardDevice!])).code === 0,
      wireGuardGo: runningUserspace(f.stateDir) !== undefined,
      rules: (await inBox(['ip', 'rule', 'show'])).stdout.split('\n').filter((l) => /^9[01]00:/.test(l)),
      tables: (await inBox(['ip', '-4', 'route', 'show', 'table', 'all', 'proto', String(SEINE_ROUTE_PROTO)])).stdout.split('\n').filter((l) => / table /.test(l)),
      mangle: (await inBox(['iptables', '-w', '5', '-t', 'mangle', '-S'])).stdout.split('\n').filter((l) => l.includes('SEINE-WG-EGRESS')),
    });
    const before = await leftovers();
    assert.equal(before.egressDevice && before.wireGuardDevice && before.wireGuardGo, true, JSON.stringify(before));
    assert.ok(before.rules.length && before.tables.length && before.mangle.length, JSON.stringify(before));
    let after: typeof before | undefined;
    let log = '';
    await lab!.restartAgent('box2', {
      // Between the lab's agents, one with the same config but encryption off (started and stopped by PID here).
      whileDown: async () => {
        const config = path.join(b2.ovsDir, 'agent-unencrypted.yaml');
        await writeFile(config, stringify({ ...(parse(await readFile(f.config, 'utf8')) as object), trafficEncryptionMode: 'none' }), { mode: 0o600 });
        const logFile = path.join(b2.ovsDir, 'agent-unencrypted.log');
        const args = [distProgram('cli/seine.js'), 'agent', '--config', config];
        const ref = spawnDetached({ command: process.execPath, args, netns: b2.netns, env: process.env, logFile });
        try {
          await waitAgentReady(b2, { role: 'agent', ...ref, command: args.join(' '), logFile });
          after = await leftovers();
        } finally {
          await stopProcesses([ref]);
        }
        log = await readFile(logFile, 'utf8');
      },
    });
    assert.deepEqual(after, { egressDevice: false, wireGuardDevice: false, wireGuardGo: false, rules: [], tables: [], mangle: [] }, log);
    assert.match(log, /trafficEncryptionMode none: WireGuard removed/);
    // The lab's agent again, encryption on: a wireguard-go of its own, the same key, both peers, pods reachable.
    assert.equal(await readFile(privateKeyFile(f.stateDir), 'utf8'), key);
    assert.equal((await wgPeers(b2)).size, 2);
    await eventually('box1-pod1 reaches box2-pod1 again', () => reachable(pod('box1-pod1'), pod('box2-pod1').ip!), 20_000);
    const again = await leftovers();
    assert.ok(again.egressDevice && again.rules.length && again.mangle.length, JSON.stringify(again));
  });
});
