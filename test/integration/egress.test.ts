// Egress end to end on a 2-box lab: an ExternalIPPool and an Egress applied with the real
// seinectl; the controller allocates the IP and picks box1; the outside server sees the Egress
// IP for the selected pods (on the egress box, and tunnelled from the other box) and the box
// IP for the others; then box1's agent is killed AND its underlay link cut: the controller
// (MQTT last will) moves the IP to box2, which takes it with a gratuitous ARP, and traffic
// resumes — the test measures and prints the time from the kill to the first connection the
// outside server sees from the Egress IP again. A controller restart moves nothing. Deleting the Egress releases the IP and its rules.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Lab } from '../../src/lab/lab.js';
import { parseLabSpec } from '../../src/lab/spec.js';
import type { LabState, PodState } from '../../src/lab/state.js';
import { run } from '../../src/lib/exec.js';
import { distProgram } from '../../src/lib/paths.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { eventually, newLab, ping, removeLab, seinectl } from './lab-fixture.js';
import { seenFromOutside } from './outside-client.js';

const POOL_FIRST = '172.31.250.200';
const manifests = `apiVersion: crd.antrea.io/v1beta1
kind: ExternalIPPool
metadata: {name: lab-pool}
spec:
  ipRanges:
    - start: ${POOL_FIRST}
      end: 172.31.250.209
  nodeSelector:
    matchExpressions:
      - {key: kubernetes.io/hostname, operator: In, values: [box1, box2]}
---
apiVersion: crd.antrea.io/v1beta1
kind: Egress
metadata: {name: web-egress}
spec:
  appliedTo:
    podSelector: {matchLabels: {egress: "yes"}}
  externalIPPool: lab-pool
`;

interface EgressGot { status?: { egressNode?: string; egressIP?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] } }

