// The controller's MQTT client, the same for the embedded broker and an external one: QoS 1,
// automatic reconnect; subscriptions are made again on every connect.
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { CONTROLLER_USERNAME } from '../../api/mqtt.js';
import { createLogger } from '../../lib/log.js';

const log = createLogger('controller.mqtt');

export interface BrokerConnectionOptions {
  url: string;
  username?: string;
  password: string;
  /** 5 for MQTT 5 features (shared subscriptions); MQTT.js's default (4, i.e. 3.1.1) otherwise. */
  protocolVersion?: 4 | 5;
}

export async function connectBroker(opts: BrokerConnectionOptions): Promise<MqttClient> {
  const client = mqtt.connect(opts.url, {
    clientId: `seine-controller-${randomBytes(4).toString('hex')}`,
    username: opts.username ?? CONTROLLER_USERNAME,
    password: opts.password,
    clean: true,
    ...(opts.protocolVersion ? { protocolVersion: opts.protocolVersion } : {}),
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
  });
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
