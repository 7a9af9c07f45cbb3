import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeInventorySource, type KubeInventoryOptions } from '../../../src/agent/inventory/kube.js';
import { loadKubeconfig, type KubeConnection } from '../../../src/agent/inventory/kubeconfig.js';
import { nodePodCIDR } from '../../../src/agent/inventory/node-cidr.js';
import type { Inventory, InventoryPod } from '../../../src/api/inventory.js';
import { ApiReplay, FIXTURES, fixtureJSON, watchLines } from './api-replay.js';
import { recordChanges, summary, until } from './helpers.js';

const WATCH_TIMEOUT = 60;

interface ChangeOf<T> {
  type: string;
  object: T;
  previous?: T;
}

describe('KubeInventorySource against a replayed k3s API server', () => {
  let api: ApiReplay;
  let source: KubeInventorySource | undefined;

  const connection = (extra: Partial<KubeConnection> = {}): KubeConnection => ({
    server: new URL(api.url),
    insecureSkipTLSVerify: false,
    token: 'test-token',
    origin: 'test',
    ...extra,
  });
  const startSource = async (options: Partial<KubeInventoryOptions> = {}) => {
    source = new KubeInventorySource({
      connection: connection(),
      watchTimeoutSeconds: WATCH_TIMEOUT,
      backoff: { initialMs: 20, maxMs: 100 },
      ...options,
    });
    await source.start();
    return source;
  };

  beforeEach(async () => {
    api = new ApiReplay().withFixtureLists();
    await api.listen();
  });

  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await api.close();
  });

  it('lists all three kinds, emits synced with the full snapshot, then watches from the list resourceVersion', async () => {
    const s = new KubeInventorySource({ connection: connection(), watchTimeoutSeconds: WATCH_TIMEOUT });
    source = s;
    let synced: Inventory | undefined;
    let syncedCount = 0;
    s.on('synced', (inv) => {
      synced = inv;
      syncedCount++;
    });
    const changes = recordChanges(s);
    await s.start();

    assert.equal(syncedCount, 1);
    assert.ok(s.synced);
    const inv = s.snapshot();
    assert.equal(synced, inv);
    assert.deepEqual([...inv.nodes.keys()], ['box-1', 'box-2']);
    assert.deepEqual(inv.nodes.get('box-1'), {
      name: 'box-1',
      podCIDR: '10.42.0.0/24',
      podCIDRs: ['10.42.0.0/24'],
      internalIP: '192.168.50.11',
      labels: {
        'beta.kubernetes.io/arch': 'arm64',
        'beta.kubernetes.io/instance-type': 'k3s',
        'beta.kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'arm64',
        'kubernetes.io/hostname': 'box-1',
        'kubernetes.io/os': 'linux',
        'node-role.kubernetes.io/control-plane': 'true',
        'node-role.kubernetes.io/master': 'true',
        'node.kubernetes.io/instance-type': 'k3s',
      },
    });
    assert.deepEqual([...inv.namespaces.keys()].sort(), ['default', 'kube-node-lease', 'kube-public', 'kube-system', 'shop']);
    assert.deepEqual(inv.namespaces.get('shop')?.labels, { 'kubernetes.io/metadata.name': 'shop', team: 'retail' });
    assert.deepEqual([...inv.pods.keys()].sort(), [
      'default/web-6d4cf56db6-2xq9h',
      'kube-system/coredns-7b98449c4-x7k2p',
      'kube-system/helm-install-traefik-crd-8bq5t',
      'shop/db-0',
    ]);
    assert.deepEqual(inv.pods.get('kube-system/coredns-7b98449c4-x7k2p'), {
      namespace: 'kube-system',
      name: 'coredns-7b98449c4-x7k2p',
      uid: '5f0e8c35-3b1e-4c6b-9a4e-1c2f3d4e5a61',
      labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': '7b98449c4' },
      ip: '10.42.0.2',
      ips: ['10.42.0.2'],
      nodeName: 'box-1',
      hostNetwork: false,
      phase: 'Running',
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        { name: 'metrics', port: 9153, protocol: 'TCP' },
      ],
    });
    assert.deepEqual(changes, [], 'nothing before synced is reported as a change');

    for (const resource of ['pods', 'namespaces', 'nodes'] as const) {
      const [list] = api.listsOf(resource);
      assert.equal(list?.query.get('limit'), '500');
      assert.equal(list?.query.get('resourceVersion'), null, 'a consistent list');
      assert.equal(list?.headers.authorization, 'Bearer test-token');
      const watch = await api.waitFor((r) => r.resource === resource && r.watch);
      assert.equal(watch.query.get('resourceVersion'), '1843');
      assert.equal(watch.query.get('allowWatchBookmarks'), 'true');
      const timeout = Number(watch.query.get('timeoutSeconds'));
      assert.ok(timeout >= WATCH_TIMEOUT && timeout <= 2 * WATCH_TIMEOUT, `timeoutSeconds ${timeout}`);
    }
  });

  it('applies ADDED, MODIFIED and DELETED events and reports only changes to the view', async () => {
    const s = await startSource();
    const changes = recordChanges(s);
    // Sent once both watches are open: events before the last kind is listed belong to 'synced'.
    await api.waitFor((r) => r.resource === 'pods' && r.watch);
    await api.waitFor((r) => r.resource === 'namespaces' && r.watch);
    api.push('pods', ...watchLines('pods-watch.ndjson'));
    api.push('namespaces', ...watchLines('namespaces-watch.ndjson'));
    await until(() => changes.length >= 6, '6 changes');
    await new Promise((r) => setTimeout(r, 50));

    const pods = changes.filter((c) => c.kind === 'Pod');
    assert.deepEqual(summary(pods), [
      'Pod added default/web-6d4cf56db6-r8d5n',
      'Pod updated default/web-6d4cf56db6-r8d5n',
      'Pod updated default/web-6d4cf56db6-2xq9h',
      // coredns' MODIFIED only touched a condition's time: no change to report.
      'Pod deleted shop/db-0',
    ]);
    const [added, gotIP, relabeled, deleted] = pods as ChangeOf<InventoryPod>[];
    assert.equal(added?.object.ip, undefined, 'a pending pod has no IP yet');
    assert.equal(gotIP?.object.ip, '10.42.1.7');
    assert.equal(gotIP?.previous?.ip, undefined);
    assert.equal(relabeled?.object.labels.tier, 'frontend');
    assert.equal(deleted?.object.ip, '10.42.1.3', 'a deletion carries the last known state');
    assert.deepEqual(summary(changes.filter((c) => c.kind === 'Namespace')), ['Namespace added lab', 'Namespace updated shop']);
    assert.deepEqual(s.snapshot().namespaces.get('lab')?.labels, { env: 'test', 'kubernetes.io/metadata.name': 'lab' });

    const inv = s.snapshot();
    assert.equal(inv.pods.has('shop/db-0'), false);
    assert.equal(inv.pods.get('default/web-6d4cf56db6-r8d5n')?.nodeName, 'box-2');
    assert.equal(s.resourceVersion('Pod'), '1950', 'the closing BOOKMARK moved the resourceVersion');
  });

  it('re-watches from the bookmark resourceVersion when the server ends the watch', async () => {
    api.onWatch('pods', { lines: watchLines('pods-watch.ndjson'), end: true });
    api.onWatch('pods', { lines: watchLines('pods-watch-bookmark-initial-events-end.ndjson'), end: true });
    await startSource();
    const third = await api.waitFor((r) => r.resource === 'pods' && r.watch && r.query.get('resourceVersion') === '2017');
    const rvs = api.watchesOf('pods').map((r) => r.query.get('resourceVersion'));
    assert.deepEqual(rvs, ['1843', '1950', '2017']);
    assert.equal(third.query.get('allowWatchBookmarks'), 'true');
    assert.equal(api.listsOf('pods').length, 1, 'a watch that ends normally needs no relist');
  });

  it('re-watches from the last event resourceVersion after a watch ends without a bookmark', async () => {
    const [added] = watchLines('pods-watch.ndjson');
    api.onWatch('pods', { lines: [added!], end: true });
    await startSource();
    await api.waitFor((r) => r.resource === 'pods' && r.watch && r.query.get('resourceVersion') === '1901');
    assert.equal(api.listsOf('pods').length, 1);
  });

  const relistCase = async (expired: Parameters<ApiReplay['onWatch']>[1]) => {
    api = new ApiReplay()
      .onList('pods', { body: fixtureJSON('podlist.json') }, { body: fixtureJSON('podlist-relist.json') })
      .onList('namespaces', { body: fixtureJSON('namespacelist.json') })
      .onList('nodes', { body: fixtureJSON('nodelist.json') })
      .withServiceFixtureLists()
      .onWatch('pods', expired);
    await api.listen();
    const s = await startSource();
    const changes = recordChanges(s);
    const rewatch = await api.waitFor((r) => r.resource === 'pods' && r.watch && r.query.get('resourceVersion') === '2391');
    assert.ok(rewatch);
    assert.equal(api.listsOf('pods').length, 2);
    assert.deepEqual(summary(changes), [
      'Pod deleted default/web-6d4cf56db6-2xq9h',
      'Pod added default/web-6d4cf56db6-kq4wz',
      'Pod updated shop/db-0',
    ]);
    assert.equal((changes[2]?.object as InventoryPod | undefined)?.labels.role, 'primary');
    assert.equal((changes[2]?.previous as InventoryPod | undefined)?.labels.role, undefined);
    assert.equal(api.listsOf('namespaces').length, 1, 'only the expired resource is listed again');
  };

  it('relists after an ERROR event with code 410 and reports the difference', async () => {
    await api.close();
    await relistCase({ lines: watchLines('pods-watch-expired.ndjson') });
  });

  it('relists after an HTTP 410 and reports the difference', async () => {
    await api.close();
    await relistCase({ status: 410, body: fixtureJSON('status-410-expired.json') });
  });

  it('relists when the server is behind the watch resourceVersion (504 Too large resource version)', async () => {
    await api.close();
    await relistCase({ status: 504, body: fixtureJSON('status-504-too-large-rv.json') });
  });

  it('backs off while the API server is down and resumes the watch when it is back', async () => {
    const s = await startSource();
    const changes = recordChanges(s);
    const port = api.port;
    await api.waitFor((r) => r.resource === 'pods' && r.watch);
    await api.close();
    await new Promise((r) => setTimeout(r, 300));
    const [added] = watchLines('pods-watch.ndjson');
    api = new ApiReplay().withFixtureLists().onWatch('pods', { lines: [added!] });
    await api.listen(port);
    await until(() => changes.length === 1, 'the event after the restart');
    assert.deepEqual(summary(changes), ['Pod added default/web-6d4cf56db6-r8d5n']);
    const watch = api.watchesOf('pods')[0];
    assert.equal(watch?.query.get('resourceVersion'), '1843', 'the watch resumes where it was');
    assert.equal(api.listsOf('pods').length, 0, 'no relist is needed');
  });

  it('retries a refused LIST and syncs once it is allowed', async () => {
    await api.close();
    api = new ApiReplay()
      .onList('pods', { status: 403, body: fixtureJSON('status-403-forbidden.json') }, { body: fixtureJSON('podlist.json') })
      .onList('namespaces', { body: fixtureJSON('namespacelist.json') })
      .onList('nodes', { body: fixtureJSON('nodelist.json') })
      .withServiceFixtureLists();
    await api.listen();
    const s = await startSource();
    assert.equal(api.listsOf('pods').length, 2);
    assert.equal(s.snapshot().pods.size, 4);
  });

  it('passes the pod field selector on the pod list and watch only', async () => {
    await startSource({ podFieldSelector: 'spec.nodeName=box-1' });
    await api.waitFor((r) => r.resource === 'pods' && r.watch);
    for (const r of api.requests) {
      assert.equal(r.query.get('fieldSelector'), r.resource === 'pods' ? 'spec.nodeName=box-1' : null, `${r.resource}`);
    }
  });

  it('skips an invalid object but moves the resourceVersion on', async () => {
    const bad = JSON.stringify({
      type: 'ADDED',
      object: { kind: 'Pod', apiVersion: 'v1', metadata: { name: 'x', namespace: 'default', uid: 'u', resourceVersion: '1890' }, spec: { containers: [{ name: 'c', ports: [{ containerPort: 70000 }] }] } },
    });
    api.onWatch('pods', { lines: [bad], end: true });
    const s = await startSource();
    await api.waitFor((r) => r.resource === 'pods' && r.watch && r.query.get('resourceVersion') === '1890');
    assert.equal(s.snapshot().pods.has('default/x'), false);
  });

  it('refuses a node whose InternalIP would inject flow text and an EndpointSlice address, keeping their last good views and everything else', async () => {
    const s = await startSource();
    const changes = recordChanges(s);
    await api.waitFor((r) => r.resource === 'nodes' && r.watch);
    await api.waitFor((r) => r.resource === 'endpointslices' && r.watch);
    const nodes = fixtureJSON('nodelist.json') as { items: { metadata: { name: string; resourceVersion?: string; labels?: Record<string, string> }; status: { addresses: { type: string; address: string }[] } }[] };
    const bad = structuredClone(nodes.items[1]!);
    bad.metadata.resourceVersion = '5001';
    bad.status.addresses[0]!.address = '192.168.50.12,actions=NORMAL';
    const relabeled = structuredClone(nodes.items[0]!);
    relabeled.metadata.resourceVersion = '5002';
    relabeled.metadata.labels = { ...relabeled.metadata.labels, zone: 'north' };
    const slices = fixtureJSON('endpointslicelist.json') as { items: { metadata: { resourceVersion?: string }; endpoints: { addresses: string[] }[] }[] };
    const badSlice = structuredClone(slices.items[0]!);
    badSlice.metadata.resourceVersion = '5003';
    badSlice.endpoints[0]!.addresses[0] = '192.168.50.11\ntable=0,priority=65535,actions=NORMAL';
    api.push('nodes', JSON.stringify({ type: 'MODIFIED', object: bad }), JSON.stringify({ type: 'MODIFIED', object: relabeled }));
    api.push('endpointslices', JSON.stringify({ type: 'MODIFIED', object: badSlice }));
    await until(() => changes.length === 1, 'the good node change');
    await until(() => s.refusals.counts.EndpointSlice === 1, 'the slice refused');
    assert.deepEqual(summary(changes), ['Node updated box-1'], 'only the valid object changed');
    assert.equal(s.snapshot().nodes.get('box-2')?.internalIP, '192.168.50.12', 'the last good InternalIP stays');
    assert.equal(s.snapshot().endpointSlices?.get('default/kubernetes')?.endpoints[0]?.ip, '192.168.50.11');
    assert.deepEqual([s.refusals.counts.Node, s.refusals.counts.EndpointSlice], [1, 1]);
    assert.equal(s.resourceVersion('Node'), '5002');

    // A refused object that is then deleted goes: the deletion is by name.
    api.push('nodes', JSON.stringify({ type: 'DELETED', object: { ...bad, metadata: { ...bad.metadata, resourceVersion: '5004' } } }));
    await until(() => !s.snapshot().nodes.has('box-2'), 'box-2 deleted');
  });

  it('takes the bearer token from a kubeconfig', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seine-kubeconfig-'));
    try {
      const text = readFileSync(new URL('kubeconfig-token.yaml', FIXTURES), 'utf8').replace('http://127.0.0.1:6443', api.url);
      writeFileSync(join(dir, 'config'), text);
      source = new KubeInventorySource({ connection: loadKubeconfig(join(dir, 'config')), watchTimeoutSeconds: WATCH_TIMEOUT });
      await source.start();
      assert.match(String(api.requests[0]?.headers.authorization), /^Bearer eyJhbGciOiJSUzI1NiIs/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads a rotated service-account token file again for each request', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seine-token-'));
    try {
      writeFileSync(join(dir, 'token'), 'first\n');
      api.onWatch('pods', { lines: [], end: true });
      source = new KubeInventorySource({
        connection: { ...connection(), token: undefined, tokenFile: join(dir, 'token') } as KubeConnection,
        watchTimeoutSeconds: WATCH_TIMEOUT,
        backoff: { initialMs: 200, maxMs: 200 },
      });
      await source.start();
      assert.equal(api.listsOf('pods')[0]?.headers.authorization, 'Bearer first');
      writeFileSync(join(dir, 'token'), 'second\n');
      // The empty watch that ended at once is retried after the backoff, with the new token.
      const retry = await api.waitFor((r) => r.resource === 'pods' && r.watch && r.headers.authorization === 'Bearer second');
      assert.ok(retry);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('nodePodCIDR waits until the node has a podCIDR', async () => {
    api.onWatch('nodes', { lines: [watchLines('nodes-watch.ndjson')[0]!] });
    const s = await startSource();
    assert.equal(await nodePodCIDR(s, 'box-1'), '10.42.0.0/24');
    await until(() => s.snapshot().nodes.has('box-3'), 'box-3 registered');
    let cidr: string | undefined;
    const waiting = nodePodCIDR(s, 'box-3').then((c) => (cidr = c));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(cidr, undefined, 'box-3 has no podCIDR yet');
    api.push('nodes', watchLines('nodes-watch.ndjson')[1]!);
    assert.equal(await waiting, '10.42.2.0/24');
  });

  it('start() rejects when stopped before the first sync', async () => {
    await api.close();
    api = new ApiReplay().onList('pods', { status: 500, body: { kind: 'Status', code: 500 } });
    await api.listen();
    source = new KubeInventorySource({ connection: connection(), watchTimeoutSeconds: WATCH_TIMEOUT, backoff: { initialMs: 20, maxMs: 20 } });
    const started = source.start();
    await api.waitFor((r) => r.resource === 'pods');
    await source.stop();
    await assert.rejects(started, /stopped before its first sync/);
  });

  it('lists Services and EndpointSlices (k3s payloads): ports, affinity, traffic policies, endpoint conditions', async () => {
    const s = await startSource();
    const inv = s.snapshot();
    assert.deepEqual(inv.services?.get('default/web'), {
      namespace: 'default', name: 'web', type: 'NodePort', clusterIP: '10.43.117.42',
      ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
      affinitySeconds: 600, externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Cluster',
    });
    assert.equal(inv.services?.get('kube-system/kube-dns')?.affinitySeconds, 0);
    assert.deepEqual(inv.endpointSlices?.get('default/web-x9p4q'), {
      namespace: 'default', name: 'web-x9p4q', service: 'web',
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints: [
        { ip: '10.42.0.7', serving: true, terminating: false, nodeName: 'box-1' },
        { ip: '10.42.1.5', serving: true, terminating: true, nodeName: 'box-2' },
      ],
    });
    // The kubernetes Service's endpoint is the API server on the host: no nodeName.
    assert.deepEqual(inv.endpointSlices?.get('default/kubernetes')?.endpoints, [{ ip: '192.168.50.11', serving: true, terminating: false }]);
    await api.waitFor((r) => r.resource === 'endpointslices' && r.watch && r.query.get('resourceVersion') === '1851');
  });
});
