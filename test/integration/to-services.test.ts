// toServices egress peers on a 2-box lab, through real Services (`Lab.addService`, balanced in
// each box's OVS) and real TCP connects from pods. The client (box2) reaches Services whose
// endpoints are on box1; every Service's endpoint answers its own name.
//
//   Allow toServices [svc-a], then Drop the rest: the client reaches svc-a by its cluster IP, but
//   not the very same endpoint pod by its own address (the rule names the Service, not the
//   endpoint), and not svc-b; a pod the policy does not apply to reaches svc-b. The policy is
//   Realized 1/1 (only box2 hosts a client), the allowed connection is one np.log line naming
//   the rule, the Drop is counted in acnpstats, and Traceflows to svc/default/svc-b and svc-a name
//   the rules that dropped and allowed them.
//   Drop toServices [svc-b, svc-late, svc-sticky]: svc-b is dropped (and svc-late too, once that
//   Service is created after the policy), svc-a still works, and svc-b's endpoint by its own
//   address still answers (Antrea's documented caveat: toServices is matched by cluster IP); a
//   ClientIP-affinity Service stays dropped once the affinity is learned (later connections take
//   the learned flow, not the Service's group flow).
// A denied connect must time out (2 s, which includes a retransmitted SYN), never be refused.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { BoxState, LabState, PodState } from '../../src/lab/state.js';
import type { PolicyStatsObject } from '../../src/api/policy-stats.js';
import type { TraceflowView } from '../../src/controller/client/traceflow-print.js';
import { run } from '../../src/lib/exec.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { dumpFlows, eventually, newLab, reachable, removeLab, seinectl } from './lab-fixture.js';

/** Answers every connection with its name. */
const NAME_SERVER_PY = String.raw`
import socket, sys, threading
name, port = sys.argv[1], int(sys.argv[2])
def serve(c):
    try: c.sendall((name + '\n').encode())
    except OSError: pass
    finally: c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', port)); s.listen(64)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/** One TCP connect: the server's name, or refused / timeout / error. */
const CONNECT_PY = String.raw`
import socket, sys
host, port, t = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    s = socket.create_connection((host, port), timeout=t)
    print(s.makefile().readline().strip() or 'connected')
except ConnectionRefusedError: print('refused')
except TimeoutError: print('timeout')
except OSError as e: print('error ' + type(e).__name__)
`;

const allowSvcA = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: client-to-svc-a}
spec:
  priority: 5
  tier: securityops
  appliedTo:
    - podSelector: {matchLabels: {app: client}}
  egress:
    - action: Allow
      name: allow-svc-a
      enableLogging: true
      toServices:
        - {name: svc-a, namespace: default}
    - action: Drop
      name: drop-rest
`;

const dropSvcB = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: client-not-svc-b}
spec:
  priority: 5
  tier: securityops
  appliedTo:
    - podSelector: {matchLabels: {app: client}}
  egress:
    - action: Drop
      name: no-svc-b
      toServices:
        - {name: svc-b, namespace: default}
        - {name: svc-late, namespace: default}
        - {name: svc-sticky, namespace: default}
`;

const invalid = `apiVersion: crd.antrea.io/v1beta1
kind: ClusterNetworkPolicy
metadata: {name: bad-to-services}
spec:
  priority: 5
  appliedTo:
    - podSelector: {matchLabels: {app: client}}
  egress:
    - action: Drop
      toServices:
        - {name: svc-b, namespace: default}
      ports:
        - {protocol: TCP, port: 80}
