import assert from 'node:assert/strict';
import {
  InventoryListSchema,
  NamespaceListSchema,
  NodeListSchema,
  PodListSchema,
  WatchEventSchema,
} from '../../../src/api/k8s-core.js';
import { namespaceView, nodeView, podView } from '../../../src/agent/inventory/convert.js';
import { InventoryStore } from '../../../src/agent/inventory/store.js';
import { isActivePod, type InventoryChange } from '../../../src/agent/inventory/types.js';
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
