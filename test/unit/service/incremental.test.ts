// The incremental Service realization (ServiceFeature keeping plans, flows and groups per
// Service) against the full recompute (planServices + serviceFlows over every Service) after
// every step of a sequence of changes: endpoints changed, Services added and removed, affinity,
// traffic policies and node ports changed, slices split and dropped, equal objects rebuilt, and
// two group keys whose hashes collide. Equal means the same flows and groups as text (what the
// switch gets), the same affinity groups reported as shrunk, and only the changed Services
// recomputed.
import assert from 'node:assert/strict';
import { CookieAllocator } from '../../../src/agent/ovs/cookie.js';
import { formatFlow, toOvsFlow, type Flow } from '../../../src/agent/ovs/flow.js';
import { allocateGroupIds, formatGroup, groupIdOf, type Group } from '../../../src/agent/ovs/group.js';
import { Pipeline } from '../../../src/agent/ovs/pipeline.js';
import { ServiceFeature } from '../../../src/agent/service/feature.js';
import { groupKeys, serviceFlows } from '../../../src/agent/service/flows.js';
import { planServices } from '../../../src/agent/service/plan.js';
import { ServiceRealization } from '../../../src/agent/service/realization.js';
import type { Inventory } from '../../../src/api/inventory.js';
import { editSvc, NODE, setSlice, slice, snapshot, start, svc, type Inv } from '../../helpers/service-inventory.js';

const pipeline = Pipeline.build();
const cookies = new CookieAllocator(4);
const PODS = [{ key: 'shop/a', ip: '10.42.0.7', ofport: 12 }];

const text = (flows: readonly Flow[], groups: readonly Group[]) => ({
  flows: flows.map((f) => formatFlow(toOvsFlow(f, pipeline))).sort(),
  groups: groups.map(formatGroup).sort(),
});

function full(inv: Inventory) {
  const plans = planServices(inv, NODE);
  const groupIds = allocateGroupIds(groupKeys(plans));
  const { flows, groups } = serviceFlows(plans, { gatewayIP: '10.42.0.1', pods: PODS, groupIds }, pipeline, cookies);
  // Affinity groups and their endpoints, as the feature compared them before it was incremental.
  const affinity = new Map<number, Set<string>>();
  for (const p of plans) {
    if (!p.affinitySeconds) continue;
    affinity.set(groupIds.get(p.key)!, new Set(p.clusterEndpoints.map((e) => `${e.ip}:${e.port}`)));
    if (p.nodePort) affinity.set(groupIds.get(`${p.key}/nodePort`)!, new Set(p.nodePortEndpoints.map((e) => `${e.ip}:${e.port}`)));
  }
  return { ...text(flows, groups), affinity, plans };
}

class Harness {
  current: Inventory;
  shrunk: number[][] = [];
  readonly feature: ServiceFeature;
  private affinity = new Map<number, Set<string>>();

  constructor(public inv: Inv) {
    this.current = snapshot(inv);
    this.feature = new ServiceFeature({ nodeName: NODE, inventory: () => this.current, gatewayIP: '10.42.0.1', pods: async () => PODS, onEndpointsRemoved: (ids) => this.shrunk.push(ids) });
  }

  /** One sync after `change`; asserts the feature's result equals the full recompute. */
  async step(what: string, change: (inv: Inv) => void = () => {}): Promise<void> {
    change(this.inv);
    this.current = snapshot(this.inv);
    this.shrunk = [];
    const flows = await this.feature.flows(pipeline, cookies);
    const want = full(this.current);
    assert.deepEqual(text(flows, this.feature.groups()), { flows: want.flows, groups: want.groups }, `${what}: flows and groups as the full recompute`);
    const shrunk = [...this.affinity].filter(([id, before]) => [...before].some((e) => !want.affinity.get(id)?.has(e))).map(([id]) => id).sort();
    assert.deepEqual((this.shrunk[0] ?? []).sort(), shrunk, `${what}: affinity groups that lost an endpoint`);
    this.affinity = want.affinity;
    for (const p of want.plans) assert.equal(this.feature.serviceAt(p.clusterIP, p.port, p.protocol)?.key, p.key, `${what}: ${p.key} found by its cluster IP`);
    assert.equal(this.feature.counts().services, new Set(want.plans.map((p) => p.name)).size);
  }
}

