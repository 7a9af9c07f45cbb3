import assert from 'node:assert/strict';
import {
  EndpointSliceListSchema,
  EndpointSliceSchema,
  InventoryListSchema,
  NodeSchema,
  NamespaceListSchema,
  NodeListSchema,
  PodListSchema,
  WatchEventSchema,
} from '../../../src/api/k8s-core.js';
import { describeZodError } from '../../../src/api/issues.js';
import { endpointSliceView, namespaceView, nodeView, podView } from '../../../src/agent/inventory/convert.js';
import { InventoryStore } from '../../../src/agent/inventory/store.js';
import { isActivePod, type InventoryChange } from '../../../src/api/inventory.js';
import { fixtureJSON, watchLines } from './api-replay.js';
import { summary } from './helpers.js';

describe('k8s core schemas and inventory views', () => {
  const pods = PodListSchema.parse(fixtureJSON('podlist.json')).items;

  it('accepts real k3s list and watch payloads and keeps fields Seine does not read', () => {
    assert.equal(pods.length, 4);
    assert.equal(NamespaceListSchema.parse(fixtureJSON('namespacelist.json')).items.length, 5);
    const nodes = NodeListSchema.parse(fixtureJSON('nodelist.json')).items;
    assert.equal((nodes[0]!.status as Record<string, unknown>).nodeInfo !== undefined, true, 'unknown fields pass through');
    for (const file of ['pods-watch.ndjson', 'pods-watch-expired.ndjson', 'nodes-watch.ndjson', 'namespaces-watch.ndjson']) {
      for (const line of watchLines(file)) WatchEventSchema.parse(JSON.parse(line));
    }
  });

  it('rejects a pod with the zod path of the bad field', () => {
    const bad = structuredClone(fixtureJSON('podlist.json')) as { items: { spec: { containers: { ports: { containerPort: unknown }[] }[] } }[] };
    bad.items[0]!.spec.containers[0]!.ports[1]!.containerPort = '53';
    const result = PodListSchema.safeParse(bad);
    assert.equal(result.success, false);
    assert.deepEqual(result.error?.issues[0]?.path, ['items', 0, 'spec', 'containers', 0, 'ports', 1, 'containerPort']);
  });

  it('views a pod: labels, IPs, node, ports with names and protocols', () => {
    const db = podView(pods.find((p) => p.metadata.name === 'db-0')!);
    assert.deepEqual(db, {
      namespace: 'shop',
      name: 'db-0',
      uid: 'e4d3c2b1-a098-4f7e-8d6c-5b4a39281706',
      labels: {
        app: 'db',
        'apps.kubernetes.io/pod-index': '0',
        'controller-revision-hash': 'db-5c8f9d7b6',
        'statefulset.kubernetes.io/pod-name': 'db-0',
      },
      ip: '10.42.1.3',
      ips: ['10.42.1.3'],
      nodeName: 'box-2',
      hostNetwork: false,
      phase: 'Running',
      ports: [{ name: 'postgres', port: 5432, protocol: 'TCP' }],
    });
    assert.equal(isActivePod(db), true);
  });

  it('marks a completed pod inactive: its IP may already belong to another pod', () => {
    const helm = podView(pods.find((p) => p.metadata.name.startsWith('helm-install'))!);
    assert.equal(helm.phase, 'Succeeded');
    assert.equal(isActivePod(helm), false);
  });

  it('adds kubernetes.io/metadata.name to a namespace that lacks it, defaults ports to TCP', () => {
    const list = InventoryListSchema.parse(fixtureJSON('lab-inventory.json'));
    const shop = list.items.find((i) => i.kind === 'Namespace' && i.metadata.name === 'shop')!;
    assert.equal(shop.kind, 'Namespace');
    assert.deepEqual(namespaceView(shop as never), { name: 'shop', labels: { 'kubernetes.io/metadata.name': 'shop', team: 'retail' } });
    const web = list.items.find((i) => i.kind === 'Pod' && i.metadata.name === 'web-1')!;
    assert.deepEqual(podView(web as never).ports, [{ name: 'http', port: 80, protocol: 'TCP' }]);
  });

  it('views a node: podCIDR, InternalIP; a fresh node has no podCIDR yet', () => {
    const [fresh, allocated] = watchLines('nodes-watch.ndjson').map((l) => nodeView(JSON.parse(l).object));
    assert.equal(fresh!.podCIDR, undefined);
    assert.deepEqual(fresh!.podCIDRs, []);
    assert.equal(fresh!.internalIP, '192.168.50.13');
    assert.equal(allocated!.podCIDR, '10.42.2.0/24');
  });
});

