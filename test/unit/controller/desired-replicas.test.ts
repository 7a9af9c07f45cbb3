// Two desired publishers (two controller replicas' worth: each its own ObjectStore, NodeRegistry
// and MQTT client) on one real PostgreSQL store and one real mosquitto. The interleaving is
// driven exactly: replica b reads the store, then replica a stores a change and publishes it,
// then b goes on with what it read. b must not publish its older document over a's (the box
// would realize the old policy under a higher generation): its publication is refused and it
// reads the store again (issue #22).
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { parseManifests } from '../../../src/api/manifest.js';
import { nodeTopic, type DesiredEnvelope } from '../../../src/api/mqtt.js';
import { CONTROLLER_USERNAME } from '../../../src/api/mqtt.js';
import { NodeRegistry } from '../../../src/controller/store/nodes.js';
import { ObjectStore, type StoredRecord } from '../../../src/controller/store/objects.js';
import { PostgresDatabase } from '../../../src/controller/store/postgres.js';
import { connectBroker } from '../../../src/controller/sync/broker-connection.js';
import { DesiredPublisher, spanDocumentBuilder } from '../../../src/controller/sync/desired-publisher.js';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.js';
import { startPostgres, type TestPostgres } from '../../helpers/postgres.js';
import { acnp } from '../../integration/controller-fixture.js';

const ACNP = 'ClusterNetworkPolicy.crd.antrea.io//p';
const everyNode = (_o: unknown, nodes: readonly string[]) => nodes;

describe('desired publishers of two replicas on one PostgreSQL store', function () {
  this.timeout(60_000);
  let pgServer: TestPostgres;
  let broker: Mosquitto;
  const closers: (() => Promise<unknown>)[] = [];
  const password = 'controller-pw-123';

  before(async function () {
    pgServer = await startPostgres();
    broker = await startMosquitto({ users: { [CONTROLLER_USERNAME]: password } });
  });
  after(async function () {
    await broker?.stop();
    await pgServer?.stop();
  });
  afterEach(async function () {
    for (const c of closers.splice(0).reverse()) await c();
  });

  /** One replica's publisher; `gate`, when set, holds its publication between reading the store and building. */
  async function replica(url: string) {
    const db = await PostgresDatabase.open(url);
    closers.push(() => db.close());
    const store = await ObjectStore.open(db);
    const nodes = await NodeRegistry.open(db, { shared: true });
    const client = await connectBroker({ url: broker.controllerUrl, password, protocolVersion: 5 });
    closers.push(() => client.endAsync(true));
    const r = {
      store, nodes, gate: undefined as Promise<void> | undefined, held: 0, read: [] as number[],
      publisher: new DesiredPublisher({
        store, nodes, client, storeId: 'test-store', build: spanDocumentBuilder(everyNode),
        prepare: async (objects: readonly StoredRecord[]) => {
          r.read.push(objects.find((o) => o.name === 'p')?.generation ?? 0);
          if (r.gate) {
            r.held++;
            await r.gate;
          }
          return 'all';
        },
      }),
    };
    closers.push(() => r.publisher.stop());
    return r;
  }

  /** Every desired document box1 is sent from now on, in the broker's order (the retained one first). */
  async function watch(): Promise<DesiredEnvelope[]> {
    const seen: DesiredEnvelope[] = [];
    const spy: MqttClient = await mqtt.connectAsync(broker.controllerUrl, { username: CONTROLLER_USERNAME, password, clientId: `spy-${process.pid}-${Date.now()}` });
    closers.push(() => spy.endAsync(true));
    spy.on('message', (_t, payload) => payload.length && seen.push(JSON.parse(payload.toString()) as DesiredEnvelope));
    await spy.subscribeAsync(nodeTopic('box1', 'desired'), { qos: 1 });
    return seen;
  }

  it('a replica that read the store before the other stored and published a change does not publish its older document', async function () {
    const url = await pgServer.createDatabase('stale_view');
    const [a, b] = [await replica(url), await replica(url)];
    await a.nodes.register('box1', 'admin');
    // b starts first (its document: no objects), then the policy is stored and published by a alone.
    await b.publisher.start();
    await a.publisher.start();
    await a.store.apply(parseManifests(JSON.stringify([acnp('p', 5)]), 'test'), 'admin');
    await a.publisher.idle();
    const seen = await watch();
    await waitFor(() => seen.some((d) => d.payload.objects[ACNP]?.generation === 1), 'box1 getting generation 1 of the policy');

    // b reads the store (generation 1 of the policy) and is held there.
    let open!: () => void;
    b.gate = new Promise((resolve) => (open = resolve));
    const bDone = b.publisher.republish();
    await waitFor(() => b.held === 1, 'replica b holding its publication');
    // a stores generation 2 and publishes it.
    await a.store.apply(parseManifests(JSON.stringify([acnp('p', 6)]), 'test'), 'admin');
    await a.publisher.idle();
    await waitFor(() => seen.some((d) => d.payload.objects[ACNP]?.generation === 2), 'box1 getting generation 2');
    const fresh = seen.find((d) => d.payload.objects[ACNP]?.generation === 2)!;
    // b goes on with what it read.
    b.gate = undefined;
    open();
    await bDone;
    await b.publisher.idle();
    await new Promise((r) => setTimeout(r, 300)); // anything b sent has reached the spy
    const after = seen.slice(seen.indexOf(fresh) + 1);
    assert.deepEqual(after.map((d) => [d.generation, d.payload.objects[ACNP]?.generation]), [], 'no document after generation 2 of the policy');
    // What b read after it was refused: the store again, generation 2.
    assert.equal(b.read.at(-1), 2, `replica b read the policy generations ${JSON.stringify(b.read)}`);
    const row = await a.nodes.list();
    assert.equal(row[0]!.desiredGeneration, fresh.generation, 'the node\'s desired generation is the one a published');
  });
});

async function waitFor(ok: () => boolean, what: string, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; !ok();) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