`;

interface Status { phase: string; currentNodesRealized: number; desiredNodesRealized: number }

describe('toServices egress peers through lab Services (2 boxes)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  const ips: Record<string, string> = {};
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;
  const box = (name: string): BoxState => state.boxes.find((b) => b.name === name)!;
  const file = (name: string) => path.join(lab!.dir, name);
  const connect = async (from: PodState, ip: string, port: number, timeoutS = 2): Promise<string> => {
    const r = await run('ip', ['netns', 'exec', from.netns, 'python3', file('connect.py'), ip, String(port), String(timeoutS)], { allowFailure: true });
    return r.stdout.trim() || r.stderr.trim();
  };
  const apply = async (name: string, text: string) => {
    await writeFile(file(name), text);
    const r = await seinectl(server, ['apply', '-f', file(name)]);
    assert.equal(r.code, 0, r.stderr);
  };
  const status = async (name: string): Promise<Status | undefined> => {
    const r = await seinectl(server, ['get', 'acnp', name, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { status?: Status }).status;
  };
  const ruleStats = async (policy: string, rule: string) => {
    const r = await seinectl(server, ['get', 'acnpstats', policy, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as PolicyStatsObject).ruleTrafficStats?.find((x) => x.name === rule)?.trafficStats ?? { packets: 0, bytes: 0, sessions: 0 };
  };
  const traceflow = async (destination: string): Promise<TraceflowView> => {
    const r = await seinectl(server, ['traceflow', '--source', 'default/client', '--destination', destination, '--protocol', 'tcp', '-o', 'json']);
    assert.ok(r.stdout.trim().startsWith('{'), `seinectl traceflow printed no JSON: ${r.stderr}`);
    const tf = JSON.parse(r.stdout) as TraceflowView;
    assert.equal(tf.status?.phase, 'Succeeded', JSON.stringify(tf.status));
    return tf;
  };
  const hops = (tf: TraceflowView) => (tf.status?.results ?? []).map((r) => `${r.node}/${r.role}: ${r.observations.map((o) => `${o.component}:${o.componentInfo}:${o.action}:${o.networkPolicyRule ?? ''}`).join(' ')}`).join('\n');
  const npLog = async () => (await readFile(path.join(box('box2').ovsDir, 'agent', 'networkpolicy', 'np.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean);

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping', 'iptables');
    lab = await newLab('tosvc');
    await lab.up(specFromFlags(2, 0));
    for (const [name, where, app] of [['web-a', 'box1', 'web-a'], ['web-b', 'box1', 'web-b'], ['client', 'box2', 'client'], ['other', 'box2', 'other']] as const) {
      await lab.addPod({ namespace: 'default', name, box: where, labels: { app }, ports: [] });
    }
    state = await lab.current();
    server = state.controller!.url;
    await writeFile(file('name-server.py'), NAME_SERVER_PY);
    await writeFile(file('connect.py'), CONNECT_PY);
    for (const name of ['web-a', 'web-b']) {
      await lab.startProcess({ role: `name-${name}`, command: 'ip', args: ['netns', 'exec', pod(name).netns, 'python3', '-u', file('name-server.py'), name, '8080'] });
    }
    for (const name of ['svc-a', 'svc-b']) {
      const svc = await lab.addService({ namespace: 'default', name, type: 'ClusterIP', selector: { app: name.replace('svc', 'web') }, ports: [{ name: '', port: 80, targetPort: 8080, protocol: 'TCP' }], trafficPolicy: 'Cluster' });
      ips[name] = svc.clusterIP;
    }
    assert.ok(await reachable(pod('client'), pod('web-a').ip!), 'client reaches web-a before any policy');
    await eventually('both Services answer the client', async () => (await connect(pod('client'), ips['svc-a']!, 80)) === 'web-a' && (await connect(pod('client'), ips['svc-b']!, 80)) === 'web-b', 20_000);
    assert.equal(await connect(pod('client'), pod('web-a').ip!, 8080), 'web-a', 'the endpoint answers by its own address before any policy');
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('refuses toServices with ports in the same rule, naming the field in one line', async () => {
    await writeFile(file('invalid.yaml'), invalid);
    const r = await seinectl(server, ['apply', '-f', file('invalid.yaml')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /bad-to-services\): spec\.egress\[0\]\.toServices: toServices cannot be used with to, ports, protocols or l7Protocols in the same rule \(also set: ports\)/, r.stderr);
  });

  describe('Allow toServices svc-a, Drop the rest', () => {
    before(async () => {
      await apply('allow.yaml', allowSvcA);
      await eventually('svc-b dropped for the client', async () => (await connect(pod('client'), ips['svc-b']!, 80, 1)) === 'timeout', 20_000);
    });

    it('the client reaches svc-a by its cluster IP, not the same endpoint by its own address, and not svc-b', async () => {
      assert.equal(await connect(pod('client'), ips['svc-a']!, 80), 'web-a');
      assert.equal(await connect(pod('client'), pod('web-a').ip!, 8080), 'timeout', 'toServices names the Service, not its endpoint');
      assert.equal(await connect(pod('client'), ips['svc-b']!, 80), 'timeout');
      assert.equal(await connect(pod('other'), ips['svc-b']!, 80), 'web-b', 'a pod the policy does not apply to');
    });

    it('is Realized 1/1 (only box2 hosts a client)', async () => {
      await eventually('Realized 1/1', async () => {
        const s = await status('client-to-svc-a');
        return s?.phase === 'Realized' && s.currentNodesRealized === 1 && s.desiredNodesRealized === 1;
      }, 20_000);
    });

    it('logs the allowed connection in np.log naming the rule, and counts the dropped ones in acnpstats', async () => {
      const before = (await npLog()).length;
      assert.equal(await connect(pod('client'), ips['svc-a']!, 80), 'web-a');
      await eventually('one np.log line', async () => (await npLog()).length > before, 5000);
      const added = (await npLog()).slice(before);
      assert.equal(added.length, 1, added.join('\n'));
      // After load balancing, as Antrea logs it: the endpoint's address and port.
      const re = new RegExp(` AntreaPolicyEgressRule AntreaClusterNetworkPolicy:client-to-svc-a allow-svc-a Egress Allow \\d+ default/client ${pod('client').ip!.replace(/\./g, '\\.')} \\d+ ${pod('web-a').ip!.replace(/\./g, '\\.')} 8080 TCP \\d+ <nil>$`);
      assert.match(added[0]!, re);
      await eventually('drop-rest counted', async () => (await ruleStats('client-to-svc-a', 'drop-rest')).sessions >= 2, 15_000);
      const allowed = await ruleStats('client-to-svc-a', 'allow-svc-a');
      assert.ok(allowed.sessions >= 1 && allowed.packets >= 3, `allow-svc-a counted: ${JSON.stringify(allowed)}`);
    });

    it('Traceflow: to svc-b Dropped by drop-rest on the sender; to svc-a balanced, allowed by allow-svc-a and Delivered', async () => {
      let tf = await traceflow('svc/default/svc-b');
      const sender = tf.status!.results![0]!;
      assert.equal(sender.node, 'box2', hops(tf));
      const last = sender.observations.at(-1)!;
      assert.deepEqual([last.component, last.componentInfo, last.action, last.networkPolicy, last.networkPolicyRule], ['NetworkPolicy', 'EgressMetric', 'Dropped', 'AntreaClusterNetworkPolicy:client-to-svc-a', 'drop-rest'], hops(tf));
      tf = await traceflow('svc/default/svc-a');
      const s = tf.status!.results![0]!;
      assert.ok(s.observations.some((o) => o.component === 'LB' && o.translatedDstIP === pod('web-a').ip), hops(tf));
      assert.ok(s.observations.some((o) => o.component === 'NetworkPolicy' && o.action === 'Forwarded' && o.networkPolicyRule === 'allow-svc-a'), hops(tf));
      const end = tf.status!.results!.at(-1)!.observations.at(-1)!;
      assert.deepEqual([end.action, end.pod], ['Delivered', 'default/web-a'], hops(tf));
    });

    after(async () => {
      const r = await seinectl(server, ['delete', 'acnp', 'client-to-svc-a']);
      assert.equal(r.code, 0, r.stderr);
      await eventually('the endpoint answers the client again', async () => (await connect(pod('client'), pod('web-a').ip!, 8080, 1)) === 'web-a', 20_000);
    });
  });

  describe('Drop toServices svc-b (and svc-late, created after the policy)', () => {
    before(async () => {
      await apply('drop.yaml', dropSvcB);
      await eventually('svc-b dropped for the client', async () => (await connect(pod('client'), ips['svc-b']!, 80, 1)) === 'timeout', 20_000);
    });

    it('drops svc-b while svc-a still works; svc-b\'s endpoint by its own address is not affected', async () => {
      assert.equal(await connect(pod('client'), ips['svc-b']!, 80), 'timeout');
      assert.equal(await connect(pod('client'), ips['svc-a']!, 80), 'web-a');
      assert.equal(await connect(pod('client'), pod('web-b').ip!, 8080), 'web-b', 'toServices matches the cluster IP, as in Antrea');
      assert.equal(await connect(pod('other'), ips['svc-b']!, 80), 'web-b');
      const tf = await traceflow('svc/default/svc-b');
      const last = tf.status!.results![0]!.observations.at(-1)!;
      assert.deepEqual([last.component, last.action, last.networkPolicy, last.networkPolicyRule], ['NetworkPolicy', 'Dropped', 'AntreaClusterNetworkPolicy:client-not-svc-b', 'no-svc-b'], hops(tf));
    });

    it('drops every connection to a ClientIP-affinity Service, also those whose endpoint the learned affinity chose', async () => {
      const sticky = await lab!.addService({ namespace: 'default', name: 'svc-sticky', type: 'ClusterIP', selector: { app: 'web-b' }, ports: [{ name: '', port: 82, targetPort: 8080, protocol: 'TCP' }], trafficPolicy: 'Cluster', affinitySeconds: 600 });
      await eventually('svc-sticky answers the other pod', async () => (await connect(pod('other'), sticky.clusterIP, 82, 1)) === 'web-b', 20_000);
      assert.equal(await connect(pod('client'), sticky.clusterIP, 82), 'timeout');
      // The first attempt's ServiceLB pass learned client → endpoint: later connections skip the group.
      const learned = (await dumpFlows(box('box2'))).split('\n').filter((l) => l.includes(`nw_src=${pod('client').ip}`) && l.includes(`nw_dst=${sticky.clusterIP}`));
      assert.equal(learned.length, 1, `one learned affinity flow for the client: ${learned.join('\n')}`);
      for (let i = 0; i < 2; i++) assert.equal(await connect(pod('client'), sticky.clusterIP, 82), 'timeout', `learned-path attempt ${i}`);
      assert.equal(await connect(pod('other'), sticky.clusterIP, 82), 'web-b');
    });

    it('a Service named by the rule but created afterwards is dropped as soon as it is balanced', async () => {
      const late = await lab!.addService({ namespace: 'default', name: 'svc-late', type: 'ClusterIP', selector: { app: 'web-a' }, ports: [{ name: '', port: 81, targetPort: 8080, protocol: 'TCP' }], trafficPolicy: 'Cluster' });
      // The other pod is on the same box: once it is answered, box2 balances svc-late, and the rule's flows came in the same bundle.
      await eventually('svc-late answers the other pod', async () => (await connect(pod('other'), late.clusterIP, 81, 1)) === 'web-a', 20_000);
      assert.equal(await connect(pod('client'), late.clusterIP, 81), 'timeout');
      assert.equal(await connect(pod('client'), ips['svc-a']!, 80), 'web-a');
      await eventually('no-svc-b counted', async () => (await ruleStats('client-not-svc-b', 'no-svc-b')).sessions >= 2, 15_000);
    });
  });
});