describe('Egress (2 boxes, controller, outside server, failover)', function () {
  this.timeout(180_000);
  let lab: Lab | undefined;
  let state: LabState;
  let server = '';
  const pod = (name: string) => state.pods.find((p) => p.name === name)!;
  const box = (name: string) => state.boxes.find((b) => b.name === name)!;
  // One connection, no retry: no packet is lost to a new tunnel peer.
  const seen = (p: PodState, proto: 'tcp' | 'udp' = 'tcp') => seenFromOutside(p.netns, state.outside!, proto);
  const getEgress = async (): Promise<EgressGot> => {
    const r = await seinectl(server, ['get', 'egress', 'web-egress', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as EgressGot;
  };

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool', 'ping', 'iptables', 'arping');
    lab = await newLab('egress');
    state = await lab.up(parseLabSpec({
      boxes: [{ name: 'box1' }, { name: 'box2' }],
      pods: [
        { name: 'sel1', box: 'box1', labels: { egress: 'yes' } },
        { name: 'other1', box: 'box1', labels: { app: 'x' } },
        { name: 'sel2', box: 'box2', labels: { egress: 'yes' } },
        { name: 'other2', box: 'box2', labels: { app: 'x' } },
      ],
    }));
    server = state.controller!.url;
    const file = path.join(lab.dir, 'egress.yaml');
    await writeFile(file, manifests);
    const applied = await seinectl(server, ['apply', '-f', file]);
    assert.equal(applied.code, 0, applied.stderr);
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('allocates the first pool IP to box1 and says so in status and seinectl get', async () => {
    await eventually('web-egress assigned', async () => (await getEgress()).status?.egressNode !== undefined, 20_000);
    const st = (await getEgress()).status!;
    assert.equal(st.egressIP, POOL_FIRST);
    assert.equal(st.egressNode, 'box1');
    assert.deepEqual(st.conditions?.map((c) => [c.type, c.status]), [['IPAllocated', 'True'], ['IPAssigned', 'True']]);
    const table = await seinectl(server, ['get', 'egress']);
    assert.match(table.stdout, /^NAME\s+EGRESSIP\s+AGE\s+NODE\n/);
    assert.match(table.stdout, new RegExp(`web-egress\\s+${POOL_FIRST.replace(/\./g, '\\.')}\\s+\\S+\\s+box1`));
    const pools = await seinectl(server, ['get', 'externalippool', 'lab-pool']);
    assert.match(pools.stdout, /lab-pool\s+10\s+1\s/);
  });

  it('an Egress naming a pool that does not exist gets no IP: status and seinectl -o wide name the field', async () => {
    const file = path.join(lab!.dir, 'bad.yaml');
    await writeFile(file, 'apiVersion: crd.antrea.io/v1beta1\nkind: Egress\nmetadata: {name: bad}\nspec:\n  appliedTo: {podSelector: {matchLabels: {app: x}}}\n  externalIPPool: nope\n');
    assert.equal((await seinectl(server, ['apply', '-f', file])).code, 0);
    await eventually('bad has a status', async () => {
      const r = await seinectl(server, ['get', 'egress', 'bad', '-o', 'json']);
      return (JSON.parse(r.stdout) as EgressGot).status?.conditions !== undefined;
    });
    const st = (JSON.parse((await seinectl(server, ['get', 'egress', 'bad', '-o', 'json'])).stdout) as EgressGot).status!;
    assert.equal(st.egressIP, undefined);
    assert.deepEqual(st.conditions?.[0], { type: 'IPAllocated', status: 'False', reason: 'AllocationError', message: 'spec.externalIPPool: ExternalIPPool "nope" not found' });
    assert.match((await seinectl(server, ['get', 'egress', '-o', 'wide'])).stdout, /bad\s+\S+\s+spec\.externalIPPool: ExternalIPPool "nope" not found/);
    assert.equal((await seinectl(server, ['delete', 'egress', 'bad'])).code, 0);
  });

  it('the outside sees the Egress IP for selected pods on both boxes, the box IP for the others', async () => {
    await eventually('box2 tunnels its selected pod to box1', async () => (await seen(pod('sel2'))) === POOL_FIRST, 20_000);
    assert.equal(await seen(pod('sel1')), POOL_FIRST, 'selected pod on the egress box');
    assert.equal(await seen(pod('sel1'), 'udp'), POOL_FIRST, 'selected pod on the egress box, udp');
    assert.equal(await seen(pod('sel2'), 'udp'), POOL_FIRST, 'selected pod on box2, udp');
    assert.equal(await seen(pod('other1')), box('box1').underlayIP, 'other pod on box1');
    assert.equal(await seen(pod('other2')), box('box2').underlayIP, 'other pod on box2');
  });

  it('leaves cluster traffic alone: a pod on the other box sees the selected pod\'s own IP', async () => {
    // The outside server's program, run in pod other1 (a lab process: lab down stops it).
    const other1 = pod('other1');
    await lab!.startProcess({ role: 'who-server', command: 'ip', args: ['netns', 'exec', other1.netns, process.execPath, distProgram('cli/seine.js'), 'lab', 'outside', 'serve', '--port', '9090', '--log', path.join(lab!.dir, 'who.log')] });
    await eventually('who-server listening', async () => (await seenFromOutside(other1.netns, { ip: '127.0.0.1', port: 9090 })) === '127.0.0.1');
    await eventually('sel2 reaches other1', async () => (await seenFromOutside(pod('sel2').netns, { ip: other1.ip!, port: 9090 })) === pod('sel2').ip);
    assert.equal(await seenFromOutside(pod('sel1').netns, { ip: other1.ip!, port: 9090 }), pod('sel1').ip);
  });

  it('selected pods still reach pods on both boxes', async () => {
    for (const [from, to] of [['sel2', 'other1'], ['sel1', 'other2'], ['sel1', 'other1']] as const) {
      let r = await ping(pod(from), pod(to).ip!);
      if (!r.ok) r = await ping(pod(from), pod(to).ip!);
      assert.ok(r.ok, `${from} -> ${to}: ${r.detail}`);
    }
    const held = await run('ip', ['-n', box('box1').netns, '-4', '-o', 'addr', 'show', 'dev', 'br-phy']);
    assert.match(held.stdout, new RegExp(`inet ${POOL_FIRST.replace(/\./g, '\\.')}/32 .*br-phy:eg`), 'box1 holds the IP on br-phy');
  });

  it('a controller killed -9 and restarted keeps the IP on box1 (decisions persisted, boxes get time to reconnect)', async () => {
    await lab!.restartController({ crash: true });
    await eventually('both boxes online again', async () => {
      const r = await seinectl(server, ['get', 'nodes', '-o', 'json']);
      return r.code === 0 && (JSON.parse(r.stdout) as { online: boolean }[]).filter((n) => n.online).length === 2;
    }, 20_000);
    const st = (await getEgress()).status!;
    assert.deepEqual([st.egressIP, st.egressNode], [POOL_FIRST, 'box1']);
    assert.equal(await seen(pod('sel2')), POOL_FIRST);
  });

  it('moves the IP to box2 when box1 dies (agent killed, link cut); traffic resumes within 10 s', async () => {
    const agent = box('box1').processes.find((p) => p.role === 'agent')!;
    const t0 = Date.now();
    process.kill(agent.pid, 'SIGKILL');
    await run('ip', ['-n', state.underlay.netns, 'link', 'set', box('box1').underlayPort, 'down']);
    let got = '';
    while (Date.now() - t0 < 20_000) {
      got = await seenFromOutside(pod('sel2').netns, state.outside!, 'tcp', 0.5);
      if (got === POOL_FIRST) break;
    }
    const seconds = (Date.now() - t0) / 1000;
    process.stdout.write(`      egress failover: the outside sees ${POOL_FIRST} from box2's pod again ${seconds.toFixed(2)} s after the kill\n`);
    assert.equal(got, POOL_FIRST, `traffic did not resume through ${POOL_FIRST} within 20 s`);
    assert.ok(seconds < 10, `failover took ${seconds.toFixed(2)} s`);
    const st = (await getEgress()).status!;
    assert.equal(st.egressNode, 'box2');
    assert.equal(st.egressIP, POOL_FIRST);
    assert.match((await seinectl(server, ['get', 'egress'])).stdout, /web-egress\s+172\.31\.250\.200\s+\S+\s+box2/);
    assert.equal(await seen(pod('other2')), box('box2').underlayIP, 'other pod on box2 still leaves with the box IP');
  });

  it('deleting the Egress releases the IP: the selected pod leaves with its box IP again', async () => {
    const del = await seinectl(server, ['delete', 'egress', 'web-egress']);
    assert.equal(del.code, 0, del.stderr);
    await eventually('box2 released the IP', async () => !(await run('ip', ['-n', box('box2').netns, '-4', '-o', 'addr', 'show', 'dev', 'br-phy'])).stdout.includes(POOL_FIRST), 10_000);
    assert.equal(await seen(pod('sel2')), box('box2').underlayIP);
    const nat = await run('ip', ['netns', 'exec', box('box2').netns, 'iptables', '-t', 'nat', '-S', 'SEINE-POSTROUTING']);
    assert.doesNotMatch(nat.stdout, /SNAT/, 'no SNAT rule left');
    assert.match(nat.stdout, /MASQUERADE/);
  });
});
