// Services on a 2-box lab, through the real agents' userspace OVS: a ClusterIP Service with 3
// endpoints on 2 boxes spreads 300 connections over all 3 (each endpoint answers its own name);
// ClientIP affinity keeps a client on one endpoint; a pod reaches itself through its Service
// (hairpin); a NodePort answers the lab's outside host through either box (externalTrafficPolicy
// Cluster and Local); deleting an endpoint pod moves new connections away from it without resetting an
// established connection to another endpoint. Services are added with the real `seine lab svc`.
// A Traceflow to a Service (`seinectl traceflow --destination svc/NS/NAME`) is load-balanced by
// the sender's box (EndpointDNAT observation) and Delivered to an endpoint, also on the other box.
// A Service without endpoints refuses: TCP gets a RST (ECONNREFUSED at once, not a timeout), UDP
// ICMP port unreachable, from a pod and through a NodePort; once an endpoint appears it answers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { LabState, PodState } from '../../src/lab/state.js';
import type { ServiceRequest } from '../../src/lab/services.js';
import type { TraceflowView } from '../../src/controller/client/traceflow-print.js';
import { run } from '../../src/lib/exec.js';
import { distProgram } from '../../src/lib/paths.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { spawnCollect } from '../helpers/spawn.js';
import { dumpFlows, eventually, newLab, reachable, removeLab, seinectl } from './lab-fixture.js';

/** Answers every connection with its name, then echoes. */
const NAME_SERVER_PY = String.raw`
import socket, sys, threading
name, port = sys.argv[1], int(sys.argv[2])
def serve(c):
    try:
        c.sendall((name + '\n').encode())
        while True:
            d = c.recv(4096)
            if not d: break
            c.sendall(d)
    except OSError: pass
    finally: c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', port)); s.listen(256)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/** N connections one after another; prints {name: count} as JSON ('error' for failed ones). */
const SPREAD_PY = String.raw`
import json, socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
counts = {}
for i in range(n):
    try:
        s = socket.create_connection((host, port), timeout=2)
        f = s.makefile()
        name = f.readline().strip() or 'empty'
        s.close()
    except OSError as e:
        name = 'error'
    counts[name] = counts.get(name, 0) + 1
print(json.dumps(counts))
`;

/** One connection kept open: prints the greeting, then per stdin line 'ok' when the echo came back. */
const HOLD_PY = String.raw`
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
f = s.makefile()
print(f.readline().strip(), flush=True)
for line in sys.stdin:
    try:
        s.sendall(line.encode()); d = f.readline()
        print('ok' if d == line else 'closed', flush=True)
    except OSError as e: print('error', e.errno, flush=True)
`;

/** TCP connect (3 s timeout) then, given a UDP port, one datagram on a connected socket: prints JSON outcomes. */
const REFUSED_PY = String.raw`
import json, socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
out = {}
t = time.monotonic()
try:
    s = socket.create_connection((host, port), timeout=3)
    out['tcp'] = s.makefile().readline().strip() or 'connected'
    s.close()
except ConnectionRefusedError: out['tcp'] = 'refused'
except OSError as e: out['tcp'] = 'error ' + type(e).__name__
out['tcpSeconds'] = round(time.monotonic() - t, 3)
if len(sys.argv) > 3:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2); u.connect((host, int(sys.argv[3])))
    u.send(b'x')
    try: u.recv(100); out['udp'] = 'answered'
    except ConnectionRefusedError: out['udp'] = 'refused'
    except OSError as e: out['udp'] = 'error ' + type(e).__name__
