// The controller's MQTT client, the same for the embedded broker and an external one: QoS 1,
// automatic reconnect; subscriptions are made again on every connect.
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { CONTROLLER_USERNAME } from '../../api/mqtt.js';
import { createLogger } from '../../lib/log.js';
import { coalesceWrites } from '../../lib/mqtt-cork.js';
import { disableNagle } from '../../lib/mqtt-nodelay.js';

const log = createLogger('controller.mqtt');

export interface BrokerConnectionOptions {
  url: string;
  username?: string;
  /** Absent when a client certificate logs in. */
  password?: string;
  /** mqtts://: the CA to trust, and the client certificate to present if any. */
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  /** The controller's own connection to its embedded broker: the certificate need not name 127.0.0.1. */
  skipHostnameCheck?: boolean;
  /** 4 (MQTT 3.1.1, the embedded aedes broker) or 5 (MQTT 5: shared subscriptions, request/response). */
  protocolVersion?: 4 | 5;
}

export async function connectBroker(opts: BrokerConnectionOptions): Promise<MqttClient> {
  const client = mqtt.connect(opts.url, {
    clientId: `seine-controller-${randomBytes(4).toString('hex')}`,
    protocolVersion: opts.protocolVersion ?? 4,
    username: opts.username ?? CONTROLLER_USERNAME,
    ...(opts.password !== undefined ? { password: opts.password } : {}),
    ...(opts.tls ? { ca: opts.tls.ca, ...(opts.tls.cert ? { cert: opts.tls.cert, key: opts.tls.key } : {}), rejectUnauthorized: true } : {}),
    ...(opts.skipHostnameCheck ? { checkServerIdentity: () => undefined } : {}),
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
  });
  disableNagle(client);
  coalesceWrites(client);
  client.on('error', (err) => log.warn({ err: err.message }, 'MQTT error'));
  client.on('offline', () => log.warn({ url: opts.url }, 'broker unreachable; retrying'));
  client.on('connect', () => log.info({ url: opts.url }, 'connected to broker'));
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      client.end(true);
      reject(new Error(`cannot connect to broker ${opts.url}: ${err.message}`));
    };
    client.once('connect', () => {
      client.off('error', onError);
      resolve();
    });
    client.once('error', onError);
  });
  return client;
}
