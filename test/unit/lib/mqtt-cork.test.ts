// coalesceWrites: a burst of QoS 1 messages is acknowledged in a few socket writes, not one
// write per PUBACK, and every message is still acknowledged (a real aedes broker on loopback).
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { coalesceWrites } from '../../../src/lib/mqtt-cork.js';
import { disableNagle } from '../../../src/lib/mqtt-nodelay.js';

const MESSAGES = 300;

describe('coalesceWrites', function () {
  this.timeout(30_000);
  let broker: Aedes;
  let server: net.Server;
  let url: string;
  const acks = new Map<string, number>();

  before(async () => {
    broker = await Aedes.createBroker();
    broker.on('ack', (_packet, client) => void acks.set(client.id, (acks.get(client.id) ?? 0) + 1));
    server = net.createServer({ noDelay: true }, broker.handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
  });

  const connect = async (clientId: string): Promise<MqttClient> => {
    const c = mqtt.connect(url, { clientId, clean: true, reconnectPeriod: 0 });
    disableNagle(c);
    await new Promise((resolve, reject) => c.once('connect', resolve).once('error', reject));
    return c;
  };

  /** Socket writes the subscriber made while it took MESSAGES QoS 1 messages sent in one burst. */
  async function writesForBurst(clientId: string, coalesce: boolean): Promise<number> {
    const sub = await connect(clientId);
    const pub = await connect(`${clientId}-pub`);
    try {
      if (coalesce) coalesceWrites(sub);
      await sub.subscribeAsync(`burst/${clientId}`, { qos: 1 });
      const socket = sub.stream as Socket & { _write: Socket['_write']; _writev?: Socket['_writev'] };
      let writes = 0;
      for (const m of ['_write', '_writev'] as const) {
        const orig = socket[m]!.bind(socket) as (...args: unknown[]) => void;
        (socket as unknown as Record<string, unknown>)[m] = (...args: unknown[]) => {
          writes++;
          orig(...args);
        };
      }
      let got = 0;
      const all = new Promise<void>((resolve) => sub.on('message', () => ++got === MESSAGES && resolve()));
      await Promise.all(Array.from({ length: MESSAGES }, (_, i) => pub.publishAsync(`burst/${clientId}`, `m${i}`, { qos: 1 })));
      await all;
      // Every PUBACK reached the broker.
      for (const end = Date.now() + 10_000; (acks.get(clientId) ?? 0) < MESSAGES && Date.now() < end;) await new Promise((r) => setTimeout(r, 10));
      assert.equal(acks.get(clientId), MESSAGES, `${clientId}: PUBACKs the broker got`);
      return writes;
    } finally {
      await Promise.all([sub.endAsync(true), pub.endAsync(true)]);
    }
  }

  it('acknowledges a burst in a few writes, each message still acknowledged', async () => {
    const plain = await writesForBurst('plain', false);
    const coalesced = await writesForBurst('coalesced', true);
    // Without it MQTT.js writes each PUBACK by itself; with it a read's PUBACKs share one write.
    assert.ok(plain >= MESSAGES * 0.9, `without coalescing: ${plain} writes for ${MESSAGES} PUBACKs`);
    assert.ok(coalesced <= MESSAGES / 5, `with coalescing: ${coalesced} writes for ${MESSAGES} PUBACKs`);
  });
});