describe('incremental Service realization', () => {
  it('equals the full recompute after each of a sequence of changes', async () => {
    const h = new Harness(start());
    await h.step('start');
    await h.step('one endpoint replaced', (inv) => setSlice(inv, slice('s7', 'a', ['10.42.7.1', '10.42.70.2', '10.42.7.3'])));
    await h.step('an affinity Service loses an endpoint', (inv) => setSlice(inv, slice('s4', 'a', ['10.42.4.1', '10.42.4.3', '10.42.9.9'])));
    await h.step('a Service added', (inv) => {
      inv.services.set('shop/new', svc('new', 100));
      setSlice(inv, slice('new', 'x', ['10.42.9.9', '10.42.100.1']));
    });
    await h.step('a Service removed (its shared endpoint stays for the others)', (inv) => inv.services.delete('shop/s1'));
    await h.step('the shared endpoint gone from every slice', (inv) => {
      for (const [k, s] of inv.endpointSlices) inv.endpointSlices.set(k, { ...s, endpoints: s.endpoints.filter((e) => e.ip !== '10.42.9.9') });
    });
    await h.step('affinity turned on', (inv) => editSvc(inv, 's5', { affinitySeconds: 30 }));
    await h.step('affinity timeout changed', (inv) => editSvc(inv, 's5', { affinitySeconds: 90 }));
    await h.step('affinity turned off (its learned choices must go)', (inv) => editSvc(inv, 's8', { affinitySeconds: 0 }));
    await h.step('internal traffic policy Local', (inv) => editSvc(inv, 's2', { internalTrafficPolicy: 'Local' }));
    await h.step('a node port added, external traffic policy Local', (inv) => editSvc(inv, 's2', { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30500 }] }));
    await h.step('a NodePort Service with affinity', (inv) => editSvc(inv, 's3', { affinitySeconds: 60 }));
    await h.step('the node port removed', (inv) => editSvc(inv, 's6', { type: 'ClusterIP', ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 0 }] }));
    await h.step('a second slice for a Service', (inv) => setSlice(inv, slice('s9', 'b', ['10.42.19.1'])));
    await h.step('an endpoint terminating', (inv) => setSlice(inv, { ...slice('s9', 'b', ['10.42.19.1']), endpoints: [{ ip: '10.42.19.1', serving: true, terminating: true, nodeName: NODE }] }));
    await h.step('every slice of a Service gone (its ports reject)', (inv) => inv.endpointSlices.delete('shop/s10-a'));
    await h.step('a Service made headless', (inv) => editSvc(inv, 's11', { clusterIP: undefined }));
    await h.step('an ExternalName Service', (inv) => inv.services.set('shop/ext', { ...svc('ext', 0), type: 'ExternalName', clusterIP: undefined }));
    await h.step('nothing changed');
  });

  it('recomputes only the changed Service, and nothing for objects rebuilt equal', () => {
    const inv = start();
    const r = new ServiceRealization(NODE, pipeline, cookies);
    assert.equal(r.update(snapshot(inv)).changed, 12);
    const before = r.flows();
    assert.equal(r.update(snapshot(inv)).changed, 0);
    assert.equal(r.flows(), before, 'unchanged: the very same array');
    // A source that parses everything again: new objects, equal content.
    const rebuilt: Inv = { services: new Map([...inv.services].map(([k, v]) => [k, structuredClone(v)])), endpointSlices: new Map([...inv.endpointSlices].map(([k, v]) => [k, structuredClone(v)])) };
    assert.equal(r.update(snapshot(rebuilt)).changed, 0);
    setSlice(rebuilt, slice('s7', 'a', ['10.42.7.1', '10.42.70.2', '10.42.7.3']));
    assert.equal(r.update(snapshot(rebuilt)).changed, 1);
    const after = r.flows();
    const same = after.filter((f) => before.includes(f)).length;
    assert.equal(after.length, before.length);
    // s7's ServiceLB flows (http, dns) and its replaced endpoint's two DNAT flows are new objects; every other flow is the same object.
    assert.equal(after.length - same, 4, 'only the changed Service\'s flows are new objects');
  });

  it('allocates group ids as the full allocation when two keys collide, moving the later key and back', async () => {
    const [a, b] = ['s52595', 's9649']; // found by search; a sorts before b
    assert.equal(groupIdOf(`shop/${a}:p`), groupIdOf(`shop/${b}:p`), 'the two keys hash alike');
    const one = (name: string, i: number) => svc(name, i, { ports: [{ name: 'p', protocol: 'TCP', port: 80, nodePort: 0 }] });
    const inv = start();
    const h = new Harness(inv);
    await h.step('no collision');
    await h.step('the later key of a colliding pair added', (x) => x.services.set(`shop/${b}`, one(b, 201)));
    await h.step('the earlier key added: it takes the hash, the later one moves on', (x) => x.services.set(`shop/${a}`, one(a, 200)));
    const ids = allocateGroupIds([`shop/${a}:p`, `shop/${b}:p`]);
    assert.equal(ids.get(`shop/${a}:p`), groupIdOf(`shop/${a}:p`));
    assert.equal(ids.get(`shop/${b}:p`), groupIdOf(`shop/${a}:p`) + 1);
    await h.step('an endpoint of the moved Service', (x) => setSlice(x, { ...slice(b, 'a', ['10.42.50.1']), ports: [{ name: 'p', protocol: 'TCP', port: 8080 }] }));
    await h.step('the earlier key removed: the later one gets its hash back', (x) => x.services.delete(`shop/${a}`));
  });

  it('equals the full recompute over 150 random changes', async () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const h = new Harness(start());
    await h.step('start');
    for (let n = 0; n < 150; n++) {
      const i = 1 + rand(16);
      const name = `s${i}`;
      const op = rand(7);
      await h.step(`#${n} op ${op} on ${name}`, (inv) => {
        const has = inv.services.has(`shop/${name}`);
        if (op === 0 || !has) inv.services.set(`shop/${name}`, svc(name, i));
        else if (op === 1) inv.services.delete(`shop/${name}`);
        else if (op === 2) setSlice(inv, slice(name, 'a', Array.from({ length: rand(5) }, () => `10.42.${rand(4)}.${1 + rand(6)}`)));
        else if (op === 3) editSvc(inv, name, { affinitySeconds: rand(3) * 100 });
        else if (op === 4) editSvc(inv, name, { internalTrafficPolicy: rand(2) ? 'Local' : 'Cluster', externalTrafficPolicy: rand(2) ? 'Local' : 'Cluster' });
        else if (op === 5) editSvc(inv, name, { type: 'NodePort', ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30000 + rand(3) * 100 + i }, { name: 'dns', protocol: 'UDP', port: 53, nodePort: 0 }] });
        else inv.endpointSlices.delete(`shop/${name}-a`);
      });
    }
  });
});