print(json.dumps(out))
`;

describe('Services on a 2-box lab (ClusterIP, affinity, hairpin, endpoint changes)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;
  const script = (name: string) => path.join(lab!.dir, name);
  const svcCli = async (...args: string[]) => {
    const r = await spawnCollect(process.execPath, [distProgram('cli/seine.js'), 'lab', 'svc', ...args], { env: { ...process.env, SEINE_LAB_DIR: lab!.dir } });
    assert.equal(r.code, 0, `seine lab svc ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const clusterIP = async (name: string) => {
    const rows = JSON.parse(await svcCli('ls', '--json')) as { name: string; clusterIP: string; endpoints: unknown[] }[];
    return rows.find((r) => r.name === name)!;
  };
  /** The later Services go in through the Lab API (the CLI's own start-up is seconds on a loaded machine). */
  const addService = (name: string, selector: Record<string, string>, port: number, more: Partial<ServiceRequest> = {}) =>
    lab!.addService({ namespace: 'default', name, type: 'ClusterIP', selector, ports: [{ name: '', port, targetPort: 8080, protocol: 'TCP' }], trafficPolicy: 'Cluster', ...more });
  const spread = async (from: PodState, ip: string, port: number, n: number): Promise<Record<string, number>> => {
    const r = await run('ip', ['netns', 'exec', from.netns, 'python3', script('spread.py'), ip, String(port), String(n)]);
    return JSON.parse(r.stdout) as Record<string, number>;
  };

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping', 'iptables');
    lab = await newLab('svc');
    await lab.up(specFromFlags(2, 0));
    for (const [name, box, app] of [['web-1', 'box1', 'web'], ['web-2', 'box1', 'web'], ['web-3', 'box2', 'web'], ['client', 'box2', 'client']] as const) {
      await lab.addPod({ namespace: 'default', name, box, labels: { app, name }, ports: [] });
    }
    state = await lab.current();
    await writeFile(script('name-server.py'), NAME_SERVER_PY);
    await writeFile(script('spread.py'), SPREAD_PY);
    await writeFile(script('hold.py'), HOLD_PY);
    await writeFile(script('refused.py'), REFUSED_PY);
    for (const name of ['web-1', 'web-2', 'web-3']) {
      await lab.startProcess({ role: `name-${name}`, command: 'ip', args: ['netns', 'exec', pod(name).netns, 'python3', '-u', script('name-server.py'), name, '8080'] });
    }
    for (const name of ['web-1', 'web-2']) assert.ok(await reachable(pod('client'), pod(name).ip!), `client reaches ${name}`);
    assert.ok(await reachable(pod('web-1'), pod('web-3').ip!), 'web-1 reaches web-3');
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('spreads 300 connections to a ClusterIP Service over its 3 endpoints on 2 boxes', async () => {
    const out = await svcCli('add', 'default/web', '--selector', 'app=web', '--port', '80:8080/TCP');
    assert.match(out, /default\/web\tClusterIP\t10\.43\.\d+\.\d+\t80->8080\/TCP\t3 endpoints/);
    const svc = await clusterIP('web');
    let counts: Record<string, number> = {};
    await eventually('the Service answers', async () => {
      counts = await spread(pod('client'), svc.clusterIP, 80, 3);
      return !counts.error;
    }, 15_000);
    counts = await spread(pod('client'), svc.clusterIP, 80, 300);
    assert.equal(counts.error, undefined, JSON.stringify(counts));
    assert.deepEqual(Object.keys(counts).sort(), ['web-1', 'web-2', 'web-3'], JSON.stringify(counts));
    // A fair hash gives ~100 each; 40 is far outside chance for 300 connections.
    for (const [name, n] of Object.entries(counts)) assert.ok(n >= 40, `${name} got ${n} of 300: ${JSON.stringify(counts)}`);
  });

  it('traces a packet to a Service by name: load-balanced on the sender (EndpointDNAT) and Delivered to an endpoint', async () => {
    const traceflow = async (destination: string, ...more: string[]) => {
      const r = await seinectl(state.controller!.url, ['traceflow', '--source', 'default/client', '--destination', destination, ...more, '-o', 'json']);
      assert.ok(r.stdout.trim().startsWith('{'), `seinectl traceflow printed no JSON: ${r.stderr}`);
      return { code: r.code, tf: JSON.parse(r.stdout) as TraceflowView };
    };
    const hops = (tf: TraceflowView) => (tf.status?.results ?? []).map((r) => `${r.node}/${r.role}: ${r.observations.map((o) => `${o.component}:${o.componentInfo}:${o.action}`).join(' ')}`).join('\n');
    const web = await clusterIP('web');
    // web (3 endpoints on both boxes; no --protocol: its first port, 80/TCP): whichever endpoint the sender picks.
    let { code, tf } = await traceflow('svc/default/web');
    assert.equal(code, 0, JSON.stringify(tf.status));
    assert.equal(tf.status?.phase, 'Succeeded', hops(tf));
    const sender = tf.status!.results![0]!;
    assert.deepEqual([sender.node, sender.role], ['box2', 'Sender']);
    const lb = sender.observations.find((o) => o.component === 'LB');
    assert.equal(lb?.componentInfo, 'EndpointDNAT', hops(tf));
    const picked = state.pods.find((p) => p.ip === lb!.translatedDstIP);
    assert.ok(picked && /^web-[123]$/.test(picked.name), `translatedDstIP ${lb!.translatedDstIP} is an endpoint of ${web.clusterIP}`);
    const last = tf.status!.results!.at(-1)!;
    assert.deepEqual([last.node, last.observations.at(-1)!.action, last.observations.at(-1)!.pod], [picked.box, 'Delivered', `default/${picked.name}`], hops(tf));
    // One endpoint on the other box: the sender balances and tunnels, that box (a receiver because it has an endpoint) delivers.
    await addService('tf-remote', { name: 'web-1' }, 82);
    await eventually('tf-remote is balanced on box2', async () => {
      ({ tf } = await traceflow('svc/default/tf-remote', '--protocol', 'tcp', '--timeout', '5'));
      return tf.status?.phase === 'Succeeded';
    }, 15_000);
    const [s, r] = tf.status!.results!;
    assert.deepEqual([s?.node, s?.role, r?.node, r?.role], ['box2', 'Sender', 'box1', 'Receiver'], hops(tf));
    assert.deepEqual(s!.observations.find((o) => o.component === 'LB'), { component: 'LB', componentInfo: 'EndpointDNAT', action: 'Forwarded', translatedDstIP: pod('web-1').ip }, hops(tf));
    assert.equal(s!.observations.at(-1)!.tunnelDstIP, state.boxes.find((b) => b.name === 'box1')!.underlayIP);
    assert.deepEqual([r!.observations.at(-1)!.action, r!.observations.at(-1)!.pod], ['Delivered', 'default/web-1']);
    // Refused before anything is installed, naming the field.
    ({ code, tf } = await traceflow('svc/default/nope'));
    assert.equal(code, 1);
    assert.equal(tf.status?.phase, 'Failed');
    assert.equal(tf.status?.reason, 'destination.service: Service default/nope does not exist (node box2 knows no such Service)');
    ({ tf } = await traceflow('svc/default/web', '--protocol', 'udp'));
    assert.equal(tf.status?.reason, 'packet.transportHeader.udp: Service default/web has no UDP port (ports: 80/TCP)');
  });

  it('keeps a client on one endpoint with ClientIP session affinity', async () => {
    const svc = await addService('sticky', { app: 'web' }, 8000, { affinitySeconds: 120 });
    let counts: Record<string, number> = {};
    await eventually('the Service answers', async () => !(counts = await spread(pod('client'), svc.clusterIP, 8000, 2)).error, 15_000);
    counts = await spread(pod('client'), svc.clusterIP, 8000, 40);
    assert.equal(Object.keys(counts).length, 1, `all 40 connections on one endpoint: ${JSON.stringify(counts)}`);
    assert.match(Object.keys(counts)[0]!, /^web-[123]$/);
    // Another client is balanced independently of the first one's choice, and sticks too.
    const other = await spread(pod('web-3'), svc.clusterIP, 8000, 20);
    assert.equal(Object.keys(other).length, 1, JSON.stringify(other));
  });

  it('lets a pod reach itself through its Service (hairpin)', async () => {
    const svc = await addService('self', { name: 'web-1' }, 81);
    let counts: Record<string, number> = {};
    await eventually('web-1 reaches itself through the Service', async () => !(counts = await spread(pod('web-1'), svc.clusterIP, 81, 1)).error, 15_000);
    counts = await spread(pod('web-1'), svc.clusterIP, 81, 20);
    assert.deepEqual(counts, { 'web-1': 20 });
  });

  it('serves a NodePort to the outside namespace through either box (policy Cluster), and only local endpoints with policy Local', async () => {
    const outside = state.outside!;
    assert.ok(outside, 'the lab has an outside namespace');
    const np = await addService('np', { app: 'web' }, 8080, { type: 'NodePort' });
    const npLocal = await addService('np-local', { app: 'web' }, 8081, { type: 'NodePort', trafficPolicy: 'Local' });
    const nodePort = (name: string) => (name === 'np' ? np : npLocal).ports[0]!.nodePort!;
    const [box1, box2] = state.boxes;
    const fromOutside = async (ip: string, port: number, n: number) => {
      const r = await run('ip', ['netns', 'exec', outside.netns, 'python3', script('spread.py'), ip, String(port), String(n)]);
      return JSON.parse(r.stdout) as Record<string, number>;
    };
    let counts: Record<string, number> = {};
    await eventually('the NodePort answers on box1', async () => !(counts = await fromOutside(box1!.underlayIP, nodePort('np'), 2)).error, 15_000);
    counts = await fromOutside(box1!.underlayIP, nodePort('np'), 60);
    assert.equal(counts.error, undefined, JSON.stringify(counts));
    // Cluster policy: box1 also balances to web-3 on box2 (SNATed to box1's gateway, so the reply returns).
    assert.deepEqual(Object.keys(counts).sort(), ['web-1', 'web-2', 'web-3'], JSON.stringify(counts));
    counts = await fromOutside(box2!.underlayIP, nodePort('np'), 30);
    assert.deepEqual(Object.keys(counts).sort(), ['web-1', 'web-2', 'web-3'], `through box2: ${JSON.stringify(counts)}`);
    // Local policy: each box answers with its own endpoints only.
    await eventually('the Local NodePort answers', async () => !(counts = await fromOutside(box2!.underlayIP, nodePort('np-local'), 2)).error, 15_000);
    counts = await fromOutside(box2!.underlayIP, nodePort('np-local'), 20);
    assert.deepEqual(counts, { 'web-3': 20 });
    // Each box realizes the Service on its own schedule: wait for box1's rules too.
    await eventually('box1 answers the Local NodePort', async () => !(counts = await fromOutside(box1!.underlayIP, nodePort('np-local'), 2)).error, 15_000);
    counts = await fromOutside(box1!.underlayIP, nodePort('np-local'), 30);
    assert.deepEqual(Object.keys(counts).sort(), ['web-1', 'web-2'], JSON.stringify(counts));
  });

  it('refuses connections to a Service without endpoints (TCP RST, UDP port unreachable) until an endpoint appears', async () => {
    const svc = await addService('empty', { app: 'late' }, 83, {
      type: 'NodePort',
      ports: [{ name: 'tcp', port: 83, targetPort: 8080, protocol: 'TCP' }, { name: 'udp', port: 83, targetPort: 8080, protocol: 'UDP' }],
    });
    type Outcome = { tcp: string; tcpSeconds: number; udp?: string };
    const probe = async (netns: string, ip: string, port: number, udpPort?: number): Promise<Outcome> => {
      const r = await run('ip', ['netns', 'exec', netns, 'python3', script('refused.py'), ip, String(port), ...(udpPort ? [String(udpPort)] : [])]);
      return JSON.parse(r.stdout) as Outcome;
    };
    let o: Outcome | undefined;
    // Refused (a RST from the cluster IP) rather than timed out; before the flows land it times out.
    await eventually('a pod is refused by the Service without endpoints', async () => (o = await probe(pod('client').netns, svc.clusterIP, 83, 83)).tcp === 'refused', 20_000);
    assert.equal(o!.udp, 'refused', `UDP gets ICMP port unreachable: ${JSON.stringify(o)}`);
    assert.ok(o!.tcpSeconds < 1, `refused at once, not after the 3 s timeout: ${JSON.stringify(o)}`);
    // Through a NodePort from outside: the answer goes back through the gateway and the host's DNAT.
    const nodePort = svc.ports.find((p) => p.protocol === 'TCP')!.nodePort!;
    const box2 = state.boxes.find((b) => b.name === 'box2')!;
    await eventually('the NodePort without endpoints refuses', async () => (o = await probe(state.outside!.netns, box2.underlayIP, nodePort)).tcp === 'refused', 15_000);
    // An endpoint appears: the reject flow gives way to the group and the Service answers.
    await lab!.addPod({ namespace: 'default', name: 'late', box: 'box1', labels: { app: 'late', name: 'late' }, ports: [] });
    state = await lab!.current();
    await lab!.startProcess({ role: 'name-late', command: 'ip', args: ['netns', 'exec', pod('late').netns, 'python3', '-u', script('name-server.py'), 'late', '8080'] });
    await eventually('the Service answers from its new endpoint', async () => (o = await probe(pod('client').netns, svc.clusterIP, 83)).tcp === 'late', 20_000);
    assert.ok(!(await dumpFlows(box2)).includes('userdata=04.02'), 'no reject flow left on box2');
  });

  it('moves new connections off a deleted endpoint pod without resetting an established one', async () => {
    const svc = await clusterIP('web');
    // Hold a connection open; delete an endpoint it is not on.
    const hold = spawn('ip', ['netns', 'exec', pod('client').netns, 'python3', '-u', script('hold.py'), svc.clusterIP, '80']);
    const lines = createInterface({ input: hold.stdout });
    const next = () => new Promise<string>((resolve) => lines.once('line', resolve));
    try {
      const on = await next();
      assert.match(on, /^web-[123]$/);
      const victim = ['web-1', 'web-2', 'web-3'].find((n) => n !== on)!;
      await lab!.deletePod({ namespace: 'default', name: victim });
      let counts: Record<string, number> = {};
      await eventually(`new connections avoid ${victim}`, async () => {
        counts = await spread(pod('client'), svc.clusterIP, 80, 60);
        return !counts[victim] && !counts.error && Object.keys(counts).length === 2;
      }, 15_000);
      hold.stdin.write('still there\n');
      assert.equal(await next(), 'ok', 'the established connection survived the endpoint change');
    } finally {
      hold.stdin.end();
      hold.kill();
    }
  });
});
