import type { InventoryPod } from '../../../src/api/inventory.js';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileInventorySource } from '../../../src/agent/inventory/file.js';
import { nodePodCIDR } from '../../../src/agent/inventory/node-cidr.js';
import { fixtureJSON } from './api-replay.js';
import { recordChanges, summary, until } from './helpers.js';

interface Item {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  status?: { podIP?: string; podIPs?: { ip: string }[] };
}
type List = { apiVersion: string; kind: string; items: Item[] };

describe('FileInventorySource', () => {
  let dir: string;
  let path: string;
  let source: FileInventorySource | undefined;
  let serial = 0;

  /** As the lab does it: write a temp file, rename it over the inventory. */
  const writeAtomically = (content: unknown) => {
    const tmp = join(dir, `.inventory.json.${serial++}`);
    writeFileSync(tmp, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    renameSync(tmp, path);
  };
  const base = () => structuredClone(fixtureJSON('lab-inventory.json')) as List;
  const start = async (pollMs = 60_000) => {
    source = new FileInventorySource({ path, debounceMs: 20, pollMs });
    await source.start();
    return source;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'seine-inventory-'));
    path = join(dir, 'inventory.json');
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('syncs from the file the lab wrote, in the shape kubectl get -o json prints', async () => {
    writeAtomically(base());
    const s = new FileInventorySource({ path });
    source = s;
    let synced = 0;
    s.on('synced', () => synced++);
    await s.start();
    assert.equal(synced, 1);
    const inv = s.snapshot();
    assert.deepEqual([...inv.nodes.keys()], ['box-1', 'box-2']);
    assert.equal(inv.nodes.get('box-2')?.internalIP, '172.31.250.12');
    assert.deepEqual(inv.namespaces.get('default')?.labels, { 'kubernetes.io/metadata.name': 'default' });
    assert.deepEqual(inv.pods.get('shop/db-1')?.ports, [{ port: 5432, protocol: 'TCP' }]);
    assert.equal(await nodePodCIDR(s, 'box-1'), '10.42.0.0/24');
  });

  it('waits for a file that is not there yet', async () => {
    const s = new FileInventorySource({ path, debounceMs: 20 });
    source = s;
    const started = s.start();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.synced, false);
    writeAtomically(base());
    await started;
    assert.equal(s.snapshot().pods.size, 2);
  });

  it('reports added, updated and deleted objects when the file changes', async () => {
    writeAtomically(base());
    const s = await start();
    const changes = recordChanges(s);

    const next = base();
    next.items = next.items.filter((i) => i.metadata.name !== 'db-1');
    const web = next.items.find((i) => i.metadata.name === 'web-1')!;
    web.metadata.labels = { app: 'web', tier: 'frontend' };
    next.items.push({
      kind: 'Pod',
      metadata: { name: 'web-2', namespace: 'default', labels: { app: 'web' }, uid: 'u-web-2' } as Item['metadata'],
      spec: { nodeName: 'box-2', containers: [{ name: 'main' }] },
      status: { phase: 'Running', podIP: '10.42.1.3', podIPs: [{ ip: '10.42.1.3' }] },
    } as Item);
    writeAtomically(next);

    await until(() => changes.length === 3, 'three changes');
    assert.deepEqual(summary(changes), ['Pod deleted shop/db-1', 'Pod updated default/web-1', 'Pod added default/web-2']);
    assert.equal((changes[1]?.object as InventoryPod | undefined)?.labels.tier, 'frontend');
  });

  it('keeps the last good snapshot when the file is invalid, and recovers when it is fixed', async () => {
    writeAtomically(base());
    const s = await start();
    const changes = recordChanges(s);
    const good = s.snapshot();

    writeAtomically('{"apiVersion":"v1","kind":"List","items":[');
    const invalid = base();
    (invalid.items[4] as { status: { podIP: string } }).status.podIP = '10.42.0.300';
    await new Promise((r) => setTimeout(r, 100));
    writeAtomically(invalid);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.snapshot(), good);
    assert.deepEqual(changes, []);

    const fixed = base();
    (fixed.items[4] as { status: { podIP: string; podIPs: { ip: string }[] } }).status = { podIP: '10.42.0.9', podIPs: [{ ip: '10.42.0.9' }] };
    writeAtomically(fixed);
    await until(() => changes.length === 1, 'the fix');
    assert.equal(s.snapshot().pods.get('default/web-1')?.ip, '10.42.0.9');
  });

  it('refuses one object whose address would inject flow text; the rest of the file applies', async () => {
    writeAtomically(base());
    const s = await start();
    const changes = recordChanges(s);
    const next = base() as unknown as { items: Record<string, any>[] };
    const box2 = next.items.find((i) => i.kind === 'Node' && i.metadata.name === 'box-2')!;
    box2.status.addresses[0].address = '172.31.250.12,actions=NORMAL';
    next.items.find((i) => i.metadata.name === 'web-1')!.metadata.labels = { app: 'web', tier: 'frontend' };
    next.items.push({ kind: 'Node', metadata: { name: 'box-3' }, status: { addresses: [{ type: 'InternalIP', address: '172.31.250.13\npriority=0,actions=drop' }] } });
    writeAtomically(next);
    await until(() => changes.length === 1, 'the pod change');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(summary(changes), ['Pod updated default/web-1']);
    assert.equal(s.snapshot().nodes.get('box-2')?.internalIP, '172.31.250.12', 'the last good view stays');
    assert.equal(s.snapshot().nodes.has('box-3'), false, 'a new bad object is not added');
    assert.equal(s.refusals.counts.Node, 2);
  });

  it('keeps the last snapshot when the file is removed', async () => {
    writeAtomically(base());
    const s = await start(50);
    const changes = recordChanges(s);
    rmSync(path);
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(s.snapshot().pods.size, 2);
    assert.deepEqual(changes, []);
  });

  it('catches a change by polling when no file event comes (directory made again)', async () => {
    writeAtomically(base());
    const s = await start(50);
    const changes = recordChanges(s);
    rmSync(dir, { recursive: true });
    await new Promise((r) => setTimeout(r, 80));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    const next = base();
    next.items = next.items.filter((i) => i.metadata.name !== 'web-1');
    writeAtomically(next);
    await until(() => changes.length === 1, 'the change after the directory came back');
    assert.deepEqual(summary(changes), ['Pod deleted default/web-1']);
  });
});