// Every address reaches an OpenFlow string (nat(dst=IP:port), set_field:IP->tun_dst): a comma or
// newline in one would add actions or whole flows. The schemas refuse them, naming the field.
describe('inventory inputs that reach OpenFlow text', () => {
  const INJECTIONS = ['10.42.1.5,actions=NORMAL', '10.42.1.5\ntable=0,priority=65535,actions=NORMAL', 'fe80::1%eth0', '10.42.1.5 ', ''];
  const slice = () => structuredClone(EndpointSliceListSchema.parse(fixtureJSON('endpointslicelist.json')).items[0]!) as unknown as { addressType: string; endpoints: { addresses: string[] }[] };
  const node = () => structuredClone(watchLines('nodes-watch.ndjson').map((l) => JSON.parse(l).object)[1]) as { status: { addresses: { type: string; address: string }[] } };

  for (const bad of INJECTIONS) {
    it(`refuses an EndpointSlice address ${JSON.stringify(bad)}, naming the field`, () => {
      const s = slice();
      s.endpoints[0]!.addresses[0] = bad;
      const r = EndpointSliceSchema.safeParse(s, { reportInput: true });
      assert.equal(r.success, false);
      assert.match(describeZodError(r.error!), /^endpoints\[0\]\.addresses\[0\]: /);
    });
    it(`refuses a Node InternalIP ${JSON.stringify(bad)}, naming the field`, () => {
      const n = node();
      const i = n.status.addresses.findIndex((a) => a.type === 'InternalIP');
      n.status.addresses[i]!.address = bad;
      const r = NodeSchema.safeParse(n, { reportInput: true });
      assert.equal(r.success, false);
      assert.match(describeZodError(r.error!), new RegExp(`^status\\.addresses\\[${i}\\]\\.address: `));
    });
  }

  it('checks slice addresses against the addressType; Hostname addresses stay free text', () => {
    const s = slice();
    s.addressType = 'IPv6';
    assert.match(describeZodError(EndpointSliceSchema.safeParse(s).error!), /endpoints\[0\]\.addresses\[0\]: expected an IPv6 address/);
    s.endpoints[0]!.addresses[0] = 'fd00::5';
    assert.equal(EndpointSliceSchema.safeParse(s).success, true);
    s.addressType = 'FQDN';
    s.endpoints[0]!.addresses[0] = 'db.example.com,actions=NORMAL';
    assert.equal(EndpointSliceSchema.safeParse(s).success, false);
    const n = node();
    n.status.addresses.push({ type: 'Hostname', address: 'box 3' });
    assert.equal(NodeSchema.safeParse(n).success, true);
  });

  it('refuses names the API server would not accept: they become store keys and log fields', () => {
    const list = structuredClone(fixtureJSON('podlist.json')) as { items: { metadata: { name: string; namespace: string } }[] };
    list.items[0]!.metadata.name = 'web/1';
    list.items[1]!.metadata.namespace = 'shop\nx';
    const problems = describeZodError(PodListSchema.safeParse(list).error!);
    assert.match(problems, /items\[0\]\.metadata\.name: expected a DNS-1123 subdomain/);
    assert.match(problems, /items\[1\]\.metadata\.namespace: expected a DNS-1123 label/);
  });

  it('views only validated objects: the slice and node views carry the checked addresses', () => {
    const view = endpointSliceView(EndpointSliceSchema.parse(slice()));
    assert.deepEqual(view.endpoints.map((e) => e.ip), ['192.168.50.11']);
    assert.equal(nodeView(NodeSchema.parse(node())).internalIP, '192.168.50.13');
  });
});

describe('InventoryStore', () => {
  const ns = (name: string, labels: Record<string, string> = {}) => ({ name, labels });

  it('reports added, updated and deleted, and nothing for an identical object', () => {
    const changes: InventoryChange[] = [];
    const store = new InventoryStore((c) => changes.push(c));
    store.replace('Namespace', [ns('a'), ns('b')]);
    const before = store.snapshot();
    store.put('Namespace', ns('a'));
    store.replace('Namespace', [ns('b', { x: '1' }), ns('c')]);
    store.remove('Namespace', 'nope');
    assert.deepEqual(summary(changes), [
      'Namespace added a',
      'Namespace added b',
      'Namespace deleted a',
      'Namespace updated b',
      'Namespace added c',
    ]);
    assert.deepEqual(changes[3]?.previous, ns('b'));
    assert.deepEqual([...before.namespaces.keys()], ['a', 'b'], 'an earlier snapshot does not change');
    assert.deepEqual([...store.snapshot().namespaces.keys()], ['b', 'c']);
  });
});
