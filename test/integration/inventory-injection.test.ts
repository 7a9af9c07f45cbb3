// Untrusted inventory on a real 2-box lab: the lab's inventory file (what the Kubernetes API is to
// a box) gets an EndpointSlice address and a Node InternalIP that would inject OpenFlow text
// (",actions=NORMAL", a newline and a whole flow). Each agent refuses the object, logs the field
// path, and its flow table stays exactly as it was; a valid Service written in the same file
// still goes in beside the refused objects, whose last good views stay.
import assert from 'node:assert/strict';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Lab } from '../../src/lab/lab.js';
import { inventoryPath } from '../../src/lab/inventory-file.js';
import { specFromFlags } from '../../src/lab/spec.js';
import type { BoxState, LabState } from '../../src/lab/state.js';
import { requirePrereqs } from '../helpers/prereqs.js';
import { dumpFlows, eventually, newLab, removeLab } from './lab-fixture.js';

interface Item {
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string> };
  spec?: { clusterIP?: string; clusterIPs?: string[] };
  status?: { addresses?: { type: string; address: string }[] };
  endpoints?: { addresses: string[] }[];
}
type List = { items: Item[] };

const NEW_CLUSTER_IP = '10.43.250.250';

describe('untrusted inventory: injection attempts through the lab file (2 boxes)', function () {
  this.timeout(240_000);
  let lab: Lab | undefined;
  let state: LabState;
  const box = (name: string): BoxState => state.boxes.find((b) => b.name === name)!;
  /** The flow table, sorted (the order dump-flows prints in is not part of what a flow is). */
  const flows = async (b: BoxState) => (await dumpFlows(b)).split('\n').filter((l) => l.includes('table=')).sort().join('\n');
  const readList = async () => JSON.parse(await readFile(inventoryPath(lab!.dir), 'utf8')) as List;
  /** As the lab writes it: a temp file renamed over the inventory. */
  const writeList = async (list: List) => {
    const tmp = `${inventoryPath(lab!.dir)}.injection.tmp`;
    await writeFile(tmp, JSON.stringify(list, null, 1));
    await rename(tmp, inventoryPath(lab!.dir));
  };
  const agentLog = (b: BoxState) => readFile(b.processes.find((p) => p.role === 'agent')!.logFile!, 'utf8');

  before(async () => {
    requirePrereqs('root', 'ovs', 'ip', 'ethtool');
    lab = await newLab('inj');
    await lab.up(specFromFlags(2, 1));
    await lab.addService({ namespace: 'default', name: 'demo', type: 'ClusterIP', selector: { app: 'demo' }, ports: [{ name: '', port: 80, targetPort: 8080, protocol: 'TCP' }], trafficPolicy: 'Cluster' });
    state = await lab.current();
    const ips = state.pods.map((p) => p.ip!);
    assert.equal(ips.length, 2);
    // Both endpoints (one per box) and box2's tunnel are in box1's table before anything is changed.
    await eventually('box1 balances to both endpoints', async () => {
      const f = await dumpFlows(box('box1'));
      return ips.every((ip) => f.includes(`nat(dst=${ip}:8080)`)) && f.includes(`->tun_dst`);
    }, 60_000);
  });

  after(async () => {
    if (lab) await removeLab(lab);
  });

  it('refuses an EndpointSlice address and a Node InternalIP carrying flow text, naming the field; dump-flows is unchanged', async () => {
    const before = await Promise.all(state.boxes.map(flows));
    const list = await readList();
    const sliceIndex = list.items.findIndex((i) => i.kind === 'EndpointSlice');
    const nodeIndex = list.items.findIndex((i) => i.kind === 'Node' && i.metadata.name === 'box2');
    const slice = list.items[sliceIndex]!;
    const endpointIP = slice.endpoints![0]!.addresses[0]!;
    slice.endpoints![0]!.addresses[0] = `${endpointIP},actions=NORMAL`;
    const addresses = list.items[nodeIndex]!.status!.addresses!;
    const at = addresses.findIndex((a) => a.type === 'InternalIP');
    const underlay = addresses[at]!.address;
    addresses[at]!.address = `${underlay}\ntable=0,priority=65535,actions=NORMAL`;
    await writeList(list);

    for (const b of state.boxes) {
      await eventually(`${b.name} refuses both objects`, async () => {
        const log = await agentLog(b);
        return log.includes(`items[${sliceIndex}].endpoints[0].addresses[0]: expected an IPv4 address`) && log.includes(`items[${nodeIndex}].status.addresses[${at}].address: expected an IPv4 or IPv6 address for type InternalIP`);
      }, 20_000);
    }
    // A round would follow the file within a second; give it two.
    await new Promise((r) => setTimeout(r, 2000));
    const after = await Promise.all(state.boxes.map(flows));
    assert.deepEqual(after, before, 'no flow changed on either box');
  });

  it('applies a valid Service written in the same file beside the refused objects, which keep their last good views', async () => {
    const list = await readList();
    const svc = structuredClone(list.items.find((i) => i.kind === 'Service' && i.metadata.name === 'demo')!);
    const slice = structuredClone(list.items.find((i) => i.kind === 'EndpointSlice')!);
    svc.metadata = { ...svc.metadata, name: 'demo2', uid: 'injection-demo2' };
    svc.spec = { ...svc.spec, clusterIP: NEW_CLUSTER_IP, clusterIPs: [NEW_CLUSTER_IP] };
    slice.metadata = { ...slice.metadata, name: 'demo2-abcde', uid: 'injection-demo2-slice', labels: { ...slice.metadata.labels, 'kubernetes.io/service-name': 'demo2' } };
    slice.endpoints = slice.endpoints!.map((e) => ({ ...e, addresses: [e.addresses[0]!.replace(/,actions=NORMAL$/, '')] }));
    list.items.push(svc, slice);
    await writeList(list);

    const b1 = box('box1');
    await eventually('box1 balances the new Service', async () => (await dumpFlows(b1)).includes(`nw_dst=${NEW_CLUSTER_IP}`), 20_000);
    const f = await dumpFlows(b1);
    const ips = state.pods.map((p) => p.ip!);
    assert.ok(ips.every((ip) => f.includes(`nat(dst=${ip}:8080)`)), 'the refused slice kept its last good endpoints');
    assert.ok(f.includes(`set_field:${box('box2').underlayIP}->tun_dst`), 'box2 keeps its last good underlay address');
    assert.equal(f.includes(',actions=NORMAL'), false);
  });
});
