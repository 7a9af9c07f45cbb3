// Broker hardening against a real embedded broker (aedes) with real MQTT clients: failed logins
// are rate-limited per source and per node name before any password hashing.
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { agentClientId } from '../../src/api/mqtt.js';
import type { Controller } from '../../src/controller/main.js';
import { startController, tempDir } from './controller-fixture.js';

function connect(url: string, username: string, password: string, clientId = agentClientId(username)): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { clientId, username, password, reconnectPeriod: 0, clean: true, connectTimeout: 3000 });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => {
      c.end(true);
      reject(err);
    });
  });
}

describe('broker hardening: failed logins are rate-limited', function () {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let c: Controller;
  const creds: Record<string, string> = {};
  let verified = 0;

  before(async function () {
    tmp = await tempDir();
    c = await startController(tmp.dir, { loginFailureLimits: { perSource: 5, perNode: 3, windowSeconds: 60 } });
    for (const n of ['box-a', 'box-b', 'box-c']) creds[n] = await c.nodes.createCredentials(n, 't');
    // Count the password checks (scrypt) the broker asks for.
    const verify = c.nodes.verifyPassword.bind(c.nodes);
    c.nodes.verifyPassword = async (node, password) => (verified++, verify(node, password));
  });
  after(async function () {
    await c?.stop();
    await tmp?.remove();
  });

  it('per node name: after 3 failures even the right password is refused, without a password check; other nodes still log in', async function () {
    for (let i = 0; i < 3; i++) await assert.rejects(connect(c.brokerUrl, 'box-a', `wrong-${i}`), /Bad username or password/i);
    assert.equal(verified, 3);
    assert.equal(c.broker!.counters.authFailures, 3);
    await assert.rejects(connect(c.brokerUrl, 'box-a', creds['box-a']!), /Server unavailable/i);
    assert.equal(verified, 3, 'a rate-limited login must not reach the password check');
    assert.equal(c.broker!.counters.loginsRateLimited, 1);
    const b = await connect(c.brokerUrl, 'box-b', creds['box-b']!);
    await b.endAsync(true);
  });

  it('per source address: 5 failures from one address (any names) refuse every further node login from it; the controller\'s own login is not limited', async function () {
    await assert.rejects(connect(c.brokerUrl, 'box-b', 'wrong'));
    await assert.rejects(connect(c.brokerUrl, 'no-such-box', 'wrong'));
    assert.equal(c.broker!.counters.authFailures, 5);
    const before = verified;
    await assert.rejects(connect(c.brokerUrl, 'box-c', creds['box-c']!), /Server unavailable/i);
    assert.equal(verified, before);
    assert.equal(c.broker!.counters.loginsRateLimited, 2);
    // The controller's client reconnects through the same limiter after a broker restart.
    await c.broker!.stop();
    await c.broker!.start();
    await new Promise<void>((resolve) => (c as unknown as { parts: { client: MqttClient } }).parts.client.once('connect', () => resolve()));
  });

  it('the refusals are metrics', async function () {
    const text = await (await fetch(`${c.restUrl}/metrics`)).text();
    assert.match(text, /seine_controller_broker_refusals_total\{reason="loginsRateLimited"\} 2/);
    assert.match(text, /seine_controller_broker_refusals_total\{reason="authFailures"\} 5/);
  });
});
